"""The team API's reading of what a script sends, at the wire: numbers (ASCII digits only,
bounded), nesting, sizes, `metadata`, and stuck Idempotency-Keys. Every refusal is the OpenAI
error envelope with a JSON content type, never a 500 or a plain-text page."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest

from bot.http.team_requests import CreateFields
from bot.media.images import MAX_REFERENCE_BYTES
from bot.store import Database, IdempotencyStore
from bot.store.api_keys import STALE_CLAIM_AFTER
from tests.discord_adapter.harness import Harness, running_harness

PROMPT = "a quick one [duration=1]"


@dataclass
class Api:
    h: Harness
    secret: str
    base_url: str
    http: aiohttp.ClientSession

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"}

    def client(self) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            api_key=self.secret, base_url=f"{self.base_url}/v1", max_retries=0
        )

    async def call(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> tuple[int, dict[str, Any]]:
        """The status and the envelope's `error` of a refused request (checked to be one)."""
        async with self.http.request(
            method, f"{self.base_url}{path}", headers={**self.auth, **(headers or {})}, **kwargs
        ) as response:
            text = await response.text()
            assert response.content_type == "application/json", (response.status, text[:200])
            body = json.loads(text)
        return response.status, body

    async def refused(self, method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        status, body = await self.call(method, path, **kwargs)
        assert status >= 400, body
        assert set(body) == {"error"}, body
        error = body["error"]
        assert set(error) == {"message", "type", "param", "code"}, error
        assert isinstance(error["message"], str)
        assert error["message"]
        return status, error

    async def videos(self) -> list[str]:
        status, body = await self.call("GET", "/v1/videos")
        assert status == 200
        return [v["id"] for v in body["data"]]

    async def finished_video(self) -> str:
        client = self.client()
        video = await client.videos.create_and_poll(prompt=PROMPT, poll_interval_ms=100)
        await client.close()
        assert video.status == "completed"
        return video.id


def database_of(h: Harness) -> Database:
    """The bot's own database (for what no request can do: a claim left by a dead process)."""
    return h.bot.service.engine.database


@pytest.fixture
async def api(tmp_path: Path, unused_tcp_port: int) -> AsyncIterator[Api]:
    async with running_harness(tmp_path, web_port=unused_tcp_port) as h:
        _, secret = await h.bot.service.keys.create(
            name="ci", guild_id=h.guild.id, channels=[h.channel.id]
        )
        async with aiohttp.ClientSession() as http:
            yield Api(h, secret, f"http://127.0.0.1:{unused_tcp_port}", http)


def multipart(*parts: tuple[str, bytes], extra_headers: str = "") -> tuple[bytes, str]:
    """A multipart/form-data body of text parts, and its Content-Type."""
    boundary = "----video-bot-test"
    head = '--{}\r\nContent-Disposition: form-data; name="{}"\r\n{}\r\n'
    body = b"".join(
        head.format(boundary, name, extra_headers).encode() + value + b"\r\n"
        for name, value in parts
    )
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def chunked_multipart(name: str, size: int, *, filename: str | None = None) -> Iterator[bytes]:
    """One part of `size` bytes in a body sent chunked (no Content-Length to refuse it by)."""
    boundary = "----video-bot-test"
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="prompt"\r\n\r\n{PROMPT}\r\n'
        f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    chunk = b"a" * (1024 * 1024)
    for _ in range(size // len(chunk)):
        yield chunk
    yield f"\r\n--{boundary}--\r\n".encode()


async def stream(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


CHUNKED_TYPE = "multipart/form-data; boundary=----video-bot-test"

# -- 1, 2: numbers are ASCII digits, and bounded --------------------------------------------------

NOT_ASCII_NUMBERS = ["²", "٨", "\uff18", "4²", "+4", " 4", "4 ", "1_0", "-4", "4.0", "0x4", "4\n"]


@pytest.mark.parametrize("seconds", [*NOT_ASCII_NUMBERS, "9" * 5000])
async def test_seconds_must_be_ascii_digits(api: Api, seconds: str) -> None:
    status, error = await api.refused(
        "POST", "/v1/videos", json={"prompt": PROMPT, "seconds": seconds}
    )
    assert (status, error["param"]) == (400, "seconds")
    body, content_type = multipart(("prompt", PROMPT.encode()), ("seconds", seconds.encode()))
    status, error = await api.refused(
        "POST", "/v1/videos", data=body, headers={"Content-Type": content_type}
    )
    assert (status, error["param"]) == (400, "seconds")
    assert await api.videos() == []


async def test_seconds_through_the_sdk_superscript_and_arabic_indic(api: Api) -> None:
    client = api.client()
    for seconds in ("²", "٨"):
        with pytest.raises(openai.BadRequestError) as refused:
            await client.videos.create(prompt=PROMPT, seconds=seconds)  # type: ignore[arg-type]
        assert refused.value.param == "seconds"
    await client.close()
    assert await api.videos() == []


async def test_an_extensions_seconds_must_be_ascii_digits(api: Api) -> None:
    video_id = await api.finished_video()
    for seconds in ("²", "٨", "9" * 5000):
        status, error = await api.refused(
            "POST",
            "/v1/videos/extensions",
            json={"video": {"id": video_id}, "prompt": "longer", "seconds": seconds},
        )
        assert (status, error["param"]) == (400, "seconds")
    assert await api.videos() == [video_id]


@pytest.mark.parametrize("limit", [*NOT_ASCII_NUMBERS, "9" * 5000])
async def test_a_list_limit_must_be_ascii_digits(api: Api, limit: str) -> None:
    status, error = await api.refused("GET", "/v1/videos", params={"limit": limit})
    assert (status, error["param"]) == (400, "limit")


async def test_a_list_limit_of_ascii_digits_is_kept_in_bounds(api: Api) -> None:
    for limit in ("1", "0", "100", "1000", "007"):
        status, body = await api.call("GET", "/v1/videos", params={"limit": limit})
        assert status == 200, body


@pytest.mark.parametrize("channel", [*NOT_ASCII_NUMBERS, "1" * 21, "1" * 5000])
async def test_a_channel_id_is_at_most_20_ascii_digits(api: Api, channel: str) -> None:
    status, error = await api.refused(
        "POST", "/v1/videos", json={"prompt": PROMPT, "discord_channel_id": channel}
    )
    assert (status, error["param"]) == (400, "discord_channel_id")
    body, content_type = multipart(
        ("prompt", PROMPT.encode()), ("discord_channel_id", channel.encode())
    )
    status, error = await api.refused(
        "POST", "/v1/videos", data=body, headers={"Content-Type": content_type}
    )
    assert (status, error["param"]) == (400, "discord_channel_id")
    assert await api.videos() == []


async def test_a_follow_ups_channel_id_is_at_most_20_ascii_digits(api: Api) -> None:
    video_id = await api.finished_video()
    for channel in ("²", "٨", "1" * 21, "1" * 5000):
        status, error = await api.refused(
            "POST",
            f"/v1/videos/{video_id}/remix",
            json={"prompt": "again", "discord_channel_id": channel},
        )
        assert (status, error["param"]) == (400, "discord_channel_id")
    assert await api.videos() == [video_id]


async def test_a_20_digit_channel_id_is_read_and_checked_against_the_key(api: Api) -> None:
    status, error = await api.refused(
        "POST", "/v1/videos", json={"prompt": PROMPT, "discord_channel_id": "9" * 20}
    )
    assert (status, error["code"]) == (403, "channel_not_allowed")
    status, body = await api.call(
        "POST", "/v1/videos", json={"prompt": PROMPT, "discord_channel_id": str(api.h.channel.id)}
    )
    assert status == 200, body


# -- 3: nesting -----------------------------------------------------------------------------------

DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    "body",
    [
        DEEP,
        '{"prompt": "x", "metadata": {"k": ' + DEEP + "}}",
        '{"prompt": "x", "input_reference": ' + '{"a": ' * 50_000 + "1" + "}" * 50_001,
    ],
    ids=["array", "in-metadata", "objects"],
)
async def test_deeply_nested_json_is_a_400(api: Api, body: str) -> None:
    headers = {"Content-Type": "application/json"}
    status, _ = await api.refused("POST", "/v1/videos", data=body, headers=headers)
    assert status == 400
    video_id = await api.finished_video()
    for path in (f"/v1/videos/{video_id}/remix", "/v1/videos/extensions"):
        status, _ = await api.refused("POST", path, data=body, headers=headers)
        assert status == 400


@pytest.mark.parametrize("name", ["metadata", "input_reference"])
async def test_a_deeply_nested_json_form_field_is_a_400(api: Api, name: str) -> None:
    body, content_type = multipart(("prompt", PROMPT.encode()), (name, DEEP.encode()))
    status, error = await api.refused(
        "POST", "/v1/videos", data=body, headers={"Content-Type": content_type}
    )
    assert (status, error["param"]) == (400, name)
    assert await api.videos() == []


# -- 4: sizes, and every error in the envelope ---------------------------------------------------


async def test_an_oversized_file_part_sent_chunked_is_a_413_in_the_envelope(api: Api) -> None:
    chunks = chunked_multipart("input_reference", 33 * 1024 * 1024, filename="big.png")
    status, error = await api.refused(
        "POST", "/v1/videos", data=stream(chunks), headers={"Content-Type": CHUNKED_TYPE}
    )
    assert (status, error["param"]) == (413, "input_reference")
    assert await api.videos() == []


async def test_an_oversized_text_part_sent_chunked_is_a_413_in_the_envelope(api: Api) -> None:
    for name in ("prompt", "metadata[k]", "whatever"):
        chunks = chunked_multipart(name, 33 * 1024 * 1024)
        status, _ = await api.refused(
            "POST", "/v1/videos", data=stream(chunks), headers={"Content-Type": CHUNKED_TYPE}
        )
        assert status == 413
    assert await api.videos() == []


async def test_an_oversized_extension_form_sent_chunked_is_a_413_in_the_envelope(
    api: Api,
) -> None:
    chunks = chunked_multipart("prompt", 33 * 1024 * 1024)
    status, _ = await api.refused(
        "POST",
        "/v1/videos/extensions",
        data=stream(chunks),
        headers={"Content-Type": CHUNKED_TYPE},
    )
    assert status == 413


async def test_a_20_mib_reference_as_a_data_url_is_not_refused_for_its_size(api: Api) -> None:
    # Base64 makes 20 MiB about 26.7 MiB: the body limit leaves room for it. (All zeros: not
    # an image, so refused, but for that and not for the size.)
    encoded = "A" * (MAX_REFERENCE_BYTES * 4 // 3)
    url = "data:image/png;base64," + encoded
    status, error = await api.refused(
        "POST", "/v1/videos", json={"prompt": PROMPT, "input_reference": {"image_url": url}}
    )
    assert status == 400, error
    assert await api.videos() == []


async def test_a_part_in_an_unknown_transfer_encoding_is_a_400(api: Api) -> None:
    body, content_type = multipart(
        ("prompt", PROMPT.encode()), extra_headers="Content-Transfer-Encoding: x-rot13\r\n"
    )
    status, _ = await api.refused(
        "POST", "/v1/videos", data=body, headers={"Content-Type": content_type}
    )
    assert status == 400


async def test_routes_and_methods_it_does_not_have_answer_in_the_envelope(api: Api) -> None:
    status, _ = await api.refused("PUT", "/v1/videos", json={})
    assert status == 405
    status, _ = await api.refused("GET", "/v1/videos/a/b/c")
    assert status == 404
    # Outside /v1 the web server's own pages stay as they are.
    async with api.http.get(f"{api.base_url}/nothing-here") as response:
        assert response.status == 404
        assert response.content_type == "text/plain"


async def test_an_unexpected_failure_is_a_500_in_the_envelope(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_: object, **__: object) -> None:
        raise RuntimeError("the store fell over")

    monkeypatch.setattr(api.h.bot.service, "job", broken)
    status, error = await api.refused("GET", "/v1/videos/video_0123456789abcdef")
    assert (status, error["type"]) == (500, "server_error")
    assert "fell over" not in error["message"]  # no internals to the script


# -- 5: metadata ------------------------------------------------------------------------------


def pairs(count: int, *, key: int = 8, value: int = 8) -> dict[str, str]:
    return {f"{i:0{key}d}": "v" * value for i in range(count)}


def metadata_forms(metadata: dict[str, str]) -> list[tuple[bytes, str]]:
    """The same metadata as `metadata[k]` fields and as one JSON `metadata` field."""
    fields = [(f"metadata[{k}]", v.encode()) for k, v in metadata.items()]
    return [
        multipart(("prompt", PROMPT.encode()), *fields),
        multipart(("prompt", PROMPT.encode()), ("metadata", json.dumps(metadata).encode())),
    ]


@pytest.mark.parametrize(
    "metadata",
    [pairs(17), pairs(1, key=65), pairs(1, value=513), pairs(16, key=65, value=513)],
    ids=["17-pairs", "long-key", "long-value", "all-of-it"],
)
async def test_metadata_beyond_the_spec_is_refused(api: Api, metadata: dict[str, str]) -> None:
    status, error = await api.refused(
        "POST", "/v1/videos", json={"prompt": PROMPT, "metadata": metadata}
    )
    assert (status, error["param"]) == (400, "metadata")
    for body, content_type in metadata_forms(metadata):
        status, error = await api.refused(
            "POST", "/v1/videos", data=body, headers={"Content-Type": content_type}
        )
        assert (status, error["param"]) == (400, "metadata")
    client = api.client()
    with pytest.raises(openai.BadRequestError) as refused:
        await client.videos.create(prompt=PROMPT, extra_body={"metadata": metadata})
    assert refused.value.param == "metadata"
    await client.close()
    assert await api.videos() == []


async def test_metadata_split_between_both_forms_counts_as_one(api: Api) -> None:
    eight = [(f"metadata[a{i}]", b"v") for i in range(8)]
    nine = {f"b{i}": "v" for i in range(9)}
    body, content_type = multipart(
        ("prompt", PROMPT.encode()), *eight, ("metadata", json.dumps(nine).encode())
    )
    status, error = await api.refused(
        "POST", "/v1/videos", data=body, headers={"Content-Type": content_type}
    )
    assert (status, error["param"]) == (400, "metadata")


@pytest.mark.parametrize(
    "metadata",
    [["a", "b"], "labels", {"n": 1}, {"n": None}, {"n": {"deep": "er"}}],
    ids=["list", "string", "number", "null", "object"],
)
async def test_metadata_must_be_an_object_of_strings(api: Api, metadata: object) -> None:
    status, error = await api.refused(
        "POST", "/v1/videos", json={"prompt": PROMPT, "metadata": metadata}
    )
    assert (status, error["param"]) == (400, "metadata")
    body, content_type = multipart(
        ("prompt", PROMPT.encode()), ("metadata", json.dumps(metadata).encode())
    )
    status, error = await api.refused(
        "POST", "/v1/videos", data=body, headers={"Content-Type": content_type}
    )
    assert (status, error["param"]) == (400, "metadata")


async def test_metadata_at_the_spec_bounds_is_kept_whole(api: Api) -> None:
    metadata = pairs(16, key=64, value=512)
    client = api.client()
    made = await client.videos.create(prompt=PROMPT, extra_body={"metadata": metadata})
    await client.close()
    status, body = await api.call(
        "POST", "/v1/videos", json={"prompt": PROMPT, "metadata": metadata}
    )
    assert status == 200, body
    for video_id in (made.id, body["id"]):
        record = await api.h.bot.service.job(video_id.removeprefix("video_"))
        assert record is not None
        assert json.loads(record.metadata or "{}") == metadata


# -- 6: a stuck Idempotency-Key ------------------------------------------------------------------


async def test_a_stale_idempotency_claim_without_a_job_is_taken_over(api: Api) -> None:
    database = database_of(api.h)
    keys = await api.h.bot.service.keys.list()
    fingerprint = CreateFields(prompt=PROMPT).fingerprint()
    # A process claimed these keys and died before attaching a job: one long ago, one now.
    long_ago = time.time() - STALE_CLAIM_AFTER - 5
    await IdempotencyStore(database, clock=lambda: long_ago).claim(keys[0].id, "old", fingerprint)
    await IdempotencyStore(database).claim(keys[0].id, "new", fingerprint)

    status, error = await api.refused(
        "POST", "/v1/videos", json={"prompt": PROMPT}, headers={"Idempotency-Key": "new"}
    )
    assert (status, error["code"]) == (409, "idempotency_in_progress")
    # Another request under the stale key is still not this one.
    status, error = await api.refused(
        "POST", "/v1/videos", json={"prompt": "other"}, headers={"Idempotency-Key": "old"}
    )
    assert status == 422
    status, first = await api.call(
        "POST", "/v1/videos", json={"prompt": PROMPT}, headers={"Idempotency-Key": "old"}
    )
    assert status == 200, first
    status, again = await api.call(
        "POST", "/v1/videos", json={"prompt": PROMPT}, headers={"Idempotency-Key": "old"}
    )
    assert (status, again["id"]) == (200, first["id"])
    assert await api.videos() == [first["id"]]
