"""A key passes every rule a member passes, in the service: its own daily budget inside the
spend gate (creates, remixes and extensions alike), the server's on/off switch, its channels
and roles, the operator's allow-list; and a follow-up made with a key stays that key's."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import openai
import pytest
from standardwebhooks.webhooks import Webhook

from bot.domain import GuildPolicy
from tests.discord_adapter.harness import Harness, running_harness
from tests.http.conftest import Team, webhook_receiver


async def test_concurrent_creates_with_one_key_reserve_only_what_its_budget_covers(
    team: Team,
) -> None:
    """Eight creates at once, $0.40 each, on a $0.50 key: exactly one is made."""
    _, secret = await team.new_key(name="nightly", daily_budget=Decimal("0.50"))
    client = team.client(secret)
    results = await asyncio.gather(
        *(client.videos.create(prompt=f"render {n} [duration=1]") for n in range(8)),
        return_exceptions=True,
    )
    made = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, openai.RateLimitError)]
    assert len(made) == 1, results
    assert len(refused) == 7, results
    assert {r.code for r in refused} == {"budget_exceeded"}
    assert (await client.videos.poll(made[0].id, poll_interval_ms=250)).status == "completed"
    assert team.h.creates == 1
    await client.close()


async def test_remixes_and_extensions_count_against_the_keys_budget(team: Team) -> None:
    """$1.00 a day: a video ($0.40) and a remix ($0.40) fit, an extension by 4 s ($0.40) does
    not; nothing is sent for it."""
    _, secret = await team.new_key(name="nightly", daily_budget=Decimal("1.00"))
    client = team.client(secret)
    source = await client.videos.create_and_poll(
        prompt="a lighthouse [duration=1]", poll_interval_ms=250
    )
    remix = await client.videos.remix(source.id, prompt="a lighthouse in a storm [duration=1]")
    with pytest.raises(openai.RateLimitError) as refused:
        await client.post(
            "/videos/extensions",
            body={"video": {"id": source.id}, "prompt": "the storm clears", "seconds": "4"},
            cast_to=openai.types.Video,
        )
    assert refused.value.code == "budget_exceeded"
    assert "daily budget" in refused.value.message
    assert (await client.videos.poll(remix.id, poll_interval_ms=250)).status == "completed"
    routes = [r.route for r in team.h.videos.stats.requests if r.method == "POST"]
    assert not any(route.endswith("/extensions") for route in routes)
    await client.close()


async def test_a_remix_made_with_a_key_tells_that_keys_webhook(team: Team) -> None:
    async with webhook_receiver() as receiver:
        key, secret = await team.new_key(name="hooked", webhook_url=receiver.url)
        client = team.client(secret)
        source = await client.videos.create_and_poll(
            prompt="a lighthouse [duration=1]", poll_interval_ms=250
        )
        remix = await client.videos.remix(source.id, prompt="in a storm [duration=1]")
        await receiver.wait_for(2)
        signer = Webhook(await team.webhook_secret(key))
        events = [signer.verify(body, headers) for body, headers in receiver.received]
        assert sorted(e["data"]["id"] for e in events) == sorted([source.id, remix.id])
        await client.close()


def _off(_: Harness) -> GuildPolicy:
    return GuildPolicy(enabled=False)


def _elsewhere(h: Harness) -> GuildPolicy:
    return GuildPolicy(channels=frozenset({h.channel.id + 1}))


def _roles(h: Harness) -> GuildPolicy:
    return GuildPolicy(roles=frozenset({h.discord.add_role(h.guild, "creators").id}))


@pytest.mark.parametrize(
    ("rules", "code"),
    [(_off, "bot_disabled"), (_elsewhere, "channel_not_allowed"), (_roles, "role_required")],
)
async def test_a_key_passes_the_servers_own_rules(
    team: Team, rules: Callable[[Harness], GuildPolicy], code: str
) -> None:
    policy = rules(team.h)
    await team.h.bot.service.change_policy(team.h.guild.id, lambda _: policy)
    client = team.client()
    with pytest.raises(openai.PermissionDeniedError) as refused:
        await client.videos.create(prompt="after the admins said no [duration=1]")
    assert refused.value.code == code
    assert team.h.creates == 0
    await client.close()


async def test_a_key_follows_the_age_restricted_rule_by_the_channel_it_posts_in(
    team: Team,
) -> None:
    await team.h.bot.service.change_policy(
        team.h.guild.id, lambda p: p.evolve(age_restricted_only=True)
    )
    client = team.client()
    with pytest.raises(openai.PermissionDeniedError) as refused:
        await client.videos.create(prompt="in an ordinary channel [duration=1]")
    assert refused.value.code == "age_restricted_only"
    assert team.h.creates == 0

    team.h.discord.set_nsfw(team.h.channel)
    for _ in range(100):  # the gateway's CHANNEL_UPDATE reaches the bot's cache
        if team.h.bot.get_channel(team.h.channel.id).is_nsfw():  # type: ignore[union-attr]
            break
        await asyncio.sleep(0.02)
    video = await client.videos.create(prompt="in an age-restricted channel [duration=1]")
    assert video.status in ("queued", "in_progress")
    await client.close()


async def test_a_key_of_a_server_the_operator_no_longer_allows_is_refused(
    tmp_path: Path, unused_tcp_port: int
) -> None:
    async with running_harness(tmp_path, web_port=unused_tcp_port, allowed_guilds="12345") as h:
        _, secret = await h.bot.service.keys.create(
            name="ci", guild_id=h.guild.id, channels=[h.channel.id]
        )
        client = openai.AsyncOpenAI(
            api_key=secret, base_url=f"http://127.0.0.1:{unused_tcp_port}/v1", max_retries=0
        )
        with pytest.raises(openai.PermissionDeniedError) as refused:
            await client.videos.create(prompt="from a server no longer allowed [duration=1]")
        assert refused.value.code == "server_not_allowed"
        assert h.creates == 0
        await client.close()
