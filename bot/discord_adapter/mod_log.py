"""A server's mod log: one line per refusal and flagged result, in the channel its admins chose.

A line says who (a mention that pings nobody), where, and why: a category, never the prompt
nor the video. Posting is background work: a mod log that fails (the channel deleted, the bot
missing a permission) is logged once on the bot's side, never shown to the member and never
holds up a job or an answer.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import aiohttp
import discord

from bot import i18n
from bot.background import spawn
from bot.discord_adapter.render import shorten
from bot.discord_adapter.spoilers import PROVIDER
from bot.domain import GuildPolicy, NotAllowed, PromptFlagged, Refusal
from bot.i18n import _
from bot.videos import FailureKind

log = logging.getLogger(__name__)

PolicyReader = Callable[[int | None], Awaitable[GuildPolicy]]
LINE_LIMIT = 2000  # Discord's limit for a message's content
_CATEGORIES_SHOWN = 300  # characters of category names in one line


# -- the lines (pure) ---------------------------------------------------------------------------


def who(user_id: int, requested_by: str | None = None) -> str:
    """A member's mention (it pings nobody: the post allows no mentions), or the API key."""
    if requested_by is not None:
        # TRANSLATORS: who asked, in a mod-log line: the API key named {name}.
        return _("API key *{name}*", name=discord.utils.escape_markdown(requested_by))
    # TRANSLATORS: who asked, in a mod-log line: an API key whose name is not known.
    return f"<@{user_id}>" if user_id > 0 else _("an API key")


def where(channel_id: int | None) -> str:
    # TRANSLATORS: where a request was made, in a mod-log line.
    return f"<#{channel_id}>" if channel_id else _("an unknown channel")


def jump(guild_id: int, channel_id: int, message_id: int | None) -> str:
    """A link to the reply (in angle brackets: Discord shows no preview of it)."""
    if message_id is None:
        return ""
    return f" · <https://discord.com/channels/{guild_id}/{channel_id}/{message_id}>"


def categories_text(categories: Iterable[object]) -> str:
    names = [discord.utils.escape_markdown(str(c)) for c in categories]
    return shorten(", ".join(names), _CATEGORIES_SHOWN)


def reason_text(reason: str) -> str:
    """A spoiler's reason as moderators read it."""
    if reason == PROVIDER:
        return _("flagged by the video service")
    return categories_text([reason])


def refusal_line(error: Exception, *, user_id: int, channel_id: int | None) -> str | None:
    """The line for a request refused before it became a job, or None when moderators need
    not hear of it (a limit, a bad option, a channel not on the list)."""
    if isinstance(error, NotAllowed) and error.refusal is Refusal.AGE_RESTRICTED:
        # TRANSLATORS: a mod-log line; {who}: a member or an API key, {where}: a channel.
        return _(
            "Refused, not an age-restricted channel: {who} in {where}",
            who=who(user_id),
            where=where(channel_id),
        )
    if isinstance(error, PromptFlagged):
        # The moderation server's own names: exact, for moderators.
        # TRANSLATORS: a mod-log line; {categories}: the moderation's categories, in English.
        return _(
            "Refused by the prompt check ({categories}): {who} in {where}",
            categories=categories_text(error.categories),
            who=who(user_id),
            where=where(channel_id),
        )
    return None


def provider_refusal_line(
    kind: FailureKind | None,
    *,
    ref: str,
    user_id: int,
    requested_by: str | None,
    guild_id: int,
    channel_id: int,
    message_id: int | None,
) -> str:
    """The video service refused a job: its prompt, or the video it made."""
    facts = {
        "who": who(user_id, requested_by),
        "where": where(channel_id),
        "ref": ref,
        "link": jump(guild_id, channel_id, message_id),
    }
    if kind is None:
        # TRANSLATORS: a mod-log line; {who}: a member or an API key, {where}: a channel,
        # {ref}: the job's reference, {link}: " · " and a link to the reply, or nothing.
        return _(
            "Refused by the video service (the prompt or the video): {who} in {where}"
            " · job `{ref}`{link}",
            **facts,
        )
    if kind is FailureKind.REFUSED_OUTPUT:
        # TRANSLATORS: a mod-log line; {link}: " · " and a link to the reply, or nothing.
        return _(
            "Refused by the video service (the video it made): {who} in {where} · job `{ref}`"
            "{link}",
            **facts,
        )
    # TRANSLATORS: a mod-log line; {link}: " · " and a link to the reply, or nothing.
    return _(
        "Refused by the video service (the prompt): {who} in {where} · job `{ref}`{link}",
        **facts,
    )


