"""Links to originals that play inline: a link-preview client (Discordbot, a browser opening
the link) gets a small page of Open Graph video tags, a player or any other client gets the
file as before; the poster is the job's thumbnail behind its own signed link. Over the wire,
with the real bot and its web server."""

from __future__ import annotations

import struct
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import aiohttp
import pytest
from sqlalchemy import update

from bot.fake_api.media import asset
from bot.http.preview import HIDDEN, Preview, parse_size, render, video_size, wants_page
from bot.service.links import link_for, thumbnail_link_for
from bot.store.schema import jobs
from tests.discord_adapter.harness import Harness, running_harness
from tests.discord_adapter.test_delivery import link_button
from tests.discord_adapter.test_video_command import finished

DISCORDBOT = "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)"
CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"
CHROME_PAGE = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)
FIREFOX_MEDIA = "video/webm,video/ogg,video/*;q=0.9,application/ogg;q=0.7,audio/*;q=0.6,*/*;q=0.5"
CURL = {"User-Agent": "curl/8.5.0", "Accept": "*/*"}
PROMPT = "a kite over the <b>dunes</b> [duration=1]"


class Page(HTMLParser):
    """The tags of a preview page, as a real HTML parser reads them."""

    def __init__(self) -> None:
        super().__init__()
        self.meta: dict[str, list[str]] = {}
        self.video: dict[str, str | None] = {}
        self.elements: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append(tag)
        values = dict(attrs)
        if tag == "meta":
            key = values.get("property") or values.get("name")
            if key and values.get("content") is not None:
                self.meta.setdefault(key, []).append(str(values["content"]))
        elif tag == "video":
            self.video = values

    def one(self, key: str) -> str:
        assert len(self.meta.get(key, [])) == 1, (key, self.meta)
        return self.meta[key][0]


def parse(text: str) -> Page:
    page = Page()
    page.feed(text)
    page.close()
    return page


@dataclass
class Shared:
    h: Harness
    link: str
    job_id: str
    thumbnail: Path


@pytest.fixture
async def shared(tmp_path: Path, unused_tcp_port: int) -> AsyncIterator[Shared]:
    """A delivered job and the link its reply carries (the public URL is the server's own)."""
    base = f"http://127.0.0.1:{unused_tcp_port}"
    async with running_harness(tmp_path, web_port=unused_tcp_port, public_url=base) as h:
        it = await h.video(PROMPT)
        link = str(link_button(await it.wait_for(finished, timeout=30))["url"])
        record = await h.final_record()
        thumbnail = h.bot.service.thumbnail_file(record.id)
        assert thumbnail is not None
        yield Shared(h, link, record.id, thumbnail)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    # No default headers of aiohttp's own but the ones each request names.
    async with aiohttp.ClientSession(skip_auto_headers=["User-Agent", "Accept"]) as session:
        yield session


