"""Raw HTTP helpers for the fake server's tests (deliberately not the project's client)."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import quote

import aiohttp
from PIL import Image

from bot.fake_api import FakeVideosServer


def video_url(fake: FakeVideosServer, video_id: str, suffix: str = "") -> str:
    """URL of a video, its id percent-encoded as a client must."""
    return f"{fake.base_url}/videos/{quote(video_id, safe='')}{suffix}"


def multipart(**fields: Any) -> aiohttp.FormData:
    """A multipart/form-data body; bytes values become file parts."""
    form = aiohttp.FormData(default_to_multipart=True)
    for name, value in fields.items():
        if isinstance(value, tuple):
            filename, data, content_type = value
            form.add_field(name, data, filename=filename, content_type=content_type)
        else:
            form.add_field(name, str(value))
    return form


def png(width: int, height: int) -> bytes:
    """A solid PNG of the given size."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), (30, 120, 200)).save(out, format="PNG")
    return out.getvalue()


OPENROUTER_MODEL = "openai/sora-2"


async def create(
    http: aiohttp.ClientSession, fake: FakeVideosServer, prompt: str = "a calm sea", **fields: Any
) -> tuple[int, Any]:
    """POST /videos as multipart (every OpenAI-protocol dialect accepts it), or for OpenRouter
    as JSON with OPENROUTER_MODEL unless `model` is given; returns status and JSON."""
    if fake.settings.dialect == "openrouter":
        body = {"model": OPENROUTER_MODEL, "prompt": prompt, **fields}
        async with http.post(f"{fake.base_url}/videos", json=body) as r:
            return r.status, await r.json(content_type=None)
    async with http.post(f"{fake.base_url}/videos", data=multipart(prompt=prompt, **fields)) as r:
        return r.status, await r.json(content_type=None)


async def create_json(
    http: aiohttp.ClientSession, fake: FakeVideosServer, body: Any
) -> tuple[int, Any]:
    """POST /videos with a JSON body."""
    async with http.post(f"{fake.base_url}/videos", json=body) as r:
        return r.status, await r.json(content_type=None)


async def get_json(http: aiohttp.ClientSession, url: str, **kwargs: Any) -> tuple[int, Any]:
    """GET a URL; returns status and the JSON body (None if it is not JSON)."""
    async with http.get(url, **kwargs) as r:
        text = await r.text()
        try:
            return r.status, await r.json(content_type=None)
        except ValueError:
            return r.status, text


async def retrieve(
    http: aiohttp.ClientSession, fake: FakeVideosServer, video_id: str
) -> tuple[int, Any]:
    """GET /videos/{video_id}."""
    return await get_json(http, video_url(fake, video_id))
