"""`/video-admin`: a server's own guardrails, set by members with Manage Server."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any, Literal

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot import i18n
from bot.catalogue import Catalogue
from bot.discord_adapter.access import ADMIN_COMMAND, ADMIN_ONLY, AccessDenied
from bot.discord_adapter.admin_render import (
    FIELD_LIMIT,
    MODERATION_MODES,
    PERIODS,
    SPOILER_MODES,
    join_within,
    settings_embed,
    usage_embed,
)
from bot.discord_adapter.interactions import card_locale, manages_guild, requester_of
from bot.discord_adapter.reply import MESSAGE_LIMIT
from bot.domain import GuildPolicy
from bot.i18n import N_, _

if TYPE_CHECKING:
    from bot.discord_adapter.client import VideoBot

_CENT = Decimal("0.01")
ALL_MODELS = "all"

Budget = app_commands.Range[float, 0, 1_000_000]


class SettingRejected(ValueError):  # noqa: N818 - a rejection, not a crash
    """An admin's value cannot be used; the message says what can."""


def parse_models(text: str, catalogue: Catalogue) -> frozenset[str]:
    """Comma-separated catalogue names (any case), or "all" for no restriction."""
    if text.strip().lower() == ALL_MODELS:
        return frozenset()
    by_lower = {name.lower(): name for name in catalogue.names()}
    given = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in given if name.lower() not in by_lower]
    if unknown:
        listed = join_within(unknown, 500)
        # TRANSLATORS: {unknown} and {models} are lists of model names; `all` is typed as is.
        message = N_("Unknown model(s): {unknown}. Choose from: {models}; or `all`.")
        raise SettingRejected(_within(message, catalogue.names(), unknown=listed))
    if not given:
        # TRANSLATORS: {models} is a list of model names; `all` is typed as is.
        message = N_("Name at least one model ({models}), or `all`.")
        raise SettingRejected(_within(message, catalogue.names()))
    return frozenset(by_lower[name.lower()] for name in given)


def _within(message: str, models: list[str], **params: str) -> str:
    """`message` with as many of `models` as fit in one Discord message, in `{models}`."""
    room = MESSAGE_LIMIT - len(_(message, models="", **params))
    return _(message, models=join_within(models, room), **params)


def parse_max_seconds(seconds: int, catalogue: Catalogue) -> int | None:
    """0 removes the limit; a limit below every model's shortest video would block them all."""
    if seconds == 0:
        return None
    shortest = min(catalogue.all_seconds())
    if seconds < shortest:
        raise SettingRejected(
            _(
                "The shortest video any model makes is {seconds} s: use at least that, "
                "or 0 to remove the limit.",
                seconds=i18n.number(shortest),
            )
        )
    return seconds


def parse_budget(value: float) -> Decimal | None:
    """Dollars to cents; 0 removes the server's limit (the operator's still applies)."""
    if value == 0:
        return None
    amount = Decimal(str(value)).quantize(_CENT, rounding=ROUND_HALF_UP)
    if amount == 0:
        raise SettingRejected(
            _(
                "Budgets are in cents: use at least {cent}, or 0 to remove it.",
                cent=i18n.number(_CENT),
            )
        )
    return amount


class PlaceOption(app_commands.Transformer[Any]):
    """A channel option for places members post in: threads follow their channel instead."""

    @property
    def type(self) -> discord.AppCommandOptionType:
        return discord.AppCommandOptionType.channel

    @property
    def channel_types(self) -> list[discord.ChannelType]:
        kinds = discord.ChannelType
        return [kinds.text, kinds.news, kinds.voice, kinds.stage_voice, kinds.forum, kinds.category]

    async def transform(
        self, interaction: discord.Interaction[Any], value: Any, /
    ) -> app_commands.AppCommandChannel:
        # Discord's own resolved data: no need for the channel to be in the bot's cache.
        if not isinstance(value, app_commands.AppCommandChannel):
            raise app_commands.TransformerError(value, self.type, self)
        return value


Place = app_commands.Transform[app_commands.AppCommandChannel, PlaceOption]


class LogChannelOption(PlaceOption):
    """A channel the bot can post its mod log in: a text or announcement channel."""

    @property
    def channel_types(self) -> list[discord.ChannelType]:
        return [discord.ChannelType.text, discord.ChannelType.news]


