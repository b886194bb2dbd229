"""Signed, expiring links: an HMAC over a path and an expiry, carried in the query string.

The service signs them (links to originals, reference images for providers); the web server
(bot/http/server.py) serves the paths and checks the signatures.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Literal
from urllib.parse import urlencode

SECRET_FILENAME = "link-secret"  # noqa: S105 - a file name, not a secret
SECRET_BYTES = 32

Verdict = Literal["ok", "expired", "tampered"]


class LinkSigner:
    """Signs `path` + expiry with HMAC-SHA256, and checks such signatures in constant time."""

    def __init__(self, secret: bytes) -> None:
        if not secret:
            raise ValueError("a link secret must not be empty")
        self._secret = secret

    def _signature(self, path: str, exp: int) -> str:
        mac = hmac.new(self._secret, f"{path}\n{exp}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")

    def sign(self, path: str, expires_at: int) -> str:
        """The query string (no leading '?') that makes `path` valid until `expires_at`."""
        return urlencode({"exp": int(expires_at), "sig": self._signature(path, int(expires_at))})

    def check(self, path: str, exp: str | int | None, sig: str | None, now: float) -> Verdict:
        """'tampered' unless the signature matches; then 'expired' once `now` passes `exp`."""
        if exp is None or sig is None:
            return "tampered"
        try:
            expires_at = int(exp)
        except ValueError:
            return "tampered"
        if str(expires_at) != str(exp).strip():
            # "0100" or "+100" would parse to a signed value yet is not what was signed.
            return "tampered"
        expected = self._signature(path, expires_at).encode("ascii")
        if not hmac.compare_digest(expected, sig.encode("utf-8", "replace")):
            return "tampered"
        return "expired" if now >= expires_at else "ok"


def load_or_create_secret(data_dir: Path, configured: str | None) -> bytes:
    """The configured secret (VIDEO_BOT_LINK_SECRET), else the one kept in data_dir/link-secret.

    The file is created on first use with 32 random bytes and mode 0600, and reused after.
    """
    if configured is not None and configured.strip():
        return configured.encode("utf-8")
    path = data_dir / SECRET_FILENAME
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_bytes()
        if len(secret) < SECRET_BYTES // 2:
            raise ValueError(
                f"{path} holds {len(secret)} bytes, too few for a link secret; "
                "delete it to have a new one made (outstanding links stop working)"
            ) from None
        return secret
    secret = secrets.token_bytes(SECRET_BYTES)
    with os.fdopen(fd, "wb") as handle:
        handle.write(secret)
        handle.flush()
        os.fsync(handle.fileno())
    return secret


def video_path(job_id: str) -> str:
    """The path a video link signs and serves, independent of any public URL prefix."""
    return f"/v/{job_id}.mp4"


def reference_path(job_id: str) -> str:
    """The path a reference image link signs and serves."""
    return f"/r/{job_id}.jpg"


def thumbnail_path(job_id: str) -> str:
    """The path a thumbnail link signs: one signature whichever format the thumbnail is in
    (the URL ends in `.webp` or `.jpg`, the file's own)."""
    return f"/t/{job_id}"


def thumbnail_link_for(
    public_url: str, signer: LinkSigner, job_id: str, expires_at: int, suffix: str
) -> str:
    """The full signed URL of a job's thumbnail, e.g. https://host/t/abc.webp?exp=...&sig=..."""
    query = signer.sign(thumbnail_path(job_id), expires_at)
    return f"{public_url.rstrip('/')}{thumbnail_path(job_id)}{suffix}?{query}"


def reference_link_for(public_url: str, signer: LinkSigner, job_id: str, expires_at: int) -> str:
    """The full signed URL of a job's fitted reference image (JPEG)."""
    path = reference_path(job_id)
    return f"{public_url.rstrip('/')}{path}?{signer.sign(path, expires_at)}"


def link_for(public_url: str, signer: LinkSigner, job_id: str, expires_at: int) -> str:
    """The full signed URL of a job's video, e.g. https://host/v/abc.mp4?exp=...&sig=..."""
    path = video_path(job_id)
    return f"{public_url.rstrip('/')}{path}?{signer.sign(path, expires_at)}"
