"""The bot's own Videos API, driven by the official `openai` package against the real bot
between the fakes: keys, the same guardrails as `/video`, results in the channel, idempotency,
signed webhooks."""

from __future__ import annotations

import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai
import pytest
from PIL import Image
from standardwebhooks.webhooks import Webhook

from bot.http.team_api import RATE_BURST
from tests.discord_adapter.harness import running_harness
from tests.discord_adapter.test_video_command import embed, finished
from tests.http.conftest import Team, webhook_receiver


def channel_message(team: Team, video_id: str) -> Any:
    """The job's card in the key's channel (posted with the bot token)."""
    job_id = video_id.removeprefix("video_")
    for message in team.h.discord.messages(team.h.channel):
        if job_id in str(message.embeds):
            return message
    return None


async def test_create_and_poll_then_download_with_the_official_sdk(team: Team) -> None:
    client = team.client()
    video = await client.videos.create_and_poll(
        prompt="a teaser for release 2.0 [duration=1]",
        model="sora-2",
        size="1280x720",
        seconds="4",
        poll_interval_ms=250,
    )
    assert video.status == "completed"
    assert video.progress == 100
    assert (video.model, video.size, video.seconds) == ("sora-2", "1280x720", "4")
    content = await client.videos.download_content(video.id)
    assert content.content == team.h.videos.asset_bytes()
    thumbnail = await client.videos.download_content(video.id, variant="thumbnail")
    assert thumbnail.content[:4] == b"RIFF"  # the provider's WebP
    # The result is in the team's channel, posted by the bot, saying who asked.
    message = channel_message(team, video.id)
    assert message is not None
    assert embed(message)["title"] == "Your video is ready"
    assert "Requested by API key *release-bot*" in embed(message)["description"]
    assert [a.data for a in message.videos] == [team.h.videos.asset_bytes()]
    page = await client.videos.list()
    assert [v.id for v in page.data] == [video.id]
    await client.close()


async def test_a_reference_image_goes_with_the_create(team: Team) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (50, 40), (10, 200, 30)).save(buffer, format="PNG")
    client = team.client()
    video = await client.videos.create(
        prompt="the logo spins [duration=1]",
        size="1280x720",
        input_reference=("logo.png", buffer.getvalue(), "image/png"),
        extra_body={"discord_channel_id": str(team.h.channel.id), "metadata": {"build": "42"}},
    )
    assert video.status == "queued"
    assert (await client.videos.poll(video.id, poll_interval_ms=250)).status == "completed"
    (create,) = [r for r in team.h.videos.stats.requests if r.route == "/v1/videos"]
    assert create.files["input_reference"].width == 1280
    record = await team.h.bot.service.job(video.id.removeprefix("video_"))
    assert record is not None
    assert json.loads(record.metadata or "{}") == {"build": "42"}
    await client.close()


async def test_bad_revoked_and_out_of_scope_keys_are_refused_as_the_sdk_expects(
    team: Team,
) -> None:
    with pytest.raises(openai.AuthenticationError):
        await team.client("vbk_" + "x" * 43).videos.list()
    with pytest.raises(openai.AuthenticationError):
        await team.client("sk-not-ours").videos.list()
    key, secret = await team.new_key(name="old-ci")
    assert await team.h.bot.service.keys.revoke(key.id)
    with pytest.raises(openai.AuthenticationError):
        await team.client(secret).videos.list()
    other = team.h.discord.add_channel(team.h.guild, name="private")
    with pytest.raises(openai.PermissionDeniedError) as denied:
        await team.client().videos.create(
            prompt="elsewhere", extra_body={"discord_channel_id": str(other.id)}
        )
    assert "may not post in channel" in denied.value.message
    with pytest.raises(openai.NotFoundError):
        await team.client().videos.retrieve("video_0123456789abcdef")
    # Another key of the same team sees none of this key's videos.
    mine = await team.client().videos.create(prompt="mine [duration=1]")
    _, stranger = await team.new_key(name="other-team")
    with pytest.raises(openai.NotFoundError):
        await team.client(stranger).videos.retrieve(mine.id)
    with pytest.raises(openai.BadRequestError) as bad:
        await team.client().videos.create(prompt="x", seconds="7")  # type: ignore[arg-type]
    assert "7" in bad.value.message
    assert team.h.creates == 1


async def test_the_same_idempotency_key_twice_pays_once(team: Team) -> None:
    client = team.client()
    headers = {"Idempotency-Key": "release-2.0-teaser"}
    first = await client.videos.create(prompt="teaser [duration=1]", extra_headers=headers)
    again = await client.videos.create(prompt="teaser [duration=1]", extra_headers=headers)
    assert again.id == first.id
    with pytest.raises(openai.UnprocessableEntityError):
        await client.videos.create(prompt="another teaser", extra_headers=headers)
    done = await client.videos.poll(first.id, poll_interval_ms=250)
    assert done.status == "completed"
    assert team.h.creates == 1
    await client.close()


