"""Checks of the fields a key's owner names things with: the names of keys and endpoints, and
webhook URLs. Each returns the value normalised, or raises ValueError with one line saying
what is wrong (shown to the operator's terminal and, as a sentence, to scripts)."""

from __future__ import annotations

from urllib.parse import urlsplit

MAX_NAME = 100
MAX_URL = 2000


def check_name(name: object) -> str:
    """A name trimmed: 1 to MAX_NAME printable characters."""
    if not isinstance(name, str):
        raise ValueError("the name must be text")  # noqa: TRY004 - one error type for callers
    name = name.strip()
    if not 1 <= len(name) <= MAX_NAME:
        raise ValueError(f"the name must be 1 to {MAX_NAME} characters")
    if any(not ch.isprintable() for ch in name):
        raise ValueError("the name must not contain control characters")
    return name


def check_webhook_url(url: object) -> str:
    """An http(s) URL naming a host. Where the host is (a private address?) is the sender's
    to judge: it resolves the name."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL:
        raise ValueError(f"the webhook URL must be an http(s) URL of at most {MAX_URL} characters")
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise ValueError("the webhook URL must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises on a port that is not a number or out of range
    except ValueError:
        raise ValueError("the webhook URL is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError("the webhook URL must start with http:// or https:// and name a host")
    return url
