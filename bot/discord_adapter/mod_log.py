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

from bot.background import spawn
from bot.discord_adapter.render import shorten
from bot.discord_adapter.spoilers import PROVIDER
from bot.domain import GuildPolicy, NotAllowed, PromptFlagged, Refusal
from bot.videos import FailureKind

log = logging.getLogger(__name__)

PolicyReader = Callable[[int | None], Awaitable[GuildPolicy]]
LINE_LIMIT = 2000  # Discord's limit for a message's content
_CATEGORIES_SHOWN = 300  # characters of category names in one line


# -- the lines (pure) ---------------------------------------------------------------------------


def who(user_id: int, requested_by: str | None = None) -> str:
    """A member's mention (it pings nobody: the post allows no mentions), or the API key."""
    if requested_by is not None:
        return f"API key *{discord.utils.escape_markdown(requested_by)}*"
    return f"<@{user_id}>" if user_id > 0 else "an API key"


def where(channel_id: int | None) -> str:
    return f"<#{channel_id}>" if channel_id else "an unknown channel"


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
    return "flagged by the video service" if reason == PROVIDER else categories_text([reason])


def refusal_line(error: Exception, *, user_id: int, channel_id: int | None) -> str | None:
    """The line for a request refused before it became a job, or None when moderators need
    not hear of it (a limit, a bad option, a channel not on the list)."""
    if isinstance(error, NotAllowed) and error.refusal is Refusal.AGE_RESTRICTED:
        return f"Refused, not an age-restricted channel: {who(user_id)} in {where(channel_id)}"
    if isinstance(error, PromptFlagged):
        # The moderation server's own names: exact, for moderators.
        return (
            f"Refused by the prompt check ({categories_text(error.categories)}): "
            f"{who(user_id)} in {where(channel_id)}"
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
    what = "the video it made" if kind is FailureKind.REFUSED_OUTPUT else "the prompt"
    if kind is None:
        what = "the prompt or the video"
    return (
        f"Refused by the video service ({what}): {who(user_id, requested_by)} in "
        f"{where(channel_id)} · job `{ref}`{jump(guild_id, channel_id, message_id)}"
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
    how = "Posted behind a spoiler" if hidden else "Posted openly (spoilers are off)"
    return (
        f"{how}, {reason_text(reason)}: {who(user_id, requested_by)} in {where(channel_id)}"
        f" · job `{ref}`{jump(guild_id, channel_id, message_id)}"
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
        line = refusal_line(error, user_id=interaction.user.id, channel_id=interaction.channel_id)
        if line is not None:
            self.note(guild_id, line)

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
