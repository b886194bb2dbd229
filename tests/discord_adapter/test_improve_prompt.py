"""`/video improve:true` end to end: the real bot between the fake Discord, the fake Videos API
and a fake chat server. Nothing is reserved, queued or sent to the video service before the
member presses Generate (or sends Edit's form, or presses Use mine); Cancel makes nothing; a
chat server that fails, a day's rewrites used up or a rewrite the moderation check flags leave
the member's own prompt usable."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.domain import Usage
from tests.discord_adapter.harness import Harness, running_harness
from tests.discord_adapter.test_follow_ups import custom_id, press, private_text
from tests.discord_adapter.test_video_command import embed, embed_text, finished
from tests.fakes.chat import FakeChat
from tests.fakes.discord import FakeInteraction, FakeMember, FakeMessage
from tests.fakes.moderation import FakeModeration

STRING, INTEGER, BOOLEAN = 3, 4, 5
CHAT_KEY = "chat-key-0123456789"
MODERATION_KEY = "mod-key-0123456789"
PROMPT = "a red fox jumps over a frozen creek"
REWRITE = FakeChat.improved(PROMPT)
CHOICES = ["Generate", "Edit", "Use mine", "Cancel"]
UNAVAILABLE = "The prompt helper is unavailable right now."


# -- driving the bot ------------------------------------------------------------------------------


async def improve(
    h: Harness, prompt: str = PROMPT, *, member: FakeMember | None = None, **more: Any
) -> FakeInteraction:
    """A member runs `/video prompt:… improve:true` (8-second videos unless told otherwise)."""
    options: list[dict[str, Any]] = [
        {"name": "prompt", "type": STRING, "value": prompt},
        {"name": "seconds", "type": INTEGER, "value": more.pop("seconds", 8)},
        {"name": "improve", "type": BOOLEAN, "value": True},
    ]
    options += [{"name": k, "type": STRING, "value": v} for k, v in more.items()]
    return await h.discord.send_interaction(
        "video", options, guild=h.guild, channel=h.channel, member=member or h.member
    )


async def answer(it: FakeInteraction) -> FakeMessage:
    """The private answer, once it replaced the "thinking…" placeholder."""
    message = await it.wait_for(
        lambda i: i.original is not None and not i.original.loading and i.original, timeout=20
    )
    assert message.ephemeral
    assert it.response_type == 5  # deferred: the checks and the chat model take their time
    return message


def labels(message: FakeMessage, *, enabled: bool = True) -> list[str]:
    return [
        str(c["label"])
        for row in message.components
        for c in row["components"]
        if bool(c.get("disabled")) is not enabled
    ]


async def chosen(it: FakeInteraction, line: str) -> FakeMessage:
    """The private answer once a choice was made: the line said, every button disabled."""
    message = await it.wait_for(
        lambda i: i.original is not None and i.original.content == line and i.original,
        timeout=20,
    )
    assert labels(message) == []
    return message


def prompts_sent(h: Harness) -> list[str]:
    return [job.prompt for job in h.videos.state.jobs.values()]


async def nothing_spent(h: Harness) -> None:
    """No create reached the video service; nothing was stored or reserved for the member."""
    assert h.creates == 0
    assert prompts_sent(h) == []
    service = h.bot.service
    assert await service.recent_jobs(h.member.id) == []
    assert await service.usage(since=0, user_id=h.member.id) == Usage()


# -- fixtures -------------------------------------------------------------------------------------


@pytest.fixture
async def chat() -> AsyncIterator[FakeChat]:
    async with FakeChat(key=CHAT_KEY) as server:
        yield server


def helper_settings(chat: FakeChat, **more: Any) -> dict[str, Any]:
    return {
        "prompt_url": chat.base_url,
        "prompt_model": "gpt-4o-mini",
        "prompt_key": CHAT_KEY,
        **more,
    }


@pytest.fixture
async def harness(tmp_path: Path, chat: FakeChat) -> AsyncIterator[Harness]:
    async with running_harness(tmp_path, **helper_settings(chat)) as running:
        yield running


# -- the offer and the four choices ---------------------------------------------------------------


async def test_the_offer_shows_the_rewrite_and_its_cost_and_nothing_is_spent(
    harness: Harness, chat: FakeChat
) -> None:
    it = await improve(harness)
    message = await answer(it)

    assert message.content.startswith("Improved prompt ready ($0.80 estimated).")
    data = embed(message)
    assert data["title"] == "Improved prompt"
    assert data["description"] == REWRITE  # in full
    text = embed_text(message)
    assert f"Your prompt: {PROMPT}" in text
    assert "Estimated cost: $0.80" in text
    assert "8 s" in text
    assert labels(message) == CHOICES
    # The chat model was asked once, with the member's prompt and the rules of a rewrite.
    (call,) = chat.calls
    assert call.authorization == f"Bearer {CHAT_KEY}"
    assert call.body["model"] == "gpt-4o-mini"
    assert call.user == PROMPT
    assert "same language" in call.system
    assert "subject" in call.system
    assert "At most 4000 characters" in call.system
    await nothing_spent(harness)
    harness.discord.assert_spec_clean()
    assert harness.discord.unexpected_requests == []


async def test_generate_makes_the_video_from_the_rewrite_as_video_would(
    harness: Harness,
) -> None:
    it = await improve(harness)
    message = await answer(it)
    await nothing_spent(harness)

    click = await press(harness, message, "Generate")
    card = await click.wait_for(finished, timeout=30)

    assert not card.ephemeral  # the public card, as `/video` makes it
    assert embed(card)["title"] == "Your video is ready"
    assert harness.creates == 1
    assert prompts_sent(harness) == [REWRITE]
    record = await harness.final_record()
    assert record.prompt == REWRITE
    assert record.requester_id == harness.member.id
    await chosen(it, "Started with the improved prompt.")
    harness.discord.assert_spec_clean()


async def test_edit_opens_the_rewrite_in_a_form_and_makes_the_text_sent(
    harness: Harness,
) -> None:
    it = await improve(harness)
    message = await answer(it)

    click = await press(harness, message, "Edit")
    form = await click.wait_for(lambda i: i.modal, timeout=10)
    assert form["title"] == "Edit the prompt"
    (label,) = form["components"]
    box = label["component"]
    assert box["custom_id"] == "prompt"
    assert box["value"] == REWRITE  # prefilled with the rewrite
    assert box["max_length"] == 4000
    await nothing_spent(harness)  # opening the form spends nothing

    edited = "a red fox leaps over a frozen creek at dawn, seen from low in the reeds"
    sent = await harness.discord.submit_modal(click, {"prompt": edited})
    card = await sent.wait_for(finished, timeout=30)

    assert embed(card)["title"] == "Your video is ready"
    assert prompts_sent(harness) == [edited]
    await chosen(it, "Started with your edited prompt.")


async def test_use_mine_makes_the_video_from_the_members_own_prompt(harness: Harness) -> None:
    it = await improve(harness)
    message = await answer(it)

    click = await press(harness, message, "Use mine")
    await click.wait_for(finished, timeout=30)

    assert prompts_sent(harness) == [PROMPT]
    await chosen(it, "Started with your own prompt.")


async def test_cancel_makes_nothing(harness: Harness) -> None:
    it = await improve(harness)
    message = await answer(it)

    click = await press(harness, message, "Cancel")
    await click.wait_for(lambda i: i.callbacks, timeout=10)

    assert click.callbacks[0].type == 7  # the private answer itself is updated
    after = await chosen(it, "Cancelled: nothing was spent.")
    assert labels(after, enabled=False) == CHOICES
    await nothing_spent(harness)


async def test_only_the_member_who_asked_can_choose(harness: Harness) -> None:
    it = await improve(harness)
    message = await answer(it)
    stranger = harness.discord.add_member(harness.guild, name="mallory")

    click = await press(harness, message, "Generate", stranger)
    said = await click.wait_for(private_text, timeout=10)

    assert said == "Only the member who asked can choose here."
    await nothing_spent(harness)
    assert labels(it.original or message) == CHOICES  # still the member's to choose


async def test_a_refused_choice_leaves_the_choice_open(tmp_path: Path, chat: FakeChat) -> None:
    # The day's videos are used up between the offer and the choice: Generate is refused as
    # `/video` would be, and the member may still cancel.
    settings = helper_settings(chat, user_daily_count=1)
    async with running_harness(tmp_path, **settings) as h:
        it = await improve(h)
        message = await answer(it)
        first = await h.video("something else [duration=1]")
        await first.wait_for(finished, timeout=30)

        click = await press(h, message, "Generate")
        said = await click.wait_for(private_text, timeout=10)

        assert "1 of your 1 videos" in said
        assert prompts_sent(h) == ["something else [duration=1]"]
        assert it.original is not None
        assert labels(it.original) == CHOICES
        await press(h, it.original, "Cancel")
        await chosen(it, "Cancelled: nothing was spent.")


# -- without a rewrite: the member's own prompt stays usable --------------------------------------


@pytest.mark.parametrize("outage", ["close", "500", "garbage", "empty"])
async def test_the_chat_server_failing_leaves_the_original_usable(
    harness: Harness, chat: FakeChat, outage: Any
) -> None:
    chat.down = outage
    it = await improve(harness)
    message = await answer(it)

    assert message.content == (
        f"{UNAVAILABLE}\nYour own prompt can still be used ($0.80 estimated); nothing was spent."
    )
    assert embed(message)["title"] == "Your prompt"
    assert embed(message)["description"] == PROMPT
    assert labels(message) == ["Use mine", "Cancel"]
    await nothing_spent(harness)
    # A rewrite the chat server could not make is not counted against the member.
    assert await harness.bot.service.engine.rewrites.used(harness.member.id, today(harness)) == 0

    click = await press(harness, message, "Use mine")
    await click.wait_for(finished, timeout=30)
    assert prompts_sent(harness) == [PROMPT]


async def test_a_slow_chat_server_is_given_up_on(tmp_path: Path, chat: FakeChat) -> None:
    chat.down = "slow"
    async with running_harness(tmp_path, **helper_settings(chat, request_timeout=1)) as h:
        it = await improve(h)
        message = await answer(it)
        assert message.content.startswith(UNAVAILABLE)
        assert labels(message) == ["Use mine", "Cancel"]
        await nothing_spent(h)


async def test_the_days_rewrites_are_limited_per_member(tmp_path: Path, chat: FakeChat) -> None:
    async with running_harness(tmp_path, **helper_settings(chat, prompt_daily=1)) as h:
        first = await answer(await improve(h))
        assert labels(first) == CHOICES
        second = await answer(await improve(h, "a blue heron in the rain"))

        assert second.content.startswith(
            "You have used your 1 prompt improvement for today. It resets <t:"
        )
        assert "Your own prompt can still be used ($0.80 estimated)" in second.content
        assert labels(second) == ["Use mine", "Cancel"]
        assert len(chat.calls) == 1  # the chat model was not asked again
        # Another member has their own.
        bob = h.discord.add_member(h.guild, name="bob")
        third = await answer(await improve(h, member=bob))
        assert labels(third) == CHOICES
        await nothing_spent(h)


async def test_a_flagged_rewrite_is_refused_and_nothing_is_spent(
    tmp_path: Path, chat: FakeChat
) -> None:
    async with (
        FakeModeration(key=MODERATION_KEY, words={"gore": "violence/graphic"}) as moderation,
        running_harness(
            tmp_path,
            **helper_settings(
                chat, moderation_url=moderation.base_url, moderation_key=MODERATION_KEY
            ),
        ) as h,
    ):
        chat.answer = "a red fox jumps over a frozen creek, gore everywhere"
        it = await improve(h)
        message = await answer(it)

        assert message.content.startswith(
            "The improved prompt cannot be used. This prompt was flagged for: violence."
        )
        assert labels(message) == ["Use mine", "Cancel"]
        # The member's prompt, then the rewrite: each checked before anything is spent.
        assert [call.texts for call in moderation.calls] == [[PROMPT], [chat.answer]]
        await nothing_spent(h)


async def test_a_flagged_prompt_is_refused_before_the_chat_model_is_asked(
    tmp_path: Path, chat: FakeChat
) -> None:
    async with (
        FakeModeration(key=MODERATION_KEY) as moderation,
        running_harness(
            tmp_path,
            **helper_settings(
                chat, moderation_url=moderation.base_url, moderation_key=MODERATION_KEY
            ),
        ) as h,
    ):
        it = await improve(h, "a fox [flag=hate]")
        message = await answer(it)

        assert message.content == "This prompt was flagged for: hate."
        assert message.components == []
        assert chat.calls == []
        await nothing_spent(h)


async def test_the_catalogue_refuses_before_the_chat_model_is_asked(
    harness: Harness, chat: FakeChat
) -> None:
    it = await improve(harness, model="no-such-model")
    message = await answer(it)

    assert "no-such-model" in message.content
    assert message.components == []
    assert chat.calls == []
    await nothing_spent(harness)


# -- the option and the answer's life -------------------------------------------------------------


def video_options(h: Harness) -> list[str]:
    (command,) = [c for c in h.discord.command_syncs[-1].commands if c["name"] == "video"]
    return [option["name"] for option in command["options"]]


async def test_the_option_exists_when_a_chat_model_is_set(harness: Harness) -> None:
    assert video_options(harness)[-1] == "improve"


async def test_without_a_chat_model_there_is_no_option(tmp_path: Path) -> None:
    async with running_harness(tmp_path) as plain:
        assert "improve" not in video_options(plain)


async def test_the_buttons_are_disabled_when_the_choice_times_out(
    tmp_path: Path, chat: FakeChat, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.modules["bot.discord_adapter.improve"], "OFFER_TIMEOUT", 0.5)
    async with running_harness(tmp_path, **helper_settings(chat)) as h:
        it = await improve(h)
        await answer(it)
        after = await it.wait_for(
            lambda i: i.original is not None and not labels(i.original) and i.original,
            timeout=10,
        )
        assert labels(after, enabled=False) == CHOICES
        with pytest.raises(ValueError, match="disabled"):
            await h.discord.send_component_interaction(
                after, custom_id(after, "Generate"), h.member
            )
        await nothing_spent(h)


def today(h: Harness) -> str:
    return h.bot.service.today().isoformat()
