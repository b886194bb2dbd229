"""Embeds for `/video-admin show` and `/video-admin usage` (pure: no I/O)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import discord

from bot.discord_adapter import spoilers
from bot.discord_adapter.render import cost_text, money, timestamp
from bot.domain import (
    GuildPolicy,
    MemberUsage,
    OperatorLimits,
    ProviderHealth,
    Usage,
    effective_limits,
)

DESCRIPTION_LIMIT = 4096  # Discord's limit for an embed description
FIELD_LIMIT = 1024  # ... and for a field value
_ON = discord.Colour.green()
_OFF = discord.Colour.dark_grey()
_USAGE = discord.Colour.blurple()
WARNING = "\N{WARNING SIGN}\N{VARIATION SELECTOR-16}"


@dataclass(frozen=True)
class Period:
    """A usage window of whole UTC days, ending now."""

    label: str
    days: int

    def since(self, now: datetime) -> float:
        """The UTC midnight that starts the window (today's for a one-day period)."""
        midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return (midnight - timedelta(days=self.days - 1)).timestamp()


PERIODS = {
    "today": Period("today", 1),
    "7d": Period("the last 7 days", 7),
    "30d": Period("the last 30 days", 30),
}


# -- the community settings: words shared by `show` and the commands' confirmations --------------

SPOILER_MODES = {
    spoilers.ALL: "Every video is posted behind a spoiler.",
    spoilers.FLAGGED: (
        "Videos go behind a spoiler when the prompt check or the video service flags them."
    ),
    spoilers.OFF: "Videos are never posted behind a spoiler, flagged or not.",
}
_SPOILERS_SHOWN = {
    spoilers.ALL: "Every video",
    spoilers.FLAGGED: "Flagged videos (the default)",
    spoilers.OFF: "None",
}
MODERATION_MODES = {
    "operator": "Prompts are checked as the bot's operator set it up (the default).",
    "off": "Prompts are not checked in this server; the video service's own checks still apply.",
    "strict": (
        "Prompts in the categories the operator lets through behind a spoiler are refused too."
    ),
}
_MODERATION_SHOWN = {
    "operator": "As the operator set it up (the default)",
    "off": "Off in this server",
    "strict": "Strict: spoiler-only categories are refused",
}


def community_fields(policy: GuildPolicy) -> list[tuple[str, str]]:
    """(name, value) of the prompt check, spoilers, age-restricted channels and mod log."""
    age = (
        "Required: /video works only in age-restricted channels"
        if policy.age_restricted_only
        else "Not required"
    )
    log = "Off" if policy.mod_log_channel is None else f"<#{policy.mod_log_channel}>"
    return [
        ("Prompt check", _MODERATION_SHOWN.get(policy.moderation, policy.moderation)),
        ("Spoilers", _SPOILERS_SHOWN.get(policy.spoilers, policy.spoilers)),
        ("Age-restricted channels", age),
        ("Mod log", log),
    ]


def _count(value: int | None) -> str:
    return "none" if value is None else f"{value} a day"


def _amount(value: Decimal | None) -> str:
    return "none" if value is None else f"{money(value)} a day"


def _limit_field(guild: str, operator: str, applies: str) -> str:
    return f"This server: {guild}\nOperator: {operator}\nApplies: **{applies}**"


def join_within(items: Sequence[str], limit: int, *, separator: str = ", ") -> str:
    """Join as many items as fit in `limit` characters, then say how many were left out."""
    if len(separator.join(items)) <= limit:
        return separator.join(items)
    gap = "\n" if "\n" in separator else " "

    def more(count: int) -> str:
        return f"{gap}… and {count} more" if count else ""

    out = ""
    for n, item in enumerate(items):
        candidate = item if not out else out + separator + item
        if len(candidate) + len(more(len(items) - n - 1)) > limit:
            return out + more(len(items) - n) if out else f"… and {len(items)} more"
        out = candidate
    return out


def _mentions(kind: str, ids: Iterable[int], empty: str, limit: int = FIELD_LIMIT) -> str:
    items = [f"<{kind}{i}>" for i in sorted(ids)]
    return join_within(items, limit) if items else empty


def settings_embed(
    policy: GuildPolicy,
    operator: OperatorLimits,
    *,
    retirements: Sequence[str] = (),
    providers: Sequence[ProviderHealth] = (),
) -> discord.Embed:
    """The guild's settings next to the operator's, and the limits that result; models that
    retire soon and providers that are down, when there are any."""
    if policy.enabled:
        state = "**On**: members can make videos with /video."
    else:
        state = "**Off**: /video is refused until someone runs /video-admin enable."
    embed = discord.Embed(
        title="Video bot settings for this server",
        description=state,
        colour=_ON if policy.enabled else _OFF,
    )
    embed.add_field(
        name="Channels", value=_mentions("#", policy.channels, "Any channel"), inline=False
    )
    managers = "\n(members with Manage Server always can)" if policy.roles else ""
    roles = _mentions("@&", policy.roles, "Anyone", FIELD_LIMIT - len(managers)) + managers
    embed.add_field(name="Roles", value=roles, inline=False)
    models = join_within(sorted(policy.models), FIELD_LIMIT) if policy.models else "Every model"
    embed.add_field(name="Models", value=models, inline=True)
    longest = "the models' own" if policy.max_seconds is None else f"{policy.max_seconds} s"
    embed.add_field(name="Longest video", value=longest, inline=True)

    applies = effective_limits(policy, operator)
    embed.add_field(
        name="Videos per member",
        value=_limit_field(
            _count(policy.user_daily_count),
            _count(operator.user_daily_count),
            _count(applies.user_daily_count),
        ),
        inline=True,
    )
    embed.add_field(
        name="Budget per member",
        value=_limit_field(
            _amount(policy.user_daily_budget),
            _amount(operator.user_daily_budget),
            _amount(applies.user_daily_budget),
        ),
        inline=True,
    )
    embed.add_field(
        name="Budget for the server",
        value=_limit_field(
            _amount(policy.guild_daily_budget),
            _amount(operator.guild_daily_budget),
            _amount(applies.guild_daily_budget),
        ),
        inline=True,
    )
    embed.add_field(
        name="Operator's budget for all servers",
        value=_amount(operator.daily_budget),
        inline=True,
    )
    embed.add_field(
        name="Videos in progress per member",
        value=f"{operator.max_per_user} at once (operator)",
        inline=True,
    )
    for name, value in community_fields(policy):
        embed.add_field(name=name, value=value, inline=True)
    notices = notice_lines(retirements, providers)
    if notices:
        embed.add_field(
            name="Heads-up", value=join_within(notices, FIELD_LIMIT, separator="\n"), inline=False
        )
    embed.set_footer(
        text="Days are UTC days. Server settings can only tighten the operator's limits."
    )
    return embed


def notice_lines(retirements: Sequence[str], providers: Sequence[ProviderHealth]) -> list[str]:
    """ "⚠️ veo-3.1-preview retires on ...", "⚠️ Provider openrouter is down (skipped until
    14:05)": the time in each reader's own time zone."""
    lines = [f"{WARNING} {note}" for note in retirements]
    for provider in providers:
        if provider.down_until is None:
            continue
        until = timestamp(provider.down_until, "t")
        lines.append(f"{WARNING} Provider {provider.name} is down (skipped until {until})")
    return lines


def usage_line(usage: Usage) -> str:
    videos = "1 video" if usage.videos == 1 else f"{usage.videos} videos"
    return f"{videos} · {usage.seconds} s · {money(usage.cost)}"


def billing_lines(usage: Usage) -> str:
    """Charged, in progress, unknown and refunded, as `bot.domain.billing` splits them."""
    lines = [f"Charged: {money(usage.charged)}"]
    if usage.reserved:
        lines.append(f"In progress: {money(usage.reserved)}")
    lines.append(f"Unknown (may be billed): {money(usage.unknown)}")
    refunds = "1 video" if usage.refunded_videos == 1 else f"{usage.refunded_videos} videos"
    lines.append(f"Refunded: {money(usage.refunded)} ({refunds})")
    settled = settled_line(usage)
    if settled is not None:
        lines.append(settled)
    return "\n".join(lines)


def refusals_line(usage: Usage) -> str:
    """ "2 (prompt 1, result 1)": jobs the provider refused for their content."""
    total = usage.refused_input + usage.refused_output
    return f"{total} (prompt {usage.refused_input}, result {usage.refused_output})"


def settled_line(usage: Usage) -> str | None:
    """ "Settled: est. $1.20 → billed $1.08": the jobs whose provider reported its bill (the
    amounts above already count the bill for them)."""
    if not usage.estimated_settled and not usage.billed_settled:
        return None
    return f"Settled: {cost_text(usage.estimated_settled, usage.billed_settled)}"


def usage_embed(
    period: Period,
    since: float,
    members: Sequence[MemberUsage],
    total: Usage,
    *,
    limit: int = DESCRIPTION_LIMIT,
) -> discord.Embed:
    """Per-member usage, busiest first, cut to fit the embed's description."""
    lines = [f"<@{m.user_id}>: {usage_line(m.usage)}" for m in members]
    description = join_within(lines, limit, separator="\n") if lines else "No videos yet."
    embed = discord.Embed(
        title=f"Video usage in this server, {period.label}",
        description=description,
        colour=_USAGE,
    )
    embed.add_field(name="Total", value=usage_line(total), inline=False)
    embed.add_field(name="Money", value=billing_lines(total), inline=False)
    embed.add_field(name="Refused by the video service", value=refusals_line(total), inline=False)
    embed.add_field(name="Since", value=timestamp(since, "f"), inline=False)
    embed.set_footer(
        text=(
            "Estimated from the catalogue's prices, or what the video service billed where it"
            " said (Settled). What the video service may bill counts:"
            " videos in progress, made, stopped or timed out. Refunded: never sent, or failed"
            " at the video service."
        )
    )
    return embed
