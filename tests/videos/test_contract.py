"""Every request the client sends conforms to the official OpenAI Videos spec."""

from __future__ import annotations

import io

from PIL import Image

from bot.fake_api import FakeVideosServer
from bot.videos import CreateRequest, ReferenceImage, VideosClient
from tests.contracts.openai.validator import violations


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "green").save(out, format="PNG")
    return out.getvalue()


async def test_every_operation_conforms_to_the_spec(
    client: VideosClient, fake: FakeVideosServer, tmp_path
) -> None:
    created = await client.create(
        CreateRequest(
            prompt="a lighthouse at dusk",
            model="sora-2",
            size="1280x720",
            seconds="8",
            reference=ReferenceImage(png(1280, 720), "image/png", "ref.png"),
        )
    )
    plain = await client.create(CreateRequest(prompt="no options at all"))
    await client.retrieve(created.id)
    fake.advance(60)
    await client.retrieve(created.id)
    await client.list(limit=5, order="asc")
    await client.list(limit=5, after=plain.id)
    await client.download(created.id, tmp_path / "v.mp4")
    await client.download(created.id, tmp_path / "t.webp", variant="thumbnail")
    await client.remix(created.id, "the same, at dawn")
    await client.extend(created.id, "and the lamp turns on", "4")
    await client.delete(plain.id)

    recorded = [r for r in fake.stats.requests if r.path.startswith("/v1/")]
    assert len(recorded) == 11
    problems = [p for r in recorded for p in violations(r)]
    assert problems == []
    create = recorded[0]
    assert create.files["input_reference"].width == 1280
    assert create.form == {
        "prompt": "a lighthouse at dusk",
        "model": "sora-2",
        "size": "1280x720",
        "seconds": "8",
    }
    assert all(r.authorized for r in recorded)


async def test_the_validator_catches_what_the_spec_forbids(
    client: VideosClient, fake: FakeVideosServer
) -> None:
    # An operator catalogue for another server sends an integer-looking float and a size the
    # spec doesn't list: the fake in openai dialect refuses it, and so does the contract check.
    fake.settings.dialect = "sglang"
    await client.create(CreateRequest(prompt="x", size="832x480", seconds="5.0"))
    problems = violations(fake.stats.requests[-1])
    assert any("seconds" in p for p in problems)
    assert any("size" in p for p in problems)