LogChannel = app_commands.Transform[app_commands.AppCommandChannel, LogChannelOption]
SpoilerMode = Literal["all", "flagged", "off"]
ModerationMode = Literal["operator", "off", "strict"]
CardStyle = Literal["v2", "classic", "operator"]
CARD_STYLES = {
    "v2": N_("Replies are one Components V2 card: the video plays inside it, the buttons below."),
    "classic": N_("Replies are the classic embed card, with the video attached."),
}
# The same, when the server takes the operator's default.
DEFAULT_CARD_STYLES = {
    "v2": N_(
        "The bot's default applies: replies are one Components V2 card: the video plays inside"
        " it, the buttons below."
    ),
    "classic": N_(
        "The bot's default applies: replies are the classic embed card, with the video attached."
    ),
}


def _guild_id(interaction: discord.Interaction[Any]) -> int:
    if interaction.guild_id is None:
        raise app_commands.NoPrivateMessage
    return interaction.guild_id


def _listing(kind: str, ids: frozenset[int]) -> str:
    return join_within([f"<{kind}{i}>" for i in sorted(ids)], FIELD_LIMIT)


class VideoAdmin(
    app_commands.Group,
    name=ADMIN_COMMAND,
    description=locale_str("Server settings for the video bot (needs Manage Server)"),
    guild_only=True,
    default_permissions=discord.Permissions(manage_guild=True),
):
    """The command group; every reply is private to the admin who asked."""

    channel = app_commands.Group(
        name="channel",
        description=locale_str("Channels where /video works (none listed: every channel)"),
    )
    role = app_commands.Group(
        name="role", description=locale_str("Roles that may use /video (none listed: everyone)")
    )

    def __init__(self, bot: VideoBot) -> None:
        super().__init__()
        self.bot = bot

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        # default_permissions only hides the commands, and server admins can override it.
        _guild_id(interaction)
        if not manages_guild(interaction.permissions):
            raise AccessDenied(_(ADMIN_ONLY))
        return True

    async def _change(
        self, interaction: discord.Interaction[Any], change: Callable[[GuildPolicy], GuildPolicy]
    ) -> tuple[GuildPolicy, GuildPolicy]:
        """Apply `change` to the guild's settings (one transaction in the service: two admins
        at once both keep their change); returns (before, after)."""
        return await self.bot.service.change_policy(_guild_id(interaction), change)

    async def _reply(self, interaction: discord.Interaction[Any], text: str) -> None:
        await interaction.response.send_message(text, ephemeral=True)

    async def _show(self, interaction: discord.Interaction[Any], text: str | None = None) -> None:
        service = self.bot.service
        policy = await service.policy(_guild_id(interaction))
        down = [provider for provider in service.provider_health() if provider.down]
        embed = settings_embed(
            policy,
            self.bot.settings.operator_limits(),
            retirements=service.retirement_notes(),
            providers=down,
        )
        await interaction.response.send_message(text, embed=embed, ephemeral=True)

    # -- on / off -------------------------------------------------------------------------------

    @app_commands.command(
        name="enable", description=locale_str("Let members use /video in this server")
    )
    async def enable(self, interaction: discord.Interaction[Any]) -> None:
        before, _after = await self._change(interaction, lambda p: p.evolve(enabled=True))
        if before.enabled:
            await self._reply(interaction, _("The video bot is already on in this server."))
        else:
            await self._reply(interaction, _("The video bot is on: members can make videos again."))

    @app_commands.command(name="disable", description=locale_str("Refuse /video in this server"))
    async def disable(self, interaction: discord.Interaction[Any]) -> None:
        await self._change(interaction, lambda p: p.evolve(enabled=False))
        await self._reply(
            interaction,
            _(
                "The video bot is off: /video is refused in this server until someone runs "
                "/video-admin enable. Videos already in progress still finish."
            ),
        )

    # -- channels -------------------------------------------------------------------------------

    @channel.command(
        name="add", description=locale_str("Allow /video in a channel (a category: its channels)")
    )
    @app_commands.describe(channel=locale_str("A channel, or a category for every channel in it"))
    async def channel_add(self, interaction: discord.Interaction[Any], channel: Place) -> None:
        before, after = await self._change(
            interaction, lambda p: p.evolve(channels=p.channels | {channel.id})
        )
        # TRANSLATORS: {channels} is a list of channel mentions.
        text = _("/video works only in: {channels}.", channels=_listing("#", after.channels))
        if not before.channels:
            text = " ".join((text, _("Other channels are no longer allowed.")))
        await self._reply(interaction, text)

    @channel.command(name="remove", description=locale_str("Stop allowing /video in a channel"))
    @app_commands.describe(channel=locale_str("A channel or category on the list"))
    async def channel_remove(self, interaction: discord.Interaction[Any], channel: Place) -> None:
        before, after = await self._change(
            interaction, lambda p: p.evolve(channels=p.channels - {channel.id})
        )
        if channel.id not in before.channels:
            mention = f"<#{channel.id}>"
            # TRANSLATORS: {channel} is a channel mention.
            await self._reply(interaction, _("{channel} was not on the list.", channel=mention))
        elif not after.channels:
            await self._reply(interaction, _("The list is empty: /video works in every channel."))
        else:
            await self._reply(
                interaction,
                _("/video works only in: {channels}.", channels=_listing("#", after.channels)),
            )

    @channel.command(name="clear", description=locale_str("Allow /video in every channel"))
    async def channel_clear(self, interaction: discord.Interaction[Any]) -> None:
        await self._change(interaction, lambda p: p.evolve(channels=frozenset()))
        await self._reply(interaction, _("/video works in every channel again."))

    # -- roles ----------------------------------------------------------------------------------

    @role.command(name="add", description=locale_str("Let members with this role use /video"))
    @app_commands.describe(role=locale_str("Members with any listed role may use /video"))
    async def role_add(self, interaction: discord.Interaction[Any], role: discord.Role) -> None:
        if role.id == interaction.guild_id:  # @everyone shares the guild's id
            await self._reply(
                interaction, _("@everyone is every member: use /video-admin role clear instead.")
            )
            return
        _before, after = await self._change(
            interaction, lambda p: p.evolve(roles=p.roles | {role.id})
        )
        await self._reply(
            interaction,
            # TRANSLATORS: {roles} is a list of role mentions.
            _(
                "/video is for members with any of: {roles} (and members with Manage Server).",
                roles=_listing("@&", after.roles),
            ),
        )

    @role.command(name="remove", description=locale_str("Take a role off the list"))
    @app_commands.describe(role=locale_str("A role on the list"))
    async def role_remove(self, interaction: discord.Interaction[Any], role: discord.Role) -> None:
        before, after = await self._change(
            interaction, lambda p: p.evolve(roles=p.roles - {role.id})
        )
        if role.id not in before.roles:
            mention = f"<@&{role.id}>"
            # TRANSLATORS: {role} is a role mention.
            await self._reply(interaction, _("{role} was not on the list.", role=mention))
        elif not after.roles:
            await self._reply(interaction, _("The list is empty: every member can use /video."))
        else:
            await self._reply(
                interaction,
                _(
                    "/video is for members with any of: {roles}.",
                    roles=_listing("@&", after.roles),
                ),
            )

    @role.command(name="clear", description=locale_str("Let every member use /video"))
    async def role_clear(self, interaction: discord.Interaction[Any]) -> None:
        await self._change(interaction, lambda p: p.evolve(roles=frozenset()))
        await self._reply(interaction, _("Every member can use /video again."))

    # -- what may be made -----------------------------------------------------------------------

    @app_commands.command(name="models", description=locale_str("Which models members may choose"))
    # TRANSLATORS: "all" is typed as is.
    @app_commands.describe(models=locale_str('Model names separated by commas, or "all"'))
    async def models(
        self, interaction: discord.Interaction[Any], models: app_commands.Range[str, 1, 1000]
    ) -> None:
        try:
            chosen = parse_models(models, self.bot.catalogue)
        except SettingRejected as exc:
            await self._reply(interaction, str(exc))
            return
        await self._change(interaction, lambda p: p.evolve(models=chosen))
        if not chosen:
            await self._reply(interaction, _("Members may choose every model."))
        else:
            names = [m for m in self.bot.catalogue.names() if m in chosen]
            # TRANSLATORS: {models} is a list of model names.
            await self._reply(interaction, _within(N_("Members may choose: {models}."), names))

    @app_commands.command(
        name="max-seconds", description=locale_str("The longest video members may ask for")
    )
    @app_commands.describe(seconds=locale_str("Seconds; 0 removes the limit"))
    async def max_seconds(
        self, interaction: discord.Interaction[Any], seconds: app_commands.Range[int, 0, 600]
    ) -> None:
        try:
            limit = parse_max_seconds(seconds, self.bot.catalogue)
        except SettingRejected as exc:
            await self._reply(interaction, str(exc))
            return
        await self._change(interaction, lambda p: p.evolve(max_seconds=limit))
        if limit is None:
            await self._reply(interaction, _("Videos may be as long as the models allow."))
        else:
            await self._reply(
                interaction,
                _("Videos may be at most {seconds} s long.", seconds=i18n.number(limit)),
            )

    @app_commands.command(
        name="limits",
        description=locale_str("Daily limits (UTC days); 0 removes the server's own limit"),
    )
    @app_commands.rename(
        user_daily_count="user-daily-count",
        user_daily_budget="user-daily-budget",
        guild_daily_budget="guild-daily-budget",
    )
    @app_commands.describe(
        user_daily_count=locale_str("Videos per member per day; 0: no server limit"),
        user_daily_budget=locale_str("Estimated USD per member per day; 0: no server limit"),
        guild_daily_budget=locale_str(
            "Estimated USD for the whole server per day; 0: no server limit"
        ),
    )
    async def limits(
        self,
        interaction: discord.Interaction[Any],
        user_daily_count: app_commands.Range[int, 0, 100_000] | None = None,
        user_daily_budget: Budget | None = None,
        guild_daily_budget: Budget | None = None,
    ) -> None:
        changes: dict[str, object] = {}
        try:
            if user_daily_count is not None:
                changes["user_daily_count"] = user_daily_count or None
            if user_daily_budget is not None:
                changes["user_daily_budget"] = parse_budget(user_daily_budget)
            if guild_daily_budget is not None:
                changes["guild_daily_budget"] = parse_budget(guild_daily_budget)
        except SettingRejected as exc:
            await self._reply(interaction, str(exc))
            return
        if not changes:
            await self._show(interaction, _("Give at least one limit to change. Current settings:"))
            return
        await self._change(interaction, lambda p: p.evolve(**changes))
        await self._show(interaction, _("Saved. The tighter of server and operator limit applies:"))

    # -- community: the prompt check, spoilers, age-restricted channels, the mod log -----------

    @app_commands.command(
        name="moderation", description=locale_str("How prompts are checked before spending")
    )
    @app_commands.describe(
        # TRANSLATORS: "operator", "off" and "strict" are the choices, typed as is.
        mode=locale_str(
            "operator: the operator's check (default) · off: none here · strict: refuse more"
        )
    )
    async def moderation(self, interaction: discord.Interaction[Any], mode: ModerationMode) -> None:
        await self._change(interaction, lambda p: p.evolve(moderation=mode))
        text = _(MODERATION_MODES[mode])
        if self.bot.settings.moderation_url is None and mode != "off":
            unset = _(
                "The bot's operator has set up no prompt check yet: until then, none is made."
            )
            text = f"{text} {unset}"
        await self._reply(interaction, text)

    @app_commands.command(
        name="spoilers", description=locale_str("Which videos are posted behind a spoiler")
    )
    @app_commands.describe(
        # TRANSLATORS: "all", "flagged" and "off" are the choices, typed as is.
        mode=locale_str("all: every video · flagged: the flagged ones (default) · off: none")
    )
    async def spoilers(self, interaction: discord.Interaction[Any], mode: SpoilerMode) -> None:
        await self._change(interaction, lambda p: p.evolve(spoilers=mode))
        now = _("This holds for videos being made now.")
        await self._reply(interaction, f"{_(SPOILER_MODES[mode])} {now}")

    @app_commands.command(
        name="age-restricted",
        description=locale_str("Allow /video only in age-restricted channels"),
    )
    @app_commands.describe(only=locale_str("True: only age-restricted channels and their threads"))
    async def age_restricted(self, interaction: discord.Interaction[Any], only: bool) -> None:
        await self._change(interaction, lambda p: p.evolve(age_restricted_only=only))
        if not only:
            await self._reply(
                interaction, _("/video works in age-restricted channels and in the others alike.")
            )
            return
        text = _(
            "/video works only in age-restricted channels (and their threads) now. "
            "A channel's settings mark it age-restricted."
        )
        if not requester_of(interaction).age_restricted:
            text = " ".join((text, _("This channel is not one: /video is refused here.")))
        await self._reply(interaction, text)

    @app_commands.command(
        name="mod-log", description=locale_str("Where refusals and flagged videos are noted")
    )
    @app_commands.describe(
        channel=locale_str("A channel for moderators; leave it out to turn the log off")
    )
    async def mod_log(
        self, interaction: discord.Interaction[Any], channel: LogChannel | None = None
    ) -> None:
        chosen = None if channel is None else channel.id
        if chosen is None:
            await self._change(interaction, lambda p: p.evolve(mod_log_channel=None))
            await self._reply(
                interaction, _("The mod log is off: refusals and flagged videos are not noted.")
            )
            return
        # A first line tells at once whether the bot can post there.
        await interaction.response.defer(ephemeral=True, thinking=True)
        _before, after = await self._change(interaction, lambda p: p.evolve(mod_log_channel=chosen))
        # The log's moderators read the server's language, not the admin's.
        admin, channel_mention = f"<@{interaction.user.id}>", f"<#{chosen}>"
        with i18n.reading(after.language or card_locale(interaction)):
            # TRANSLATORS: {admin} is a member mention.
            first = _(
                "This channel is the video bot's mod log now (set by {admin}): one line per"
                " refused request and flagged video — who, where and why, never the prompt nor"
                " the video.",
                admin=admin,
            )
        posted = await self.bot.mod_log.send(chosen, first)
        # TRANSLATORS: {channel} is a channel mention.
        text = _(
            "Refusals and flagged videos are noted in {channel}: who, where and why, never the"
            " prompt nor the video.",
            channel=channel_mention,
        )
        if not posted:
            cannot = _(
                "The bot could not post there yet: give it View Channel and Send Messages"
                " in that channel."
            )
            text = f"{text} {cannot}"
        await interaction.followup.send(text, ephemeral=True)

    @app_commands.command(
        name="card", description=locale_str("How /video replies look in this server")
    )
    @app_commands.describe(
        # TRANSLATORS: "v2", "classic" and "operator" are the choices, typed as is.
        style=locale_str(
            "v2: one Components V2 card · classic: an embed · operator: the bot's default"
        )
    )
    async def card(self, interaction: discord.Interaction[Any], style: CardStyle) -> None:
        chosen = None if style == "operator" else style
        await self._change(interaction, lambda p: p.evolve(card=chosen))
        shown = chosen or self.bot.settings.card
        text = _(CARD_STYLES[shown] if chosen is not None else DEFAULT_CARD_STYLES[shown])
        from_now = _("This holds for videos asked for from now on.")
        await self._reply(interaction, f"{text} {from_now}")

    @app_commands.command(
        name="language", description=locale_str("The language of this server's public cards")
    )
    @app_commands.describe(
        locale=locale_str("auto: the server's own Discord language, or one the bot speaks")
    )
    @app_commands.choices(
        locale=[
            app_commands.Choice(name=locale_str("auto: the server's language"), value="auto"),
            *(app_commands.Choice(name=name, value=code) for code, name in i18n.CHOICES.items()),
        ]
    )
    async def language(self, interaction: discord.Interaction[Any], locale: str) -> None:
        chosen = None if locale == "auto" else locale
        await self._change(interaction, lambda p: p.evolve(language=chosen))
        # The answer is the admin's own; its last words say what the cards will read like.
        if chosen is None:
            text = _(
                "Public cards now follow the server's own Discord language; private answers"
                " follow each member's."
            )
        else:
            text = _(
                "Public cards are now in {language}; private answers still follow each"
                " member's language.",
                language=i18n.CHOICES[chosen],
            )
        await self._reply(interaction, text)

    # -- reading --------------------------------------------------------------------------------

    @app_commands.command(
        name="show", description=locale_str("This server's settings and the limits in force")
    )
    async def show(self, interaction: discord.Interaction[Any]) -> None:
        await self._show(interaction)

    @app_commands.command(
        name="usage", description=locale_str("Videos, seconds and estimated cost per member")
    )
    @app_commands.describe(period=locale_str("Whole UTC days, up to now (default: today)"))
    @app_commands.choices(
        period=[
            app_commands.Choice(name=locale_str("today"), value="today"),
            app_commands.Choice(name=locale_str("7 days"), value="7d"),
            app_commands.Choice(name=locale_str("30 days"), value="30d"),
        ]
    )
    async def usage(self, interaction: discord.Interaction[Any], period: str = "today") -> None:
        guild_id = _guild_id(interaction)
        chosen = PERIODS[period]
        since = chosen.since(datetime.now(UTC))
        service = self.bot.service
        members = await service.usage_by_member(guild_id=guild_id, since=since)
        total = await service.usage(since=since, guild_id=guild_id)
        embed = usage_embed(chosen, since, members, total)
        await interaction.response.send_message(embed=embed, ephemeral=True)


class AdminCog(commands.Cog):
    """Registers `/video-admin`."""

    def __init__(self, bot: VideoBot) -> None:
        self.bot = bot
        self.group = VideoAdmin(bot)

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.group)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.group.name)


async def setup(bot: VideoBot) -> None:
    await bot.add_cog(AdminCog(bot))
