"""The team API under the prompt check, through the official SDK: a flagged prompt is a `400`
`prompt_flagged` on `prompt`, an unavailable check a `503` `moderation_unavailable`, and
neither reserves nor sends anything."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import openai
import pytest

from bot.domain import Usage
from tests.discord_adapter.harness import Harness, running_harness
from tests.fakes.moderation import FakeModeration

KEY = "mod-key-0123456789"


@dataclass
class Checked:
    h: Harness
    moderation: FakeModeration
    client: openai.AsyncOpenAI


@pytest.fixture
async def checked(tmp_path: Path, unused_tcp_port: int) -> AsyncIterator[Checked]:
    async with (
        FakeModeration(key=KEY) as moderation,
        running_harness(
            tmp_path,
            web_port=unused_tcp_port,
            moderation_url=moderation.base_url,
            moderation_key=KEY,
            moderation_spoiler_only="violence",
        ) as h,
    ):
        _, secret = await h.bot.service.keys.create(
            name="release-bot", guild_id=h.guild.id, channels=[h.channel.id]
        )
        client = openai.AsyncOpenAI(
            api_key=secret, base_url=f"http://127.0.0.1:{unused_tcp_port}/v1", max_retries=0
        )
        try:
            yield Checked(h, moderation, client)
        finally:
            await client.close()


async def nothing_spent(checked: Checked) -> None:
    service = checked.h.bot.service
    assert await service.usage(since=0, guild_id=checked.h.guild.id) == Usage()
    assert checked.h.creates == 0


async def test_a_flagged_prompt_is_a_400_prompt_flagged(checked: Checked) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        await checked.client.videos.create(
            prompt="a teaser [flag=hate/threatening]", model="sora-2", seconds="4"
        )

    error = refused.value
    assert error.status_code == 400
    assert error.code == "prompt_flagged"
    assert error.param == "prompt"
    assert error.type == "invalid_request_error"
    assert error.body == {
        "message": "This prompt was flagged for: hate.",
        "type": "invalid_request_error",
        "param": "prompt",
        "code": "prompt_flagged",
    }
    await nothing_spent(checked)
    assert checked.moderation.calls[0].texts == ["a teaser [flag=hate/threatening]"]


async def test_an_unavailable_check_is_a_503_moderation_unavailable(checked: Checked) -> None:
    checked.moderation.down = "500"
    with pytest.raises(openai.InternalServerError) as refused:
        await checked.client.videos.create(prompt="a teaser for release 2.0", model="sora-2")

    error = refused.value
    assert error.status_code == 503
    assert error.code == "moderation_unavailable"
    assert error.type == "server_error"
    assert isinstance(error.body, dict)
    assert error.body["message"] == "The safety check is unavailable right now; try again later."
    await nothing_spent(checked)


async def test_a_spoiler_only_category_is_made(checked: Checked) -> None:
    video = await checked.client.videos.create(
        prompt="a duel at noon [flag=violence]", model="sora-2", seconds="4"
    )
    assert video.status == "queued"
    record = await checked.h.final_record(within=20)
    assert record.spoiler == "violence"
    assert checked.h.creates == 1
