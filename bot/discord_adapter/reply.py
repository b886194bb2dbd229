"""The Discord adapter's own reply handle: where a `/video` reply lives, and how to open it.

The engine stores the handle opaquely. Its public part is JSON with the channel and message
ids (enough to edit the reply with the bot token for ever); its secret part is the interaction
token (faster, and the only way for the first 15 minutes of an ephemeral reply), which the
engine clears when the job ends.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import discord

from bot import i18n
from bot.catalogue import RequestRejected
from bot.discord_adapter import access
from bot.discord_adapter.interactions import card_locale, send_private
from bot.discord_adapter.render import shorten, timestamp
from bot.discord_adapter.user_installs import bot_reaches
from bot.domain import JobView, LimitReached, NotAllowed, ReplyHandle
from bot.i18n import _
from bot.observability.redaction import default_redactor

log = logging.getLogger(__name__)

KIND = "discord"
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024
MESSAGE_LIMIT = 2000  # Discord's limit for a message's content


@dataclass(frozen=True)
class ReplyAddress:
    """Where a job's reply lives, enough to edit it without the original interaction."""

    channel_id: int
    message_id: int | None
    application_id: int | None
    interaction_token: str | None
    token_expires_at: float | None  # Unix seconds
    upload_limit: int
    interaction_id: int | None = None
    source_link: str | None = None  # the message a follow-up was made from
    requested_by: str | None = None  # who asked, when not a member (an API key's name)
    # The public card's language when it was opened (the server's Discord language, or the
    # member's in a DM); a server's `/video-admin language` wins when the card is drawn.
    locale: str | None = None
    # The bot is no member where the reply lives (a member's own install used in a DM, a
    # group DM or a server without the bot): only the interaction's webhook reaches it, and
    # once the token is spent the card goes to the member by DM (bot/discord_adapter/
    # user_installs.py).
    interaction_only: bool = False

    def __repr__(self) -> str:  # the token stays out of logs
        return f"ReplyAddress(channel_id={self.channel_id}, message_id={self.message_id})"

    def handle(self) -> ReplyHandle:
        public: dict[str, Any] = {
            "channel_id": self.channel_id,
            "message_id": self.message_id,
            "application_id": self.application_id,
            "interaction_id": self.interaction_id,
            "token_expires_at": self.token_expires_at,
            "upload_limit": self.upload_limit,
        }
        if self.source_link is not None:
            public["source_link"] = self.source_link
        if self.requested_by is not None:
            public["requested_by"] = self.requested_by
        if self.locale is not None:
            public["locale"] = self.locale
        if self.interaction_only:
            public["interaction_only"] = True
        return ReplyHandle(KIND, json.dumps(public), self.interaction_token)

    @classmethod
    def from_handle(cls, handle: ReplyHandle) -> ReplyAddress:
        data: dict[str, Any] = json.loads(handle.public)

        def number(key: str) -> int | None:
            value = data.get(key)
            return None if value is None else int(value)

        expires = data.get("token_expires_at")
        return cls(
            channel_id=int(data.get("channel_id") or 0),
            message_id=number("message_id"),
            application_id=number("application_id"),
            interaction_token=handle.secret,
            token_expires_at=None if expires is None else float(expires),
            upload_limit=int(data.get("upload_limit") or DEFAULT_UPLOAD_LIMIT),
            interaction_id=number("interaction_id"),
            source_link=str(data["source_link"]) if data.get("source_link") else None,
            requested_by=str(data["requested_by"]) if data.get("requested_by") else None,
            locale=str(data["locale"]) if data.get("locale") else None,
            interaction_only=data.get("interaction_only") is True,
        )


def refusal_text(error: Exception) -> str:
    """A refusal for the member; a limit says when it resets, in their own time zone."""
    if isinstance(error, NotAllowed):
        return access.refusal_text(error)
    text = str(error)
    if isinstance(error, LimitReached) and error.resets_at is not None:
        # TRANSLATORS: {refusal} says which daily limit is reached; {time}: "in 5 hours".
        text = _("{refusal} It resets {time}.", refusal=text, time=timestamp(error.resets_at))
    # A refusal that lists what would do (500 models) must still fit in one message.
    return shorten(text, MESSAGE_LIMIT)


