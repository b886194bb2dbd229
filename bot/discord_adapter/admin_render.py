"""Embeds for `/video-admin show` and `/video-admin usage` (pure: no I/O)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import discord

from bot import i18n
from bot.discord_adapter import spoilers
from bot.discord_adapter.render import cost_text, money, seconds_text, timestamp
from bot.domain import (
    GuildPolicy,
    MemberUsage,
    OperatorLimits,
    ProviderHealth,
    Usage,
    effective_limits,
)
from bot.i18n import N_, _, ngettext

DESCRIPTION_LIMIT = 4096  # Discord's limit for an embed description
FIELD_LIMIT = 1024  # ... and for a field value
_ON = discord.Colour.green()
_OFF = discord.Colour.dark_grey()
_USAGE = discord.Colour.blurple()
WARNING = "\N{WARNING SIGN}\N{VARIATION SELECTOR-16}"


@dataclass(frozen=True)
class Period:
    """A usage window of whole UTC days, ending now; `title` is the usage embed's (a message,
    N_: translated when the embed is drawn)."""

    title: str
    days: int

    def since(self, now: datetime) -> float:
        """The UTC midnight that starts the window (today's for a one-day period)."""
        midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return (midnight - timedelta(days=self.days - 1)).timestamp()


PERIODS = {
    "today": Period(N_("Video usage in this server, today"), 1),
    "7d": Period(N_("Video usage in this server, the last 7 days"), 7),
    "30d": Period(N_("Video usage in this server, the last 30 days"), 30),
}


# -- the community settings: words shared by `show` and the commands' confirmations --------------
# Messages (N_): `_(SPOILER_MODES[mode])` where they are shown.

SPOILER_MODES = {
    spoilers.ALL: N_("Every video is posted behind a spoiler."),
    spoilers.FLAGGED: N_(
        "Videos go behind a spoiler when the prompt check or the video service flags them."
    ),
    spoilers.OFF: N_("Videos are never posted behind a spoiler, flagged or not."),
}
_SPOILERS_SHOWN = {
    # TRANSLATORS: the spoiler setting in a server's settings: which videos go behind one.
    spoilers.ALL: N_("Every video"),
    spoilers.FLAGGED: N_("Flagged videos (the default)"),
    # TRANSLATORS: the spoiler setting in a server's settings: no video goes behind one.
    spoilers.OFF: N_("None"),
}
MODERATION_MODES = {
    "operator": N_("Prompts are checked as the bot's operator set it up (the default)."),
    "off": N_(
        "Prompts are not checked in this server; the video service's own checks still apply."
    ),
    "strict": N_(
        "Prompts in the categories the operator lets through behind a spoiler are refused too."
    ),
}
_MODERATION_SHOWN = {
    # TRANSLATORS: the prompt check setting in a server's settings.
    "operator": N_("As the operator set it up (the default)"),
    "off": N_("Off in this server"),
    "strict": N_("Strict: spoiler-only categories are refused"),
}


def _shown(table: dict[str, str], key: str) -> str:
    message = table.get(key)
    return key if message is None else _(message)


def community_fields(policy: GuildPolicy) -> list[tuple[str, str]]:
    """(name, value) of the prompt check, spoilers, age-restricted channels and mod log."""
    if policy.age_restricted_only:
        age = _("Required: /video works only in age-restricted channels")
    else:
        # TRANSLATORS: age-restricted channels are not required for /video.
        age = _("Not required")
    # TRANSLATORS: the server has no mod log.
    log = _("Off") if policy.mod_log_channel is None else f"<#{policy.mod_log_channel}>"
    chosen = i18n.CHOICES.get(policy.language or "")
    # TRANSLATORS: the server set no language of its own: its Discord language applies.
    language = _("The server's own (auto)") if chosen is None else chosen
    return [
        # TRANSLATORS: a field of a server's settings: whether prompts are checked.
        (_("Prompt check"), _shown(_MODERATION_SHOWN, policy.moderation)),
        # TRANSLATORS: a field of a server's settings: which videos go behind a spoiler.
        (_("Spoilers"), _shown(_SPOILERS_SHOWN, policy.spoilers)),
        # TRANSLATORS: a field of a server's settings: whether /video needs them.
        (_("Age-restricted channels"), age),
        # TRANSLATORS: a field of a server's settings: the channel refusals are noted in.
        (_("Mod log"), log),
        # TRANSLATORS: a field of a server's settings: the language of its public cards.
        (_("Language of the cards"), language),
    ]


def _count(value: int | None) -> str:
    # TRANSLATORS: no limit is set.
    return _("none") if value is None else _("{count} a day", count=i18n.number(value))


def _amount(value: Decimal | None) -> str:
    return _("none") if value is None else _("{amount} a day", amount=money(value))


def _limit_field(guild: str, operator: str, applies: str) -> str:
    # TRANSLATORS: a daily limit as this server set it, as the bot's operator set it, and the
    # one that applies (the lowest); each is "none" or "5 a day" or "$2.00 a day".
    return _(
        "This server: {server}\nOperator: {operator}\nApplies: **{applies}**",
        server=guild,
        operator=operator,
        applies=applies,
    )


def join_within(items: Sequence[str], limit: int, *, separator: str = ", ") -> str:
    """Join as many items as fit in `limit` characters, then say how many were left out."""
    if len(separator.join(items)) <= limit:
        return separator.join(items)
    gap = "\n" if "\n" in separator else " "

    def more(count: int) -> str:
        return f"{gap}{and_more(count)}" if count else ""

    out = ""
    for n, item in enumerate(items):
        candidate = item if not out else out + separator + item
        if len(candidate) + len(more(len(items) - n - 1)) > limit:
            return out + more(len(items) - n) if out else and_more(len(items))
        out = candidate
    return out


def and_more(count: int) -> str:
    """ "… and 3 more": the end of a list cut short."""
    # TRANSLATORS: the end of a list cut short to fit.
    return ngettext("… and {n} more", "… and {n} more", count)


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
        state = _("**On**: members can make videos with /video.")
    else:
        state = _("**Off**: /video is refused until someone runs /video-admin enable.")
    embed = discord.Embed(
        title=_("Video bot settings for this server"),
        description=state,
        colour=_ON if policy.enabled else _OFF,
    )
    embed.add_field(
        # TRANSLATORS: a field of a server's settings: where /video works.
        name=_("Channels"),
        value=_mentions("#", policy.channels, _("Any channel")),
        inline=False,
    )
    # TRANSLATORS: under the roles that may use /video; "Manage Server" is Discord's permission.
    managers = "\n" + _("(members with Manage Server always can)") if policy.roles else ""
    # TRANSLATORS: any member may use /video.
    roles = _mentions("@&", policy.roles, _("Anyone"), FIELD_LIMIT - len(managers)) + managers
    # TRANSLATORS: a field of a server's settings: who may use /video.
    embed.add_field(name=_("Roles"), value=roles, inline=False)
    models = join_within(sorted(policy.models), FIELD_LIMIT) if policy.models else _("Every model")
    # TRANSLATORS: a field of a server's settings: the video models members may use.
    embed.add_field(name=_("Models"), value=models, inline=True)
    if policy.max_seconds is None:
        # TRANSLATORS: the longest video is each model's own longest.
        longest = _("the models' own")
    else:
        longest = seconds_text(policy.max_seconds)
    embed.add_field(name=_("Longest video"), value=longest, inline=True)

    applies = effective_limits(policy, operator)
    embed.add_field(
        # TRANSLATORS: a field of a server's settings: how many videos a member may make a day.
        name=_("Videos per member"),
        value=_limit_field(
            _count(policy.user_daily_count),
            _count(operator.user_daily_count),
            _count(applies.user_daily_count),
        ),
        inline=True,
    )
    embed.add_field(
        # TRANSLATORS: a field of a server's settings: how much a member may spend a day.
        name=_("Budget per member"),
        value=_limit_field(
            _amount(policy.user_daily_budget),
            _amount(operator.user_daily_budget),
            _amount(applies.user_daily_budget),
        ),
        inline=True,
    )
    embed.add_field(
        # TRANSLATORS: a field of a server's settings: how much the server may spend a day.
        name=_("Budget for the server"),
        value=_limit_field(
            _amount(policy.guild_daily_budget),
            _amount(operator.guild_daily_budget),
            _amount(applies.guild_daily_budget),
        ),
        inline=True,
    )
    embed.add_field(
        name=_("Operator's budget for all servers"),
        value=_amount(operator.daily_budget),
        inline=True,
    )
    embed.add_field(
        name=_("Videos in progress per member"),
        # TRANSLATORS: how many videos a member may have in progress, as the operator set it.
        value=_("{count} at once (operator)", count=i18n.number(operator.max_per_user)),
        inline=True,
    )
    for name, value in community_fields(policy):
        embed.add_field(name=name, value=value, inline=True)
    notices = notice_lines(retirements, providers)
    if notices:
        embed.add_field(
            # TRANSLATORS: a field of a server's settings: models retiring, providers down.
            name=_("Heads-up"),
            value=join_within(notices, FIELD_LIMIT, separator="\n"),
            inline=False,
        )
    embed.set_footer(
        text=_("Days are UTC days. Server settings can only tighten the operator's limits.")
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
        # TRANSLATORS: {provider} is a video service's name; {until}: a time of day.
        down = _(
            "Provider {provider} is down (skipped until {until})",
            provider=provider.name,
            until=until,
        )
        lines.append(f"{WARNING} {down}")
    return lines


def usage_line(usage: Usage) -> str:
    videos = ngettext("{n} video", "{n} videos", usage.videos)
    return f"{videos} · {seconds_text(usage.seconds)} · {money(usage.cost)}"


def billing_lines(usage: Usage) -> str:
    """Charged, in progress, unknown and refunded, as `bot.domain.billing` splits them."""
    # TRANSLATORS: money the video service charged.
    lines = [_("Charged: {amount}", amount=money(usage.charged))]
    if usage.reserved:
        # TRANSLATORS: money held for videos being made.
        lines.append(_("In progress: {amount}", amount=money(usage.reserved)))
    lines.append(_("Unknown (may be billed): {amount}", amount=money(usage.unknown)))
    lines.append(
        # TRANSLATORS: money refunded by the video service, for {n} videos.
        ngettext(
            "Refunded: {amount} ({n} video)",
            "Refunded: {amount} ({n} videos)",
            usage.refunded_videos,
            amount=money(usage.refunded),
        )
    )
    settled = settled_line(usage)
    if settled is not None:
        lines.append(settled)
    return "\n".join(lines)


def refusals_line(usage: Usage) -> str:
    """ "2 (prompt 1, result 1)": jobs the provider refused for their content."""
    total = usage.refused_input + usage.refused_output
    # TRANSLATORS: videos refused by the video service: {total} in all, {prompt} for their
    # prompt, {result} for the video made.
    return _(
        "{total} (prompt {prompt}, result {result})",
        total=i18n.number(total),
        prompt=i18n.number(usage.refused_input),
        result=i18n.number(usage.refused_output),
    )


def settled_line(usage: Usage) -> str | None:
    """ "Settled: est. $1.20 → billed $1.08": the jobs whose provider reported its bill (the
    amounts above already count the bill for them)."""
    if not usage.estimated_settled and not usage.billed_settled:
        return None
    # TRANSLATORS: {cost}: "est. $1.20 → billed $1.08", for the videos whose bill is known.
    return _("Settled: {cost}", cost=cost_text(usage.estimated_settled, usage.billed_settled))


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
    description = join_within(lines, limit, separator="\n") if lines else _("No videos yet.")
    embed = discord.Embed(title=_(period.title), description=description, colour=_USAGE)
    # TRANSLATORS: a field of the usage: every member's videos together.
    embed.add_field(name=_("Total"), value=usage_line(total), inline=False)
    # TRANSLATORS: a field of the usage: what the videos cost.
    embed.add_field(name=_("Money"), value=billing_lines(total), inline=False)
    embed.add_field(
        name=_("Refused by the video service"), value=refusals_line(total), inline=False
    )
    # TRANSLATORS: a field of the usage: when the period counted starts.
    embed.add_field(name=_("Since"), value=timestamp(since, "f"), inline=False)
    embed.set_footer(
        # TRANSLATORS: "Settled" and "Refunded" are the words of the usage's Money field.
        text=_(
            "Estimated from the catalogue's prices, or what the video service billed where it"
            " said (Settled). What the video service may bill counts:"
            " videos in progress, made, stopped or timed out. Refunded: never sent, or failed"
            " at the video service."
        )
    )
    return embed
