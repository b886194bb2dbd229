"""The fake's CDN: attachment URLs signed and expiring as Discord's are.

Discord hands out attachment URLs of the form
``https://cdn.discordapp.com/attachments/<channel>/<id>/<name>?ex=<hex>&is=<hex>&hm=<hex>&``:
``is`` is when the signature was issued and ``ex`` when it expires (Unix seconds in hex, 24 h
apart), ``hm`` an HMAC-SHA256 over them. An expired, tampered or unsigned URL answers 404
"This content is no longer available."; fetching the message (or receiving it in a new
interaction) again gives a freshly signed URL.

The fake does the same on ``fake.clock`` (so ``fake.advance(24 * 3600)`` expires every URL)
with its own key: ``FakeAttachment.url`` is the current signed URL, re-issued once the last
one expired or was revoked (``FakeDiscord.expire_attachment`` bumps the attachment's
``generation``, which every earlier signature covers).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .clock import FakeClock
    from .records import FakeAttachment

URL_LIFETIME = 24 * 3600  # seconds from issue to expiry of a signed attachment URL
GONE = "This content is no longer available."


@dataclass(frozen=True)
class _Issued:
    path: str
    generation: int
    issued: int
    expires: int
    query: str


@dataclass
class CdnRequest:
    """One request to the fake's CDN, with the answer it got."""

    method: str
    path: str  # decoded, as aiohttp gives it (the route of ``cdn_requests``)
    query: dict[str, str]
    at: float  # fake clock
    status: int = 0
    reason: str | None = None  # why a 404: "unknown", "unsigned", "bad signature", "expired"


class UrlSigner:
    """Issues and checks the ``ex`` / ``is`` / ``hm`` query of attachment URLs."""

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self._key = secrets.token_bytes(32)
        self._issued: dict[int, _Issued] = {}

    def signed_url(self, attachment: FakeAttachment) -> str:
        """The attachment's current signed URL (issued anew once the last one is dead)."""
        now = int(self._clock.wall())
        current = self._issued.get(attachment.id)
        if (
            current is None
            or current.path != attachment.path  # moved into a message (post_user_message)
            or current.generation != attachment.generation
            or current.expires <= now
        ):
            expires = now + URL_LIFETIME
            mac = self._mac(attachment, attachment.generation, now, expires)
            query = f"ex={expires:x}&is={now:x}&hm={mac}&"
            current = _Issued(attachment.path, attachment.generation, now, expires, query)
            self._issued[attachment.id] = current
        return f"{attachment.base_url}?{current.query}"

    def expires_at(self, attachment: FakeAttachment) -> float:
        """Unix time (fake clock) at which the URL ``signed_url`` gives now stops working."""
        self.signed_url(attachment)
        return float(self._issued[attachment.id].expires)

    def refusal(self, attachment: FakeAttachment, query: Mapping[str, str]) -> str | None:
        """Why the CDN refuses this query for ``attachment`` (None: it serves it)."""
        ex, issued, mac = query.get("ex"), query.get("is"), query.get("hm")
        if not ex or not issued or not mac:
            return "unsigned"
        try:
            expires, since = int(ex, 16), int(issued, 16)
        except ValueError:
            return "bad signature"
        expected = self._mac(attachment, attachment.generation, since, expires)
        if not hmac.compare_digest(expected, mac):
            return "bad signature"  # tampered with, or revoked by expire_attachment
        if expires <= self._clock.wall():
            return "expired"
        return None

    def _mac(self, attachment: FakeAttachment, generation: int, issued: int, expires: int) -> str:
        message = f"{attachment.id}\n{attachment.path}\n{generation}\n{issued}\n{expires}"
        return hmac.new(self._key, message.encode(), hashlib.sha256).hexdigest()


def image_size(data: bytes, content_type: str | None) -> tuple[int | None, int | None]:
    """Width and height Discord reports for an image upload (None, None for anything else)."""
    if not (content_type or "").startswith("image/"):
        return None, None
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:  # pragma: no cover - pillow is a dependency of the project
        return None, None
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError, ValueError):
        return None, None  # not decodable: Discord leaves the dimensions out too
    return int(width), int(height)
