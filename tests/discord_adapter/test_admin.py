"""`/video-admin` and the allow-lists, end to end between the fake Discord and the fake API."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.discord_adapter.access import ADMIN_ONLY
from bot.discord_adapter.admin_render import PERIODS, join_within, usage_embed
from bot.domain import GuildPolicy, MemberUsage, Usage
from tests.discord_adapter.harness import Harness, running_harness
from tests.fakes.discord import FakeChannel, FakeInteraction, FakeMember, FakeMessage

OTHER_SERVER = "This bot is not available in this server."

SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
STRING, INTEGER, CHANNEL, ROLE, NUMBER = 3, 4, 7, 8, 10
MANAGE_GUILD = 1 << 5
EPHEMERAL = 64
OPTION_TYPES = {
    "channel": CHANNEL,
    "role": ROLE,
    "models": STRING,
    "period": STRING,
    "seconds": INTEGER,
    "user-daily-count": INTEGER,
    "user-daily-budget": NUMBER,
    "guild-daily-budget": NUMBER,
}


# -- driving the bot ------------------------------------------------------------------------------


async def admin(
    h: Harness,
    path: str,
    *,
    member: FakeMember | None = None,
    where: FakeChannel | None = None,
    **options: Any,
) -> FakeInteraction:
    """`/video-admin <path>` with options (underscores in names become hyphens)."""
    given = [
        {"name": name.replace("_", "-"), "type": OPTION_TYPES[name.replace("_", "-")], "value": v}
        for name, v in options.items()
    ]
    *groups, leaf = path.split()
    option: dict[str, Any] = {"name": leaf, "type": SUB_COMMAND}
    if given:
        option["options"] = given
    for group in reversed(groups):
        option = {"name": group, "type": SUB_COMMAND_GROUP, "options": [option]}
    it = await h.discord.send_interaction(
        "video-admin",
        [option],
        guild=h.guild,
        channel=where or h.channel,
        member=member or manager(h),
    )
    await it.wait_for(lambda i: i.callbacks, timeout=5)  # saved before the next step
    return it


def manager(h: Harness) -> FakeMember:
    """A member with Manage Server (created once per harness)."""
    found = next((m for m in h.guild.members if m.name == "manager"), None)
    if found is not None:
        return found
    perms = h.guild.everyone_role.permissions | MANAGE_GUILD
    return h.discord.add_member(h.guild, name="manager", permissions=perms)


async def reply(it: FakeInteraction) -> FakeMessage:
    """The first, ephemeral answer to an interaction."""
    await it.wait_for(lambda i: i.callbacks, timeout=5)
    first = it.callbacks[0]
    assert first.type == 4, first
    assert first.data is not None
    assert first.data.get("flags", 0) & EPHEMERAL
    assert it.original is not None
    return it.original


async def text(it: FakeInteraction) -> str:
    message = await reply(it)
    parts = [message.content]
    for embed in message.embeds:
        parts += [embed.get("title", ""), embed.get("description", "")]
        parts += [f"{f['name']}: {f['value']}" for f in embed.get("fields", [])]
    return "\n".join(parts)


def finished(it: FakeInteraction) -> FakeMessage | None:
    message = it.final_message
    if message is None or not message.embeds:
        return None
    return None if message.embeds[0].get("title") == "Making your video" else message


async def video(
    h: Harness,
    prompt: str,
    *,
    member: FakeMember | None = None,
    channel: FakeChannel | None = None,
    seconds: int | None = None,
) -> FakeInteraction:
    """`/video` by a member, in a channel of the harness's guild."""
    options: list[dict[str, Any]] = [{"name": "prompt", "type": STRING, "value": prompt}]
    if seconds is not None:
        options.append({"name": "seconds", "type": INTEGER, "value": seconds})
    return await h.discord.send_interaction(
        "video", options, guild=h.guild, channel=channel or h.channel, member=member or h.member
    )


async def made_a_video(h: Harness, **kwargs: Any) -> None:
    it = await video(h, "a short one [duration=1]", **kwargs)
    message = await it.wait_for(lambda i: finished(i) or (i.ephemeral and i.original), timeout=20)
    assert message.embeds, f"refused: {message.content}"
    assert message.embeds[0]["title"] == "Your video is ready"


async def refused(h: Harness, needle: str, **kwargs: Any) -> None:
    creates = h.creates
    it = await video(h, "not here [duration=1]", **kwargs)
    assert needle in await text(it)
    assert h.creates == creates


async def policy(h: Harness) -> GuildPolicy:
    return await h.bot.service.policy(h.guild.id)


@pytest.fixture
async def harness(tmp_path: Path):
    async with running_harness(tmp_path) as running:
        yield running


# -- the command's shape --------------------------------------------------------------------------