def tampered(url: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query["sig"] = query["sig"][:-1] + ("A" if query["sig"][-1] != "A" else "B")
    return parts._replace(query=urlencode(query)).geturl()


async def test_discordbot_gets_a_page_that_plays_the_original_inline(
    shared: Shared, http: aiohttp.ClientSession
) -> None:
    original = shared.h.videos.asset_bytes()
    async with http.get(shared.link, headers={"User-Agent": DISCORDBOT}) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
        assert resp.headers["Cache-Control"] == "private, max-age=300"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Content-Security-Policy"] == (
            "default-src 'none'; media-src 'self'; img-src 'self'"
        )
        assert resp.headers["Vary"] == "Accept, User-Agent"
        text = await resp.text()
    assert len(text) < 4096
    page = parse(text)
    assert page.one("og:type") == "video.other"
    assert page.one("og:title") == "Video by video-bot"
    assert "kite" not in text  # the member's prompt stays in their server
    assert page.one("og:url") == shared.link
    video_url = page.one("og:video")
    assert video_url == shared.link + "&raw=1"
    assert "og:video:secure_url" not in page.meta  # the public URL is http
    assert "twitter:card" not in page.meta  # Twitter's player card wants HTTPS
    assert page.one("og:video:type") == "video/mp4"
    # The size the file says (the fake's asset), not the size the job asked for.
    assert (page.one("og:video:width"), page.one("og:video:height")) == ("320", "180")
    image_url = page.one("og:image")
    assert image_url.startswith(f"{shared.h.bot.settings.public_url}/t/{shared.job_id}.webp?exp=")
    assert page.one("og:image:type") == "image/webp"
    assert "script" not in page.elements

    # Discord's media fetcher, as Discordbot too, with or without a Range: the bytes.
    fetcher = {"User-Agent": DISCORDBOT, "Range": "bytes=0-99"}
    async with http.get(video_url, headers=fetcher) as resp:
        assert resp.status == 206
        assert resp.headers["Content-Type"] == "video/mp4"
        assert await resp.read() == original[:100]
    async with http.get(video_url, headers={"User-Agent": DISCORDBOT}) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "video/mp4"
        assert await resp.read() == original

    # The poster: the job's thumbnail, a real image.
    async with http.get(image_url, headers={"User-Agent": DISCORDBOT}) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "image/webp"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        data = await resp.read()
    assert data[:4] == b"RIFF"
    assert data[8:12] == b"WEBP"
    assert data == shared.thumbnail.read_bytes()

    # A person opening the page in a browser: the <video> and its poster, same origin.
    assert urljoin(shared.link, str(page.video["src"])) == video_url
    assert urljoin(shared.link, str(page.video["poster"])) == image_url
    assert "controls" in page.video


async def test_a_browser_gets_the_page_and_its_player_the_bytes(
    shared: Shared, http: aiohttp.ClientSession
) -> None:
    original = shared.h.videos.asset_bytes()
    navigation = {"User-Agent": CHROME, "Accept": CHROME_PAGE}
    async with http.get(shared.link, headers=navigation) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/html")
        src = urljoin(shared.link, str(parse(await resp.text()).video["src"]))
    # Chrome's media element asks with */* and a Range; Firefox names video types.
    for accept in ("*/*", FIREFOX_MEDIA):
        player = {"User-Agent": CHROME, "Accept": accept, "Range": "bytes=0-"}
        for url in (src, shared.link):
            async with http.get(url, headers=player) as resp:
                assert resp.status == 206
                assert resp.headers["Content-Type"] == "video/mp4"
                assert await resp.read() == original


async def test_any_other_client_gets_the_file_as_before(
    shared: Shared, http: aiohttp.ClientSession
) -> None:
    original = shared.h.videos.asset_bytes()
    async with http.get(shared.link, headers=CURL) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "video/mp4"
        assert resp.headers["Cache-Control"] == "private, max-age=3600"
        etag = resp.headers["ETag"]
        assert await resp.read() == original
    async with http.get(shared.link, headers={**CURL, "Range": "bytes=10-99"}) as resp:
        assert resp.status == 206
        assert resp.headers["Content-Range"] == f"bytes 10-99/{len(original)}"
        assert await resp.read() == original[10:100]
    async with http.get(shared.link, headers={**CURL, "If-None-Match": etag}) as resp:
        assert resp.status == 304
    async with http.head(shared.link, headers=CURL) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "video/mp4"
        assert resp.headers["Content-Length"] == str(len(original))
    async with http.get(shared.link) as resp:  # no User-Agent, no Accept
        assert resp.headers["Content-Type"] == "video/mp4"
    # Discordbot asking for a video, or for a range, is a player too.
    for headers in ({"Accept": "video/*"}, {"Range": "bytes=0-9"}):
        async with http.get(shared.link, headers={"User-Agent": DISCORDBOT, **headers}) as resp:
            assert resp.status in (200, 206)
            assert resp.headers["Content-Type"] == "video/mp4"
    # The other crawlers send */*: they get the page, and HEAD answers its headers.
    for agent in ("facebookexternalhit/1.1", "Slackbot-LinkExpanding 1.0", "TelegramBot"):
        async with http.get(shared.link, headers={"User-Agent": agent, "Accept": "*/*"}) as resp:
            assert resp.headers["Content-Type"].startswith("text/html"), agent
    async with http.head(shared.link, headers={"User-Agent": DISCORDBOT}) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/html")
        assert await resp.read() == b""


