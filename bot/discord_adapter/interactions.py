"""What an interaction tells the service, and the private answers every handler gives.

Every way in (a command, a button, a modal, a context menu) describes its requester the same
way, so the service applies the same rules to each.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import discord

from bot import i18n
from bot.domain import Requester

log = logging.getLogger(__name__)


def read_in_members_language(interaction: discord.Interaction[Any]) -> None:
    """Answer this interaction in its member's own Discord language, for the rest of its
    handler: the first step of every way in (the tree's check, the buttons' check, modal
    submits). Public cards are rendered apart, in the server's language (presenter.py)."""
    i18n.read_in(interaction.locale)


def card_locale(interaction: discord.Interaction[Any]) -> str:
    """The language a public reply starts in: the server's own Discord language (a server's
    `/video-admin language` wins when the card is drawn), the member's in a DM."""
    locale = interaction.guild_locale if interaction.guild_id is not None else None
    return str((locale or interaction.locale).value)


def manages_guild(permissions: discord.Permissions) -> bool:
    """Manage Server, which Administrator implies even if Discord ever sent it alone."""
    return permissions.manage_guild or permissions.administrator


def age_restricted(channel: object) -> bool:
    """Whether Discord marks the channel age-restricted ("NSFW"): a thread is its parent
    channel's (discord.py looks the parent up in its cache; a parent it does not know counts
    as not age-restricted, the safe side). A DM or an unknown kind of channel is not."""
    is_nsfw = getattr(channel, "is_nsfw", None)
    return bool(is_nsfw()) if callable(is_nsfw) else False


def requester_of(interaction: discord.Interaction[Any]) -> Requester:
    """Who asks and where: the channel with its parents (a thread's channel, a channel's
    category) and whether it is age-restricted, the member's roles, and Manage Server as
    Discord computed it for this interaction (the role cache may lag behind a role given a
    minute ago)."""
    channel = interaction.channel
    channel_ids = {interaction.channel_id, getattr(channel, "parent_id", None)}
    # A thread whose channel discord.py has not cached: its category is unknown.
    with contextlib.suppress(discord.ClientException):
        channel_ids.add(getattr(channel, "category_id", None))
    member = interaction.user
    roles = (
        frozenset(role.id for role in member.roles)
        if isinstance(member, discord.Member)
        else frozenset()
    )
    in_guild = interaction.guild_id is not None
    return Requester(
        user_id=interaction.user.id,
        guild_id=interaction.guild_id,
        channel_ids=frozenset(i for i in channel_ids if i is not None),
        role_ids=roles,
        manages_guild=in_guild and manages_guild(interaction.permissions),
        age_restricted=age_restricted(channel),
    )


async def send_private(
    interaction: discord.Interaction[Any], text: str, *, view: discord.ui.View | None = None
) -> None:
    """Answer privately whether or not the interaction was already acknowledged."""
    extra: dict[str, Any] = {} if view is None else {"view": view}
    try:
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True, **extra)
        else:
            await interaction.response.send_message(text, ephemeral=True, **extra)
    except discord.HTTPException:
        log.warning("could not give the member a private answer", exc_info=True)


async def send_unkept_modal(interaction: discord.Interaction[Any], modal: discord.ui.Modal) -> None:
    """Send a modal that discord.py does not keep: its submit is read from the wire
    (bot/discord_adapter/modals.py), so it still works after a restart."""
    modal.stop()  # a finished modal is not stored
    await interaction.response.send_modal(modal)
