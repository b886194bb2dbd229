"""Spend limits, refunds, the queue and cancelling, through the real bot at the wire."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.domain import GuildPolicy
from tests.discord_adapter.harness import running_harness
from tests.discord_adapter.test_video_command import embed, ephemeral_reply, finished
from tests.fakes.discord import FakeInteraction


def refused_with(it: FakeInteraction) -> str:
    return ephemeral_reply(it)


async def answered(it: FakeInteraction) -> None:
    await it.wait_for(lambda i: i.callbacks, timeout=10)


def button(it: FakeInteraction) -> dict[str, Any] | None:
    message = it.original
    if message is None or not message.components:
        return None
    return message.components[0]["components"][0]


def shows(it: FakeInteraction, text: str) -> bool:
    return it.original is not None and text in str(it.original.embeds)


async def test_the_daily_count_limit_refuses_with_usage_and_reset_time(tmp_path: Path) -> None:
    async with running_harness(tmp_path, user_daily_count=1) as h:
        first = await h.video("one [duration=1]")
        await first.wait_for(finished, timeout=20)
        second = await h.video("two")
        await answered(second)
        text = refused_with(second)
        assert "1 of your 1 videos" in text
        assert "<t:" in text
        assert ":R>" in text
        assert h.creates == 1


async def test_the_user_budget_counts_the_new_videos_cost(tmp_path: Path) -> None:
    async with running_harness(tmp_path, user_daily_budget="0.50") as h:
        first = await h.video("cheap [duration=1]")  # sora-2, 4 s: $0.40
        await first.wait_for(finished, timeout=20)
        second = await h.video("again")
        await answered(second)
        text = refused_with(second)
        assert "would cost $0.40" in text
        assert "$0.40 of your $0.50" in text
        assert h.creates == 1


async def test_the_guild_budget_is_shared_by_members(tmp_path: Path) -> None:
    async with running_harness(tmp_path, guild_daily_budget="1.00") as h:
        other = h.discord.add_member(h.guild, name="carol")
        first = await h.video("pricey [duration=1]", seconds=8)  # $0.80
        await first.wait_for(finished, timeout=20)
        second = await h.video("mine too", member=other)
        await answered(second)
        assert "this server has used $0.80 of its $1.00" in refused_with(second)
        assert h.creates == 1


async def test_the_operator_budget_covers_every_guild(tmp_path: Path) -> None:
    async with running_harness(tmp_path, daily_budget="0.40") as h:
        first = await h.video("the only one [duration=1]")
        await first.wait_for(finished, timeout=20)
        second = await h.video("one more")
        await answered(second)
        assert "The bot's daily budget is used up ($0.40 of $0.40)" in refused_with(second)


async def test_failed_and_refused_jobs_are_refunded(tmp_path: Path) -> None:
    async with running_harness(tmp_path, user_daily_budget="0.40") as h:
        failed = await h.video("doomed [fail] [duration=1]")
        await failed.wait_for(finished, timeout=20)
        refused = await h.video("not allowed [refuse]")
        await refused.wait_for(finished, timeout=20)
        third = await h.video("this one works [duration=1]")
        message = await third.wait_for(finished, timeout=20)
        assert embed(message)["title"] == "Your video is ready"
        assert h.creates == 3


async def test_two_requests_racing_for_the_last_unit_of_budget(tmp_path: Path) -> None:
    async with running_harness(tmp_path, user_daily_budget="0.40") as h:
        both = await asyncio.gather(h.video("first [duration=1]"), h.video("second [duration=1]"))
        for it in both:
            await answered(it)
        deferred = [it for it in both if it.response_type == 5]
        refused = [it for it in both if it.response_type == 4]
        assert len(deferred) == 1
        assert len(refused) == 1
        assert "daily budget" in refused_with(refused[0])
        await deferred[0].wait_for(finished, timeout=20)
        assert h.creates == 1


async def test_the_queue_shows_positions_and_moves(tmp_path: Path) -> None:
    async with running_harness(tmp_path, max_concurrent_jobs=1) as h:
        carol = h.discord.add_member(h.guild, name="carol")
        dave = h.discord.add_member(h.guild, name="dave")
        first = await h.video("first [duration=600]")
        await first.wait_for(lambda i: shows(i, "Generating") or shows(i, "Queued at"), timeout=10)
        second = await h.video("second [duration=1]", member=carol)
        third = await h.video("third [duration=1]", member=dave)
        await second.wait_for(lambda i: shows(i, "position 1"), timeout=10)
        await third.wait_for(lambda i: shows(i, "position 2"), timeout=10)
        assert h.creates == 1

        h.videos.advance(600)  # the first finishes; the second starts; the third moves up
        await first.wait_for(finished, timeout=20)
        await third.wait_for(lambda i: shows(i, "position 1"), timeout=10)
        for it in (second, third):
            message = await it.wait_for(finished, timeout=30)
            assert embed(message)["title"] == "Your video is ready"
        assert h.creates == 3


async def test_a_member_at_their_own_limit_waits_while_others_go_ahead(tmp_path: Path) -> None:
    async with running_harness(tmp_path, max_jobs_per_user=1) as h:
        carol = h.discord.add_member(h.guild, name="carol")
        mine = await h.video("mine [duration=600]")
        await mine.wait_for(lambda i: shows(i, "Generating") or shows(i, "Queued at"), timeout=10)
        my_second = await h.video("mine again [duration=1]")
        theirs = await h.video("theirs [duration=1]", member=carol)
        await my_second.wait_for(lambda i: shows(i, "position 1"), timeout=10)
        message = await theirs.wait_for(finished, timeout=20)
        assert embed(message)["title"] == "Your video is ready"
        assert h.creates == 2


async def test_cancel_a_queued_job(tmp_path: Path) -> None:
    async with running_harness(tmp_path, max_concurrent_jobs=1) as h:
        first = await h.video("blocking [duration=600]")
        await first.wait_for(lambda i: shows(i, "Generating") or shows(i, "Queued at"), timeout=10)
        second = await h.video("never mind")
        await second.wait_for(lambda i: shows(i, "position 1"), timeout=10)
        control = button(second)
        assert control is not None
        assert control["label"] == "Cancel"

        stranger = h.discord.add_member(h.guild, name="mallory")
        assert second.original is not None
        nope = await h.discord.send_component_interaction(
            second.original, control["custom_id"], stranger
        )
        await answered(nope)
        assert "Only the member who asked" in ephemeral_reply(nope)

        click = await h.discord.send_component_interaction(
            second.original, control["custom_id"], h.member
        )
        await answered(click)
        assert "nothing was sent" in ephemeral_reply(click)
        await second.wait_for(lambda i: shows(i, "Cancelled"), timeout=10)
        assert second.original is not None
        labels = [c["label"] for row in second.original.components for c in row["components"]]
        assert labels == ["Retry", "Details"]  # no Cancel any more: what can follow instead
        assert h.creates == 1


async def test_stop_following_a_running_job_frees_its_slot(tmp_path: Path) -> None:
    async with running_harness(tmp_path, max_concurrent_jobs=1) as h:
        first = await h.video("forever [duration=6000]")
        await first.wait_for(lambda i: (b := button(i)) and b["label"] == "Stop following", 10)
        waiting = await h.video("next please [duration=1]")
        await waiting.wait_for(lambda i: shows(i, "position 1"), timeout=10)
        control = button(first)
        assert control is not None
        assert first.original is not None
        click = await h.discord.send_component_interaction(
            first.original, control["custom_id"], h.member
        )
        await answered(click)
        assert "may still finish" in ephemeral_reply(click)
        await first.wait_for(lambda i: shows(i, "Cancelled"), timeout=10)
        message = await waiting.wait_for(finished, timeout=20)
        assert embed(message)["title"] == "Your video is ready"


async def test_guild_policy_limits_models_and_length(tmp_path: Path) -> None:
    async with running_harness(tmp_path) as h:
        await h.bot.service.change_policy(
            h.guild.id, lambda _: GuildPolicy(models=frozenset({"sora-2"}), max_seconds=8)
        )
        pro = await h.video("fancy", model="sora-2-pro")
        long = await h.video("long", seconds=12)
        for it in (pro, long):
            await answered(it)
        assert "allows only these models: sora-2" in refused_with(pro)
        assert "up to 8 s" in refused_with(long)
        assert h.creates == 0


async def test_videos_lists_my_jobs_and_todays_use(tmp_path: Path) -> None:
    async with running_harness(tmp_path, user_daily_count=5, user_daily_budget="2.00") as h:
        done = await h.video("a kite [duration=1]")
        await done.wait_for(finished, timeout=20)
        failed = await h.video("a crash [fail] [duration=1]")
        await failed.wait_for(finished, timeout=20)
        it = await h.discord.send_interaction(
            "videos", [], guild=h.guild, channel=h.channel, member=h.member
        )
        await answered(it)
        data = it.callbacks[0].data
        assert data is not None
        assert data["flags"] & 64
        text = str(data["embeds"])
        assert "a kite" in text
        assert "delivered" in text
        assert "failed" in text
        assert "Videos: 1 of 5" in text  # the failed one was refunded
        assert "$0.40 of $2.00" in text
        h.discord.assert_spec_clean()


async def test_a_refusal_known_only_after_the_ack_replaces_the_reply_privately(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Under load the limit check can outlast the acknowledgement budget: the bot defers first,
    # then withdraws its public placeholder and answers privately.
    async with running_harness(tmp_path, user_daily_count=1) as h:
        # discord.py loads the extension as a fresh module: patch the one the bot runs.
        monkeypatch.setattr(sys.modules["cogs.video"], "ACK_BUDGET", 0.0)
        first = await h.video("one [duration=1]")
        await first.wait_for(finished, timeout=20)
        record = await h.final_record()
        assert record.handle is not None
        assert f'"interaction_id": {first.id}' in record.handle.public  # it knows its reply
        assert record.handle.secret is None  # the token is cleared when the job ends
        second = await h.video("two")
        await second.wait_for(lambda i: i.followups, timeout=10)
        assert second.response_type == 5
        assert second.original is not None
        assert second.original.deleted
        assert "1 of your 1 videos" in second.followups[0].content
        assert second.followups[0].flags & 64
        assert h.creates == 1