async def test_tampered_and_expired_links_are_refused_for_page_video_and_thumbnail(
    shared: Shared, http: aiohttp.ClientSession
) -> None:
    async with http.get(shared.link, headers={"User-Agent": DISCORDBOT}) as resp:
        page = parse(await resp.text())
    video_url, image_url = page.one("og:video"), page.one("og:image")
    bot = {"User-Agent": DISCORDBOT}
    for url in (shared.link, video_url, image_url):
        async with http.get(tampered(url), headers=bot) as resp:
            assert resp.status == 403, url
            assert "not valid" in await resp.text()
    # A video's signature does not open the thumbnail, nor another job's.
    video_query = urlsplit(shared.link).query
    other = f"{shared.h.bot.settings.public_url}/t/{'0' * 16}.webp"
    for url in (f"{image_url.split('?')[0]}?{video_query}", f"{other}?{urlsplit(image_url).query}"):
        async with http.get(url, headers=bot) as resp:
            assert resp.status == 403, url

    signer = shared.h.bot.service.link_signer
    public_url = shared.h.bot.settings.public_url
    assert signer is not None
    assert public_url is not None
    past = int(time.time()) - 1
    expired_link = link_for(public_url, signer, shared.job_id, past)
    expired = (
        expired_link,
        expired_link + "&raw=1",
        thumbnail_link_for(public_url, signer, shared.job_id, past, ".webp"),
    )
    for url in expired:
        async with http.get(url, headers=bot) as resp:
            assert resp.status == 403, url
            assert "expired" in await resp.text()


async def test_a_job_without_a_thumbnail_has_no_image(
    shared: Shared, http: aiohttp.ClientSession
) -> None:
    async with http.get(shared.link, headers={"User-Agent": DISCORDBOT}) as resp:
        image_url = parse(await resp.text()).one("og:image")
    shared.thumbnail.unlink()
    async with http.get(shared.link, headers={"User-Agent": DISCORDBOT}) as resp:
        assert resp.status == 200
        page = parse(await resp.text())
    assert "og:image" not in page.meta
    assert "poster" not in page.video
    assert page.one("og:video") == shared.link + "&raw=1"
    async with http.get(image_url) as resp:
        assert resp.status == 410


async def test_a_result_behind_a_spoiler_is_not_unfurled(
    shared: Shared, http: aiohttp.ClientSession
) -> None:
    """Pasted anywhere, the link must not show what the reply hid: a plain card, no media."""
    async with shared.h.bot.service.engine.database.write() as conn:
        await conn.execute(update(jobs).where(jobs.c.id == shared.job_id).values(spoiler="server"))
    async with http.get(shared.link, headers={"User-Agent": DISCORDBOT}) as resp:
        assert resp.status == 200
        text = await resp.text()
    page = parse(text)
    assert page.one("og:type") == "website"
    assert page.one("og:description") == HIDDEN
    assert not [key for key in page.meta if key.startswith(("og:video", "og:image", "twitter:"))]
    assert "thumb" not in text
    assert "/t/" not in text
    assert "poster" not in page.video
    # Who opens it on purpose can still watch it.
    assert urljoin(shared.link, str(page.video["src"])) == shared.link + "&raw=1"


