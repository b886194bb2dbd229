"""Every way in passes the same rules: Retry, Remix and Extend buttons, and modals opened
before the rules changed, are refused where `/video` would be, and nothing is sent."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.domain import GuildPolicy
from tests.discord_adapter.harness import Harness
from tests.discord_adapter.test_follow_ups import custom_id, delivered, harness, press, private_text
from tests.fakes.discord import FakeInteraction

__all__ = ["harness"]  # the fixture, shared with the follow-up tests


def _off(_: Harness) -> GuildPolicy:
    return GuildPolicy(enabled=False)


def _elsewhere(h: Harness) -> GuildPolicy:
    return GuildPolicy(channels=frozenset({h.discord.add_channel(h.guild, name="other").id}))


def _roles(h: Harness) -> GuildPolicy:
    return GuildPolicy(roles=frozenset({h.discord.add_role(h.guild, "creators").id}))


RULES = [
    pytest.param(_off, "turned off in this server", id="turned-off"),
    pytest.param(_elsewhere, "Videos can be made only in", id="other-channel"),
    pytest.param(_roles, "You need one of these roles", id="roles"),
]


async def _refused(it: FakeInteraction) -> str:
    text = await it.wait_for(private_text, timeout=10)
    assert text is not None
    return text


@pytest.mark.parametrize(("rules", "said"), RULES)
async def test_buttons_are_refused_once_the_servers_rules_say_no(
    harness: Harness, rules: Callable[[Harness], GuildPolicy], said: str
) -> None:
    source = await delivered(harness)
    policy = rules(harness)
    await harness.bot.service.change_policy(harness.guild.id, lambda _: policy)
    for label in ("Retry", "Remix", "Extend"):
        click = await press(harness, source, label)
        assert said in await _refused(click), label
        assert all(c.type != 9 for c in click.callbacks), f"{label} opened a modal"
    assert harness.creates == 1


@pytest.mark.parametrize(("rules", "said"), RULES)
async def test_a_modal_opened_before_the_rules_changed_is_refused_on_submit(
    harness: Harness, rules: Callable[[Harness], GuildPolicy], said: str
) -> None:
    source = await delivered(harness)
    remix = await press(harness, source, "Remix")
    await remix.wait_for(lambda i: bool(i.callbacks), timeout=10)
    assert remix.callbacks[0].type == 9  # the modal is open
    policy = rules(harness)
    await harness.bot.service.change_policy(harness.guild.id, lambda _: policy)
    submit = await harness.discord.submit_modal(remix, {"prompt": "a red kite at night"})
    assert said in await _refused(submit)
    assert harness.creates == 1


async def test_the_requester_may_still_cancel_details_and_delete_where_the_rules_say_no(
    harness: Harness,
) -> None:
    """The rules bind what spends; seeing and deleting one's own video stays possible."""
    source = await delivered(harness)
    await harness.bot.service.change_policy(harness.guild.id, lambda _: GuildPolicy(enabled=False))
    details = await press(harness, source, "Details")
    await details.wait_for(lambda i: bool(i.callbacks), timeout=10)
    assert details.callbacks[0].type == 4
    assert custom_id(source, "Delete").startswith("video:delete:")
