"""A member's own install of the bot: where its commands may be used, and how a reply reaches
the member where the bot is no member itself.

With `VIDEO_BOT_USER_INSTALLS` on, `/video` and `/videos` declare both installation types and
the server, bot-DM and private-channel contexts: a member who added the bot to their account
uses them in DMs, group DMs and servers that never installed it. There the bot's own token
reaches nothing: the interaction's webhook is the only way to the reply (its original response
and at most five follow-ups, for the token's 15 minutes), and after that a DM from the bot is
the only way to the member. A member whose DMs are closed finds the video in `/videos`.

The rules are the service's as everywhere else: the operator's allow-list and per-member
limits, and in a server that did install the bot, that server's own rules.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import discord
from discord import app_commands, ui

from bot.domain import JobView, ReplyGone
from bot.i18n import _

log = logging.getLogger(__name__)

CANNOT_MESSAGE_USER = 50007  # Discord: the member's DMs are closed to the bot
# Before the token's end, how early a card says that its result will come by DM.
HANDOVER_LEAD = 5 * 60.0


def declare_places(command: app_commands.Command[Any, ..., Any], *, user_installs: bool) -> None:
    """Where a member's command may be used. Off: in servers that installed the bot, as the
    command declares itself. On: also through a member's own install, in DMs with the bot,
    group DMs and DMs between members, and servers that never installed it."""
    if not user_installs:
        return
    command.guild_only = False
    command.allowed_installs = app_commands.AppInstallationType(guild=True, user=True)
    command.allowed_contexts = app_commands.AppCommandContext(
        guild=True, dm_channel=True, private_channel=True
    )


def bot_reaches(interaction: discord.Interaction[Any]) -> bool:
    """Whether the bot's own token reaches the interaction's channel: a server the bot is a
    member of, or its own DM with the member.

    Elsewhere (a server that never installed it, a group DM, a DM between members) only the
    interaction's webhook reaches the reply.
    """
    guild_id = interaction.guild_id
    if guild_id is not None:
        return interaction.is_guild_integration() or (
            interaction.client.get_guild(guild_id) is not None
        )
    return not interaction.context.private_channel


def handover_note() -> str:
    return _(
        "Discord lets the bot update this message for 15 minutes only: the video will come "
        "to you by direct message (with closed DMs, find it in /videos)."
    )


def handover_due(view: JobView, token_expires_at: float, now: float, margin: float) -> bool:
    """Whether a card should say that its result will come by DM: the token ends within
    HANDOVER_LEAD, or the video is expected after it ends."""
    last_edit = token_expires_at - margin
    if now >= last_edit - HANDOVER_LEAD:
        return True
    return view.eta_at is not None and view.eta_at >= last_edit


def with_note(make: Callable[..., dict[str, Any]], note: str) -> Callable[..., dict[str, Any]]:
    """A card maker whose card also says `note`: a field of the classic embed, a line at the
    end of the V2 card's container (left out where it would pass Discord's text limit)."""

    def noted(*args: Any, **kwargs: Any) -> dict[str, Any]:
        fields = make(*args, **kwargs)
        embed = fields.get("embed")
        if isinstance(embed, discord.Embed):
            # TRANSLATORS: the heading of a note on a card: where the finished video will go.
            embed.add_field(name=_("Delivery"), value=note, inline=False)
        card = fields.get("view")
        if isinstance(card, ui.LayoutView):
            _note_v2(card, note)
        return fields

    return noted


def _note_v2(card: ui.LayoutView, note: str) -> None:
    from bot.discord_adapter.card_v2 import MAX_COMPONENTS, MAX_TEXT, count_components, text_length

    container = next((c for c in card.children if isinstance(c, ui.Container)), None)
    if container is None:
        return
    components = card.to_components()  # type: ignore[no-untyped-call] # discord.py's
    if (
        text_length(components) + len(note) > MAX_TEXT
        or count_components(components) + 1 > MAX_COMPONENTS
    ):
        return
    container.add_item(ui.TextDisplay(note))


def as_new_message(fields: dict[str, Any]) -> dict[str, Any]:
    """The fields of an edit, as a new message's: files instead of attachments, no empty
    parts (a new message has no attachments to drop, nor components to remove)."""
    sent = {k: v for k, v in fields.items() if v is not None and k != "attachments"}
    files = fields.get("attachments")
    if files:
        sent["files"] = list(files)
    return sent


class DirectReply:
    """The DM that carries a job's card once the interaction's token is spent, where nothing
    else reaches the member. It is opened by the first card sent there (the result, or its
    failure) and edited through the bot's own token afterwards."""

    def __init__(self, client: discord.Client) -> None:
        self._client = client
        self.channel_id: int | None = None
        self.message_id: int | None = None

    @property
    def opened(self) -> bool:
        return self.message_id is not None

    async def post(self, user_id: int, fields: dict[str, Any], *, ref: str) -> discord.Message:
        """Send the card to the member; ReplyGone when their DMs are closed to the bot (the
        video stays in `/videos`, with a link while the original is kept)."""
        try:
            channel = await self._client.create_dm(discord.Object(id=user_id))
            message = await channel.send(**as_new_message(fields))
        except discord.Forbidden as exc:
            if exc.code == CANNOT_MESSAGE_USER:
                log.warning("job %s: the member's DMs are closed; it stays in /videos", ref)
            raise ReplyGone(f"DM to the member: {exc.status} {exc.code}") from None
        self.channel_id, self.message_id = channel.id, message.id
        log.info("job %s: its interaction token is spent; sent to the member by DM", ref)
        return message

    async def edit(self, fields: dict[str, Any]) -> discord.Message:
        if self.channel_id is None or self.message_id is None:
            raise RuntimeError("no DM was sent yet")
        channel = self._client.get_partial_messageable(self.channel_id)
        try:
            edited: discord.Message = await channel.get_partial_message(self.message_id).edit(
                **fields
            )
        except (discord.NotFound, discord.Forbidden) as exc:
            raise ReplyGone(f"DM {self.message_id}: {exc.status} {exc.code}") from None
        return edited

    async def fetch(self) -> discord.Message:
        if self.channel_id is None or self.message_id is None:
            raise RuntimeError("no DM was sent yet")
        channel = self._client.get_partial_messageable(self.channel_id)
        try:
            return await channel.get_partial_message(self.message_id).fetch()
        except (discord.NotFound, discord.Forbidden) as exc:
            raise ReplyGone(f"DM {self.message_id}: {exc.status} {exc.code}") from None