# -- the rule and the page, without the bot ------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "page"),
    [
        ({"User-Agent": DISCORDBOT}, True),  # Discordbot sends no Accept
        ({"User-Agent": DISCORDBOT, "Accept": "*/*"}, True),
        ({"User-Agent": DISCORDBOT, "Accept": "text/html"}, True),
        ({"User-Agent": "Twitterbot/1.0", "Accept": "*/*"}, True),
        ({"User-Agent": DISCORDBOT, "Accept": "video/*"}, False),
        ({"User-Agent": DISCORDBOT, "Accept": "video/mp4, text/html;q=0.5"}, False),
        ({"User-Agent": DISCORDBOT, "Range": "bytes=0-"}, False),
        ({"User-Agent": CHROME, "Accept": CHROME_PAGE}, True),
        ({"User-Agent": CHROME, "Accept": CHROME_PAGE, "Range": "bytes=0-"}, False),
        ({"User-Agent": CHROME, "Accept": "*/*"}, False),
        ({"User-Agent": CHROME, "Accept": FIREFOX_MEDIA}, False),
        ({"User-Agent": CHROME, "Accept": "text/html;q=0.1, video/mp4"}, False),
        ({"User-Agent": CHROME, "Accept": "text/html, video/*;q=0.9"}, True),
        ({"User-Agent": CHROME, "Accept": "text/*, */*;q=0.5"}, True),
        ({"User-Agent": CHROME, "Accept": "text/html;q=oops"}, False),
        (CURL, False),
        ({"User-Agent": "python-requests/2.32"}, False),
        ({}, False),
    ],
)
def test_who_gets_the_page(headers: dict[str, str], page: bool) -> None:
    assert wants_page(headers) is page


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def tkhd(width: int, height: int, *, version: int = 0, turned: bool = False) -> bytes:
    times = bytes(32 if version == 1 else 20)
    a, b, c, d = (0, 1 << 16, -(1 << 16), 0) if turned else (1 << 16, 0, 0, 1 << 16)
    matrix = struct.pack(">9i", a, b, 0, c, d, 0, 0, 0, 1 << 30)
    size = struct.pack(">II", width << 16, height << 16)
    return box(b"tkhd", bytes([version, 0, 0, 3]) + times + bytes(16) + matrix + size)


def test_the_size_comes_from_the_first_visual_track(tmp_path: Path) -> None:
    path = tmp_path / "a.mp4"
    path.write_bytes(asset("video"))
    assert video_size(path) == (320, 180)
    # moov after mdat, a sound track first, a 64-bit tkhd turned a quarter (a phone's video).
    sound, picture = (
        box(b"trak", tkhd(0, 0)),
        box(b"trak", tkhd(1920, 1080, version=1, turned=True)),
    )
    path.write_bytes(
        box(b"ftyp", b"isom") + box(b"mdat", bytes(1000)) + box(b"moov", sound + picture)
    )
    assert video_size(path) == (1080, 1920)
    for broken in (b"", b"\x00\x00\x00\x09moov", box(b"moov", box(b"trak", box(b"tkhd", b"")))):
        path.write_bytes(broken)
        assert video_size(path) is None
    assert video_size(tmp_path / "missing.mp4") is None


def test_the_requested_size_is_parsed_only_when_it_is_one() -> None:
    assert parse_size("1280x720") == (1280, 720)
    assert parse_size("720p") is None
    assert parse_size("0x720") is None
    assert parse_size(None) is None


def test_an_https_page_has_secure_url_and_a_twitter_player_and_escapes_everything() -> None:
    hostile = 'https://v.example/v/a.mp4?exp=1&sig="><script>alert(1)</script>'
    page_text = render(
        Preview(
            page_url=hostile,
            video_url=hostile + "&raw=1",
            src="./a.mp4?exp=1&sig=x&raw=1",
            image_url="https://v.example/t/a.jpg?exp=1&sig=y",
            image_type="image/jpeg",
            poster="../t/a.jpg?exp=1&sig=y",
            size=(1280, 720),
            title='<b>"Title"</b>',
        )
    )
    page = parse(page_text)
    assert "script" not in page.elements
    assert "b" not in page.elements
    assert page.one("og:title") == '<b>"Title"</b>'
    assert page.one("og:video") == page.one("og:video:secure_url") == hostile + "&raw=1"
    assert page.one("twitter:card") == "player"
    assert page.one("twitter:player") == hostile
    assert page.one("twitter:player:stream") == hostile + "&raw=1"
    assert page.one("twitter:player:width") == "1280"
    assert page.one("og:image:type") == "image/jpeg"
    assert page.video["src"] == "./a.mp4?exp=1&sig=x&raw=1"