def flagged_line(
    reason: str,
    *,
    hidden: bool,
    ref: str,
    user_id: int,
    requested_by: str | None,
    guild_id: int,
    channel_id: int,
    message_id: int | None,
) -> str:
    """A flagged result was posted: behind a spoiler, or openly where spoilers are off."""
    facts = {
        "reason": reason_text(reason),
        "who": who(user_id, requested_by),
        "where": where(channel_id),
        "ref": ref,
        "link": jump(guild_id, channel_id, message_id),
    }
    if hidden:
        # TRANSLATORS: a mod-log line; {reason}: "flagged by the video service" or the
        # moderation's categories; {link}: " · " and a link to the reply, or nothing.
        return _("Posted behind a spoiler, {reason}: {who} in {where} · job `{ref}`{link}", **facts)
    # TRANSLATORS: a mod-log line; {reason}: "flagged by the video service" or the
    # moderation's categories; {link}: " · " and a link to the reply, or nothing.
    return _(
        "Posted openly (spoilers are off), {reason}: {who} in {where} · job `{ref}`{link}",
        **facts,
    )


# -- posting ------------------------------------------------------------------------------------


class ModLog:
    """Posts the lines to each server's mod-log channel, if it has one."""

    def __init__(self, client: discord.Client, policies: PolicyReader) -> None:
        self._client = client
        self._policies = policies
        # Channels whose last post failed: a failure is logged once, not for every line.
        self._failing: set[int] = set()

    def refused(self, interaction: discord.Interaction[Any], error: Exception) -> None:
        """A request refused before it became a job (any way in): noted in the background
        when moderators need to hear of it."""
        guild_id = interaction.guild_id
        if guild_id is None:
            return
        user_id, channel_id = interaction.user.id, interaction.channel_id
        if refusal_line(error, user_id=user_id, channel_id=channel_id) is None:
            return  # not for moderators
        spoken = interaction.guild_locale
        spawn(self._post_refusal(guild_id, spoken, error, user_id, channel_id), name="mod-log")

    async def _post_refusal(
        self,
        guild_id: int,
        spoken: object,
        error: Exception,
        user_id: int,
        channel_id: int | None,
    ) -> None:
        """The line in the server's language (the mod log is the server's), not the
        refused member's."""
        try:
            policy = await self._policies(guild_id)
        except Exception:  # noqa: BLE001 - the store hiccuped: the line is lost, not the job
            log.warning("mod log of guild %d: its settings could not be read", guild_id)
            return
        if policy.mod_log_channel is None:
            return
        with i18n.reading(policy.language or spoken):
            line = refusal_line(error, user_id=user_id, channel_id=channel_id)
        if line is not None:
            await self.send(policy.mod_log_channel, line)

    def note(self, guild_id: int, line: str, *, channel_id: int | None = None) -> None:
        """Post `line` in the background; `channel_id` when the caller read the policy."""
        spawn(self.post(guild_id, line, channel_id=channel_id), name="mod-log")

    async def post(self, guild_id: int, line: str, *, channel_id: int | None = None) -> bool:
        """Post one line; False when the server has no mod log or the post failed."""
        if channel_id is None:
            try:
                channel_id = (await self._policies(guild_id)).mod_log_channel
            except Exception:  # noqa: BLE001 - the store hiccuped: the line is lost, not the job
                log.warning("mod log of guild %d: its settings could not be read", guild_id)
                return False
        if channel_id is None:
            return False
        return await self.send(channel_id, line)

    async def send(self, channel_id: int, line: str) -> bool:
        """Post to `channel_id`, pinging nobody; a failure is logged once per channel."""
        channel = self._client.get_partial_messageable(channel_id)
        try:
            await channel.send(
                shorten(line, LINE_LIMIT), allowed_mentions=discord.AllowedMentions.none()
            )
        except (discord.HTTPException, aiohttp.ClientError, TimeoutError) as exc:
            if channel_id not in self._failing:
                self._failing.add(channel_id)
                why = f"{exc.status} {exc.code}" if isinstance(exc, discord.HTTPException) else exc
                log.warning(
                    "mod log channel %d: posting failed (%s); later failures are not logged",
                    channel_id,
                    why,
                )
            return False
        self._failing.discard(channel_id)
        return True