class InteractionReply:
    """Opens the public reply of a slash command, always within Discord's 3 seconds.

    The service calls `open` once the request is valid and reserved. If that has not happened
    `budget` seconds after the interaction was created (limits checked under load, a slow
    image), the reply is deferred anyway; a refusal that comes later replaces the public
    placeholder with a private answer.
    """

    def __init__(
        self,
        interaction: discord.Interaction[Any],
        budget: float,
        *,
        source_link: str | None = None,
    ) -> None:
        self._interaction = interaction
        self._budget = budget
        self.source_link = source_link
        self._deferral: asyncio.Task[int | None] | None = None
        self._timer: asyncio.TimerHandle | None = None

    def arm(self) -> None:
        elapsed = (discord.utils.utcnow() - self._interaction.created_at).total_seconds()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(max(0.0, self._budget - elapsed), self._defer_now)

    def _defer_now(self) -> None:
        if self._deferral is None:
            # Awaited by `open` or `refuse`, which see its failure (not background work).
            self._deferral = asyncio.create_task(self._defer(), name="defer-reply")

    async def _defer(self) -> int | None:
        interaction = self._interaction
        callback = await interaction.response.defer(thinking=True)
        message_id = callback.message_id if callback is not None else None
        if message_id is None:
            message_id = (await interaction.original_response()).id
        return message_id

    async def open(self, view: JobView) -> ReplyHandle:
        del view  # the first edit shows it; the placeholder says "thinking"
        self._disarm()
        self._defer_now()
        assert self._deferral is not None  # noqa: S101 - just made
        message_id = await self._deferral
        interaction = self._interaction
        default_redactor.register(interaction.token)  # stored as the handle's secret
        return ReplyAddress(
            channel_id=interaction.channel_id or 0,
            message_id=message_id,
            application_id=interaction.application_id,
            interaction_token=interaction.token,
            token_expires_at=interaction.expires_at.timestamp(),
            upload_limit=interaction.filesize_limit,
            interaction_id=interaction.id,
            source_link=self.source_link,
            locale=card_locale(interaction),
            interaction_only=not bot_reaches(interaction),
        ).handle()

    async def refuse(self, text: str) -> None:
        """Answer privately; a public placeholder already made is withdrawn."""
        self._disarm()
        deferred = False
        if self._deferral is not None:
            try:
                await self._deferral
                deferred = True
            except discord.HTTPException:
                log.info("the deferral failed", exc_info=True)
        if deferred:
            try:
                await self._interaction.delete_original_response()
            except discord.HTTPException:
                log.info("could not delete the deferred reply", exc_info=True)
        await send_private(self._interaction, text)

    def close(self) -> None:
        self._disarm()
        deferral = self._deferral
        if deferral is not None and deferral.done() and not deferral.cancelled():
            deferral.exception()  # retrieved: the caller saw it, or the tree reports it

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class ChannelReply:
    """Opens a job's reply as a new message in a channel, with the bot token (no interaction:
    a job asked for through the bot's own API). Refuses when the bot cannot post there."""

    def __init__(
        self,
        client: discord.Client,
        channel_id: int,
        requested_by: str,
        *,
        card: Callable[[int | None], Awaitable[str]] | None = None,
    ) -> None:
        self._client = client
        self._channel_id = channel_id
        self._requested_by = requested_by
        self._card = card  # the card style in a server; None: classic

    async def open(self, view: JobView) -> ReplyHandle:
        from bot.discord_adapter.render import progress_embed

        channel = self._client.get_channel(self._channel_id)
        guild = getattr(channel, "guild", None)
        limit = guild.filesize_limit if isinstance(guild, discord.Guild) else DEFAULT_UPLOAD_LIMIT
        messageable = self._client.get_partial_messageable(self._channel_id)
        shown = view.evolve(requested_by=self._requested_by)
        guild_id = guild.id if isinstance(guild, discord.Guild) else None
        style = "classic" if self._card is None else await self._card(guild_id)
        # No member asks here: the card starts in the server's own Discord language.
        locale = guild.preferred_locale.value if isinstance(guild, discord.Guild) else None
        with i18n.reading(locale):
            first: dict[str, Any] = {"embed": progress_embed(shown, demo=False)}
            if style == "v2":
                from bot.discord_adapter import card_v2  # it imports the buttons

                # Discord's V2 flag is set when a message is made, never later.
                first = {
                    "view": card_v2.progress(shown, demo=False),
                    "allowed_mentions": discord.AllowedMentions.none(),
                }
        try:
            message = await messageable.send(**first)
        except (discord.NotFound, discord.Forbidden):
            raise RequestRejected(
                f"The bot cannot post in channel {self._channel_id} (unknown, or no permission)."
            ) from None
        return ReplyAddress(
            channel_id=self._channel_id,
            message_id=message.id,
            application_id=None,
            interaction_token=None,
            token_expires_at=None,
            upload_limit=limit,
            requested_by=self._requested_by,
            locale=locale,
        ).handle()
