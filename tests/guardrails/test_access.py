"""Who may make videos where: the operator's allow-list and a server's own switches, the same
rules for every way in (bot/guardrails/access.py)."""

from __future__ import annotations

import pytest

from bot.domain import ApiKey, GuildPolicy, NotAllowed, OperatorLimits, Refusal, Requester
from bot.guardrails.access import guild_refusal, operator_refusal

GUILD, CHANNEL, THREAD, CATEGORY, ROLE, OTHER_ROLE = 10, 20, 21, 22, 30, 31


def member(
    *,
    channels: tuple[int, ...] = (CHANNEL,),
    roles: tuple[int, ...] = (),
    manages: bool = False,
) -> Requester:
    return Requester(
        1, GUILD, channel_ids=frozenset(channels), role_ids=frozenset(roles), manages_guild=manages
    )


def refusal_of(found: NotAllowed | None) -> Refusal | None:
    return None if found is None else found.refusal


def test_an_empty_operator_list_allows_every_guild_and_dms() -> None:
    assert operator_refusal(OperatorLimits(), GUILD) is None
    assert operator_refusal(OperatorLimits(), None) is None


def test_the_operator_list_refuses_other_guilds_and_dms() -> None:
    operator = OperatorLimits(allowed_guilds=frozenset({GUILD}))
    assert operator_refusal(operator, GUILD) is None
    assert refusal_of(operator_refusal(operator, GUILD + 1)) is Refusal.OTHER_SERVER
    assert refusal_of(operator_refusal(operator, None)) is Refusal.NOT_IN_SERVER
    assert str(operator_refusal(operator, GUILD + 1)) == "This bot is not available in this server."


def test_default_settings_allow_everyone_everywhere() -> None:
    assert guild_refusal(GuildPolicy(), member()) is None


def test_a_disabled_bot_refuses_everyone_and_says_whether_they_could_turn_it_on() -> None:
    off = GuildPolicy(enabled=False)
    for_member = guild_refusal(off, member())
    for_manager = guild_refusal(off, member(manages=True))
    assert for_member is not None
    assert for_manager is not None
    assert (for_member.refusal, for_member.can_enable) == (Refusal.TURNED_OFF, False)
    assert (for_manager.refusal, for_manager.can_enable) == (Refusal.TURNED_OFF, True)


@pytest.mark.parametrize(
    ("listed", "here", "allowed"),
    [
        (CHANNEL, (CHANNEL,), True),
        (CHANNEL, (THREAD, CHANNEL), True),  # a thread follows its channel
        (CATEGORY, (CHANNEL, CATEGORY), True),  # a channel follows its category
        (CHANNEL, (CHANNEL + 100, CATEGORY), False),
    ],
)
def test_channels_match_the_channel_or_its_parent(
    listed: int, here: tuple[int, ...], allowed: bool
) -> None:
    refusal = guild_refusal(GuildPolicy(channels=frozenset({listed})), member(channels=here))
    if allowed:
        assert refusal is None
    else:
        assert refusal is not None
        assert (refusal.refusal, refusal.channels) == (Refusal.CHANNEL, frozenset({listed}))


def test_any_listed_role_passes_and_managers_always_do() -> None:
    policy = GuildPolicy(roles=frozenset({ROLE, OTHER_ROLE}))
    assert guild_refusal(policy, member(roles=(OTHER_ROLE, 99))) is None
    assert guild_refusal(policy, member(manages=True)) is None
    refusal = guild_refusal(policy, member(roles=(99,)))
    assert refusal is not None
    assert (refusal.refusal, refusal.roles) == (Refusal.ROLE, frozenset({ROLE, OTHER_ROLE}))


def test_the_channel_rule_binds_managers_too() -> None:
    policy = GuildPolicy(channels=frozenset({CHANNEL + 1}), roles=frozenset({ROLE}))
    assert refusal_of(guild_refusal(policy, member(manages=True))) is Refusal.CHANNEL


def test_an_api_keys_member_holds_no_roles() -> None:
    """A key is not a member: a server that limits videos to roles refuses its keys too."""
    key = ApiKey("key_1", "ci", GUILD, (CHANNEL,), None, -5, 0.0, None, None)
    by_key = Requester(-5, GUILD, channel_ids=frozenset({CHANNEL}), key=key)
    assert guild_refusal(GuildPolicy(), by_key) is None
    assert refusal_of(guild_refusal(GuildPolicy(roles=frozenset({ROLE})), by_key)) is Refusal.ROLE


# -- age-restricted channels only -------------------------------------------------------------


def test_age_restricted_only_refuses_other_channels_for_everyone() -> None:
    policy = GuildPolicy(age_restricted_only=True)
    assert refusal_of(guild_refusal(policy, member())) is Refusal.AGE_RESTRICTED
    # The place decides: Manage Server does not pass it.
    assert refusal_of(guild_refusal(policy, member(manages=True))) is Refusal.AGE_RESTRICTED
    here = Requester(1, GUILD, channel_ids=frozenset({CHANNEL}), age_restricted=True)
    assert guild_refusal(policy, here) is None
    # Off (the default), an age-restricted channel is a channel like any other.
    assert guild_refusal(GuildPolicy(), here) is None
    refusal = guild_refusal(policy, member())
    assert str(refusal) == "In this server, videos can be made in age-restricted channels only."


def test_the_earlier_rules_are_told_first() -> None:
    """Off, then the channel list, then the age rule, then roles: one reason, the first."""
    everything = GuildPolicy(
        enabled=False,
        channels=frozenset({CHANNEL + 1}),
        roles=frozenset({ROLE}),
        age_restricted_only=True,
    )
    assert refusal_of(guild_refusal(everything, member())) is Refusal.TURNED_OFF
    on = everything.evolve(enabled=True)
    assert refusal_of(guild_refusal(on, member())) is Refusal.CHANNEL
    listed = on.evolve(channels=frozenset({CHANNEL}))
    assert refusal_of(guild_refusal(listed, member())) is Refusal.AGE_RESTRICTED
    nsfw = Requester(1, GUILD, channel_ids=frozenset({CHANNEL}), age_restricted=True)
    assert refusal_of(guild_refusal(listed, nsfw)) is Refusal.ROLE


def test_an_api_keys_channels_count_as_not_age_restricted() -> None:
    """Unless its front end knows better, a key's place is not age-restricted: refused."""
    key = ApiKey("key_1", "ci", GUILD, (CHANNEL,), None, -5, 0.0, None, None)
    by_key = Requester(-5, GUILD, channel_ids=frozenset({CHANNEL}), key=key)
    policy = GuildPolicy(age_restricted_only=True)
    assert refusal_of(guild_refusal(policy, by_key)) is Refusal.AGE_RESTRICTED