async def test_budgets_are_shared_with_video(tmp_path: Path, unused_tcp_port: int) -> None:
    async with running_harness(
        tmp_path, web_port=unused_tcp_port, guild_daily_budget=Decimal("0.40")
    ) as h:
        _, secret = await h.bot.service.keys.create(
            name="ci", guild_id=h.guild.id, channels=[h.channel.id]
        )
        it = await h.video("a member's video [duration=1]")
        await it.wait_for(finished, timeout=30)
        client = openai.AsyncOpenAI(
            api_key=secret, base_url=f"http://127.0.0.1:{unused_tcp_port}/v1", max_retries=0
        )
        with pytest.raises(openai.RateLimitError) as refused:
            await client.videos.create(prompt="one more [duration=1]")
        assert "budget" in refused.value.message.lower()
        assert h.creates == 1
        await client.close()


async def test_a_keys_own_daily_budget_is_enforced(team: Team) -> None:
    _, secret = await team.new_key(name="nightly", daily_budget=Decimal("0.50"))
    client = team.client(secret)
    first = await client.videos.create(prompt="first [duration=1]")  # $0.40 of $0.50
    with pytest.raises(openai.RateLimitError) as refused:
        await client.videos.create(prompt="second [duration=1]")
    assert "daily budget" in refused.value.message
    assert (await client.videos.poll(first.id, poll_interval_ms=250)).status == "completed"
    assert team.h.creates == 1
    await client.close()


async def test_a_signed_webhook_tells_the_key_when_the_video_is_done(team: Team) -> None:
    # The receiver is down once: the event is tried again.
    async with webhook_receiver(fail_first=1) as receiver:
        key, secret = await team.new_key(name="hooked", webhook_url=receiver.url)
        client = team.client(secret)
        video = await client.videos.create(prompt="with a hook [duration=1]")
        await receiver.wait_for(1)
        body, headers = receiver.received[0]
        event = Webhook(await team.webhook_secret(key)).verify(body, headers)
        assert event["type"] == "video.completed"
        assert event["data"]["id"] == video.id
        await client.close()


async def test_a_key_that_floods_the_api_is_slowed_down_with_retry_after(team: Team) -> None:
    # A stopped clock: however slowly this machine sends the burst, the bucket never refills.
    team.h.bot._team_api.rate_clock = lambda: 1000.0  # type: ignore[union-attr]
    client = team.client()
    for _ in range(RATE_BURST):
        await client.videos.list()
    with pytest.raises(openai.RateLimitError) as flooded:
        await client.videos.list()
    assert int(flooded.value.response.headers["Retry-After"]) >= 1
    assert flooded.value.code == "rate_limit_exceeded"
    await client.close()


async def test_remix_extend_and_delete_through_the_sdk(team: Team) -> None:
    client = team.client()
    source = await client.videos.create_and_poll(
        prompt="a lighthouse [duration=1]", poll_interval_ms=250
    )
    remix = await client.videos.remix(source.id, prompt="a lighthouse in a storm")
    assert remix.remixed_from_video_id == source.id
    # The SDK's `videos.extend` uploads a video file; an extension of a video the bot made is
    # the spec's JSON body, sent with the SDK's own client.
    longer = await client.post(
        "/videos/extensions",
        body={"video": {"id": source.id}, "prompt": "the storm clears", "seconds": "8"},
        cast_to=openai.types.Video,
    )
    for made in (remix, longer):
        assert (await client.videos.poll(made.id, poll_interval_ms=250)).status == "completed"
    (extension,) = [r for r in team.h.videos.stats.requests if r.route.endswith("/extensions")]
    assert extension.json_body["seconds"] == "8"
    deleted = await client.videos.delete(source.id)
    assert deleted.deleted
    with pytest.raises(openai.NotFoundError):
        await client.videos.download_content(source.id)
    await client.close()


async def test_a_key_for_another_server_cannot_post_in_this_one(team: Team) -> None:
    other_guild = team.h.discord.add_guild(name="Elsewhere")
    # Scoped to another server, but naming this server's channel: refused, nothing made.
    _, secret = await team.new_key(name="wrong-server", guild_id=other_guild.id)
    with pytest.raises(openai.BadRequestError) as refused:
        await team.client(secret).videos.create(prompt="sneaky [duration=1]")
    assert "not a channel of the key's server" in refused.value.message
    assert team.h.creates == 0
