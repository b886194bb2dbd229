"""What a link to an original shows a link-preview client: a tiny page of Open Graph video tags,
so that Discord (and Twitter, Slack, Facebook, Telegram) play the original inline.

The page's `og:video` is the same signed MP4 URL with `raw=1` added: that request always gets
the file, whoever fetches it, so the media fetcher never depends on how it introduces itself
(`raw` is not signed; it only chooses between two answers the link gives anyway).

The page never carries the prompt: a link travels beyond the server it was made in, and
previews are cached and indexed by whoever unfurls them; the member's words stay in their card.
A result behind a spoiler (or one whose job cannot be read) gets a plain card without the video
or its poster: pasted anywhere, the link must not show what the reply hid.
"""

from __future__ import annotations

import html
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

RAW: Final = "raw"  # the query parameter that asks for the file whatever the headers say
TITLE: Final = "Video by video-bot"
HIDDEN: Final = "Behind a spoiler: open the link to watch it."
PREVIEW_AGENTS: Final = (
    "discordbot",
    "twitterbot",
    "slackbot",
    "facebookexternalhit",
    "telegrambot",
)
IMAGE_TYPES: Final = {".webp": "image/webp", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
PAGE_HEADERS: Final = {
    "Cache-Control": "private, max-age=300",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; media-src 'self'; img-src 'self'",
    "Referrer-Policy": "no-referrer",  # the page's own URL carries the signature
}

_SIZE = re.compile(r"(\d{1,5})x(\d{1,5})")
_MAX_BOXES = 512  # per level: a real MP4 has a handful; a hostile one does not get a long walk
_TKHD_READ = 128


def wants_page(headers: Mapping[str, str]) -> bool:
    """Whether a request for a link to an original should get the page rather than the file.

    A `Range` header is a player fetching bytes: the file. An `Accept` that ranks `text/html`
    above `video/mp4` (a browser opening the link) gets the page, and one that names a video
    type without preferring HTML gets the file. Otherwise the user agent decides: the known
    preview crawlers (Discordbot sends no `Accept` at all; others send `*/*`) get the page,
    everyone else the file, as before.
    """
    if "Range" in headers:
        return False
    accept = _media_ranges(headers.get("Accept", ""))
    if accept:
        if _quality(accept, "text/html") > _quality(accept, "video/mp4"):
            return True
        if any(media.startswith("video/") and q > 0 for media, q in accept):
            return False
    agent = headers.get("User-Agent", "").lower()
    return any(name in agent for name in PREVIEW_AGENTS)


def _media_ranges(accept: str) -> list[tuple[str, float]]:
    ranges = []
    for part in accept.split(","):
        media, *params = part.split(";")
        media = media.strip().lower()
        if not media:
            continue
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    q = 0.0
        ranges.append((media, q))
    return ranges


def _quality(ranges: list[tuple[str, float]], media_type: str) -> float:
    """The weight the most specific matching range gives `media_type` (RFC 9110 §12.5.1)."""
    major = media_type.partition("/")[0]
    precedence = {media_type: 2, f"{major}/*": 1, "*/*": 0}
    best, quality = -1, 0.0
    for media, q in ranges:
        rank = precedence.get(media, -1)
        if rank > best or (rank == best and q > quality):
            best, quality = rank, q
    return quality


def parse_size(size: str | None) -> tuple[int, int] | None:
    """(width, height) of a job's "1280x720" size, else None."""
    found = _SIZE.fullmatch(size.strip()) if size else None
    if found is None:
        return None
    width, height = int(found[1]), int(found[2])
    return (width, height) if width and height else None


def video_size(path: Path) -> tuple[int, int] | None:
    """The displayed size of an MP4's first visual track, from its `tkhd` box (a few seeks and
    reads, wherever `moov` is); None for anything unreadable."""
    try:
        with path.open("rb") as file:
            end = file.seek(0, 2)
            for kind, start, stop in _boxes(file, 0, end):
                if kind != b"moov":
                    continue
                for track, t_start, t_stop in _boxes(file, start, stop):
                    if track != b"trak":
                        continue
                    for header, h_start, h_stop in _boxes(file, t_start, t_stop):
                        if header == b"tkhd":
                            size = _track_size(file, h_start, h_stop)
                            if size is not None:
                                return size
                return None
    except (OSError, struct.error):
        return None
    return None


def _boxes(file: BinaryIO, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """The boxes between `start` and `end`: (type, payload start, payload end)."""
    found: list[tuple[bytes, int, int]] = []
    position = start
    while position + 8 <= end and len(found) < _MAX_BOXES:
        file.seek(position)
        size, kind = struct.unpack(">I4s", file.read(8))
        header = 8
        if size == 1:
            (size,) = struct.unpack(">Q", file.read(8))
            header = 16
        elif size == 0:  # to the end of the enclosing box
            size = end - position
        if size < header or position + size > end:
            break
        found.append((kind, position + header, position + size))
        position += size
    return found


def _track_size(file: BinaryIO, start: int, end: int) -> tuple[int, int] | None:
    file.seek(start)
    data = file.read(min(end - start, _TKHD_READ))
    if not data:
        return None
    # version and flags, then the times, track id and duration (64-bit times in version 1),
    # 16 bytes of reserved/layer/group/volume, the 3x3 matrix, width and height (16.16).
    matrix = 4 + (32 if data[0] == 1 else 20) + 16
    a, b, _, c, d = struct.unpack_from(">5i", data, matrix)
    width, height = struct.unpack_from(">II", data, matrix + 36)
    width, height = width >> 16, height >> 16
    if not width or not height:
        return None  # a sound track
    if a == 0 and d == 0 and b and c:
        return height, width  # turned a quarter: shown the other way round
    return width, height


@dataclass(frozen=True)
class Preview:
    """What the page shows. URLs are absolute for the tags; `src` and `poster` are relative
    to the page (same origin, for the CSP, whatever prefix the public URL has)."""

    page_url: str
    video_url: str
    src: str
    image_url: str | None = None
    image_type: str | None = None
    poster: str | None = None
    size: tuple[int, int] | None = None
    title: str = TITLE
    hidden: bool = False  # behind a spoiler: no video, no image in the tags, no poster


def render(preview: Preview) -> str:
    """The page: Open Graph and Twitter player tags, and a `<video>` for a browser."""
    if preview.hidden:
        return _page(
            preview,
            [
                ("property", "og:type", "website"),
                ("property", "og:title", preview.title),
                ("property", "og:description", HIDDEN),
                ("property", "og:url", preview.page_url),
            ],
            ['preload="none"', f'src="{html.escape(preview.src)}"'],
        )
    tags: list[tuple[str, str, str]] = [
        ("property", "og:type", "video.other"),
        ("property", "og:title", preview.title),
        ("property", "og:url", preview.page_url),
        ("property", "og:video", preview.video_url),
    ]
    secure = preview.video_url.startswith("https://")
    if secure:
        tags.append(("property", "og:video:secure_url", preview.video_url))
    tags.append(("property", "og:video:type", "video/mp4"))
    if preview.size is not None:
        tags.append(("property", "og:video:width", str(preview.size[0])))
        tags.append(("property", "og:video:height", str(preview.size[1])))
    if preview.image_url is not None:
        tags.append(("property", "og:image", preview.image_url))
        if preview.image_type is not None:
            tags.append(("property", "og:image:type", preview.image_type))
    if secure and preview.size is not None:
        # Twitter's player card wants an HTTPS page to frame (this one) and the stream.
        tags += [
            ("name", "twitter:card", "player"),
            ("name", "twitter:title", preview.title),
            ("name", "twitter:player", preview.page_url),
            ("name", "twitter:player:width", str(preview.size[0])),
            ("name", "twitter:player:height", str(preview.size[1])),
            ("name", "twitter:player:stream", preview.video_url),
            ("name", "twitter:player:stream:content_type", "video/mp4"),
        ]
        if preview.image_url is not None:
            tags.append(("name", "twitter:image", preview.image_url))
    e = html.escape
    video = ['preload="metadata"', f'src="{e(preview.src)}"']
    if preview.poster is not None:
        video.append(f'poster="{e(preview.poster)}"')
    if preview.size is not None:
        video.append(f'width="{preview.size[0]}" height="{preview.size[1]}"')
    return _page(preview, tags, video)


def _page(preview: Preview, tags: list[tuple[str, str, str]], video: list[str]) -> str:
    e = html.escape
    meta = "\n".join(f'<meta {attr}="{e(key)}" content="{e(value)}">' for attr, key, value in tags)
    return (
        "<!doctype html>\n"
        '<html><head><meta charset="utf-8">\n'
        '<meta name="robots" content="noindex">\n'
        '<meta name="viewport" content="width=device-width">\n'
        f"<title>{e(preview.title)}</title>\n"
        f"{meta}\n"
        "</head><body>\n"
        f"<video controls playsinline {' '.join(video)}></video>\n"
        "</body></html>\n"
    )