async def test_the_group_is_synced_for_managers_in_servers_only(harness: Harness) -> None:
    (sync,) = harness.discord.command_syncs
    group = next(c for c in sync.commands if c["name"] == "video-admin")
    assert int(group["default_member_permissions"]) == MANAGE_GUILD
    assert group["dm_permission"] is False
    options = {o["name"]: o for o in group["options"]}
    assert set(options) == {
        "enable",
        "disable",
        "channel",
        "role",
        "models",
        "max-seconds",
        "limits",
        "show",
        "usage",
        "moderation",
        "spoilers",
        "age-restricted",
        "mod-log",
        "card",
        "language",
    }
    assert options["channel"]["type"] == SUB_COMMAND_GROUP
    assert [o["name"] for o in options["channel"]["options"]] == ["add", "remove", "clear"]
    (role,) = options["role"]["options"][0]["options"]
    assert role["type"] == ROLE
    limits = {o["name"]: o for o in options["limits"]["options"]}
    assert limits["user-daily-budget"]["type"] == NUMBER
    assert limits["user-daily-budget"]["min_value"] == 0
    assert not any(o.get("required") for o in limits.values())
    (period,) = options["usage"]["options"]
    assert [c["name"] for c in period["choices"]] == ["today", "7 days", "30 days"]
    harness.discord.assert_spec_clean()


# -- who may change settings ----------------------------------------------------------------------


async def test_members_without_manage_server_are_refused_at_run_time(harness: Harness) -> None:
    for path in ("disable", "show", "usage"):
        it = await admin(harness, path, member=harness.member)
        assert await text(it) == ADMIN_ONLY
    it = await admin(harness, "channel add", member=harness.member, channel=harness.channel.id)
    assert await text(it) == ADMIN_ONLY
    assert await policy(harness) == GuildPolicy()


# -- each setting persists and shows --------------------------------------------------------------


async def test_settings_persist_and_show_with_the_operator_limits(tmp_path: Path) -> None:
    async with running_harness(tmp_path, user_daily_count=5, daily_budget="50") as h:
        role = h.discord.add_role(h.guild, "creators")
        steps: list[tuple[str, dict[str, Any], str]] = [
            ("disable", {}, "The video bot is off"),
            ("channel add", {"channel": str(h.channel.id)}, f"<#{h.channel.id}>"),
            ("role add", {"role": str(role.id)}, f"<@&{role.id}>"),
            ("models", {"models": "Sora-2-pro, sora-2"}, "sora-2, sora-2-pro"),
            ("max-seconds", {"seconds": 8}, "at most 8 s"),
            (
                "limits",
                {"user_daily_count": 10, "user_daily_budget": 2.5, "guild_daily_budget": 20},
                "Saved",
            ),
        ]
        for path, options, needle in steps:
            assert needle in await text(await admin(h, path, **options)), path

        assert await policy(h) == GuildPolicy(
            enabled=False,
            channels=frozenset({h.channel.id}),
            roles=frozenset({role.id}),
            models=frozenset({"sora-2", "sora-2-pro"}),
            max_seconds=8,
            user_daily_count=10,
            user_daily_budget=Decimal("2.50"),
            guild_daily_budget=Decimal("20.00"),
        )
        shown = await text(await admin(h, "show"))
        assert "**Off**" in shown
        assert f"Channels: <#{h.channel.id}>" in shown
        assert f"Roles: <@&{role.id}>" in shown
        assert "Models: sora-2, sora-2-pro" in shown
        assert "Longest video: 8 s" in shown
        # The operator's 5 a day is tighter than the server's 10: it is the one that applies.
        assert "This server: 10 a day\nOperator: 5 a day\nApplies: **5 a day**" in shown
        assert "This server: $2.50 a day\nOperator: none\nApplies: **$2.50 a day**" in shown
        assert "Operator's budget for all servers: $50.00 a day" in shown

        assert "Saved" in await text(await admin(h, "limits", user_daily_count=0))
        assert "every model" in await text(await admin(h, "models", models="all"))
        assert (await policy(h)).user_daily_count is None
        assert (await policy(h)).models == frozenset()
        h.discord.assert_spec_clean()


@pytest.mark.parametrize(
    ("path", "options", "needle"),
    [
        ("models", {"models": "sora-3, sora-2"}, "Unknown model(s): sora-3. Choose from: sora-2,"),
        ("models", {"models": " , "}, "Name at least one model"),
        ("max-seconds", {"seconds": 2}, "shortest video any model makes is 4 s"),
        ("limits", {"user_daily_budget": 0.001}, "at least 0.01"),
    ],
)
async def test_bad_values_are_explained_and_not_saved(
    harness: Harness, path: str, options: dict[str, Any], needle: str
) -> None:
    said = await text(await admin(harness, path, **options))
    assert needle in said
    assert "Traceback" not in said
    assert await policy(harness) == GuildPolicy()


async def test_everyone_is_not_a_role_to_allow(harness: Harness) -> None:
    it = await admin(harness, "role add", role=str(harness.guild.everyone_role.id))
    assert "role clear" in await text(it)
    assert await policy(harness) == GuildPolicy()


# -- the allow-lists at /video --------------------------------------------------------------------


async def test_channels_refuse_elsewhere_until_cleared(harness: Harness) -> None:
    lobby = harness.discord.add_channel(harness.guild, name="lobby")
    await admin(harness, "channel add", channel=str(harness.channel.id))
    await refused(harness, f"Videos can be made only in <#{harness.channel.id}>.", channel=lobby)
    # Admin commands still work anywhere, even in a channel not on the list.
    assert "Channels" in await text(await admin(harness, "show", where=lobby))
    await made_a_video(harness)  # the listed channel works

    assert "not on the list" in await text(
        await admin(harness, "channel remove", channel=str(lobby.id))
    )
    await admin(harness, "channel clear")
    await made_a_video(harness, channel=lobby)
    assert harness.creates == 2


async def test_roles_refuse_members_without_one_until_cleared(harness: Harness) -> None:
    creators = harness.discord.add_role(harness.guild, "creators")
    other = harness.discord.add_role(harness.guild, "viewers")
    bob = harness.discord.add_member(harness.guild, name="bob", roles=[other, creators])
    await admin(harness, "role add", role=str(creators.id))

    await refused(harness, f"You need one of these roles to make videos: <@&{creators.id}>.")
    await made_a_video(harness, member=bob)  # any listed role is enough
    await made_a_video(harness, member=manager(harness))  # Manage Server always passes

    await admin(harness, "role clear")
    await made_a_video(harness)
    assert harness.creates == 3


async def test_a_disabled_bot_refuses_video_but_admins_can_turn_it_on(harness: Harness) -> None:
    await admin(harness, "disable")
    await refused(harness, "The video bot is turned off in this server.")
    await refused(harness, "Turn it on with /video-admin enable.", member=manager(harness))

    assert "on: members can make videos again" in await text(await admin(harness, "enable"))
    await made_a_video(harness)
    assert harness.creates == 1


async def test_the_operators_guild_list_binds_every_command(tmp_path: Path) -> None:
    allowed = 4242424242424242
    async with running_harness(tmp_path, allowed_guilds=f"{allowed}, 1") as h:
        await refused(h, OTHER_SERVER)
        assert await text(await admin(h, "enable")) == OTHER_SERVER
        assert await text(await admin(h, "show")) == OTHER_SERVER

        club = h.discord.add_guild(guild_id=allowed, name="Allowed Club")
        lounge = h.discord.add_channel(club, name="lounge")
        boss = h.discord.add_member(club, name="boss", permissions=MANAGE_GUILD)
        it = await h.discord.send_interaction(
            "video-admin",
            [{"name": "show", "type": SUB_COMMAND}],
            guild=club,
            channel=lounge,
            member=boss,
        )
        assert "Video bot settings for this server" in await text(it)
        assert h.creates == 0


# -- usage ----------------------------------------------------------------------------------------


async def test_usage_lists_members_and_the_total(harness: Harness) -> None:
    bob = harness.discord.add_member(harness.guild, name="bob")
    await made_a_video(harness, seconds=8)
    await made_a_video(harness, member=bob)
    await made_a_video(harness, member=bob)

    message = await reply(await admin(harness, "usage", period="7d"))
    (embed,) = message.embeds
    assert embed["title"] == "Video usage in this server, the last 7 days"
    assert embed["description"].splitlines() == [
        f"<@{bob.id}>: 2 videos · 8 s · $0.80",
        f"<@{harness.member.id}>: 1 video · 8 s · $0.80",
    ]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Total"] == "3 videos · 16 s · $1.60"
    assert "3 videos" in await text(await admin(harness, "usage"))  # today, by default
    harness.discord.assert_spec_clean()


# -- rendering (no Discord) -----------------------------------------------------------------------


def test_a_long_usage_list_is_cut_with_a_count_of_the_rest() -> None:
    rows = [MemberUsage(10**17 + n, Usage(1, 4, Decimal("0.40"))) for n in range(200)]
    total = Usage(200, 800, Decimal("80.00"))
    embed = usage_embed(PERIODS["30d"], 0.0, rows, total)
    description = embed.description or ""
    assert len(description) <= 4096
    kept = description.count("<@")
    assert description.endswith(f"… and {200 - kept} more")
    assert 50 < kept < 200


def test_join_within_never_exceeds_its_limit() -> None:
    items = [f"item-{n}" for n in range(50)]
    for limit in range(5, 120):
        joined = join_within(items, limit)
        assert len(joined) <= limit or joined == "… and 50 more"
    assert join_within(["a", "b"], 10) == "a, b"


def test_periods_start_at_utc_midnight() -> None:
    now = datetime(2026, 3, 10, 15, 30, tzinfo=UTC)
    assert PERIODS["today"].since(now) == datetime(2026, 3, 10, tzinfo=UTC).timestamp()
    assert PERIODS["7d"].since(now) == datetime(2026, 3, 4, tzinfo=UTC).timestamp()
    assert PERIODS["30d"].since(now) == datetime(2026, 2, 9, tzinfo=UTC).timestamp()
