"""The command tree: the global allow-list check, and app-command errors as short replies."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, cast

import discord
from discord import app_commands

from bot import i18n
from bot.discord_adapter.access import AccessDenied, guild_policy_applies, refusal_text
from bot.discord_adapter.interactions import (
    read_in_members_language,
    requester_of,
    send_private,
)
from bot.domain import NotAllowed, new_ref
from bot.i18n import _

if TYPE_CHECKING:
    from bot.discord_adapter.client import VideoBot

log = logging.getLogger(__name__)

_COMMAND_TYPES = (
    discord.InteractionType.application_command,
    discord.InteractionType.autocomplete,
)


class PolicyUnavailable(app_commands.AppCommandError):
    """The guild's settings could not be read; refuse rather than run unchecked."""


def describe_error(error: app_commands.AppCommandError, ref: str) -> str:
    """A message for the member; never an exception's text, bar reasons written for members."""
    if isinstance(error, AccessDenied):
        return error.reason
    if isinstance(error, app_commands.NoPrivateMessage):
        return _("This command works in servers only.")
    if isinstance(error, app_commands.MissingPermissions):
        return _("You need more permissions to use this command.")
    if isinstance(error, app_commands.CommandOnCooldown):
        # TRANSLATORS: "s" for seconds.
        return _(
            "Slow down: try again in {seconds} s.",
            seconds=i18n.number(round(error.retry_after)),
        )
    if isinstance(error, app_commands.CheckFailure):
        return _("You cannot use this command here.")
    if isinstance(error, app_commands.TransformerError):
        return _("One of the options has a value the bot cannot use.")
    # TRANSLATORS: {ref} is a reference the bot's operator finds in the bot's log.
    return _(
        "Something went wrong on the bot's side (ref {ref}). An operator can look it up.",
        ref=ref,
    )


class VideoCommandTree(app_commands.CommandTree[Any]):
    """Adds the allow-lists and error handling that always answers, with a reference id."""

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        # Components never reach the tree in discord.py; should one, its handler decides.
        if interaction.type not in _COMMAND_TYPES:
            return True
        read_in_members_language(interaction)  # refusals and errors below included
        reason = await self._refusal(interaction)
        if reason is None:
            return True
        if interaction.type is discord.InteractionType.autocomplete:
            return False  # suggestions cannot carry a message; the command itself will
        raise AccessDenied(reason)

    async def _refusal(self, interaction: discord.Interaction[Any]) -> str | None:
        """The service's access rules, asked before a command runs (a command that spends
        asks again, with everything else, inside the service)."""
        bot = cast("VideoBot", self.client)
        server_rules = guild_policy_applies(_top_level_name(interaction))
        try:
            await bot.service.check_access(requester_of(interaction), server_rules=server_rules)
        except NotAllowed as refused:
            if interaction.type is discord.InteractionType.application_command:
                bot.mod_log.refused(interaction, refused)  # not while the member types
            return refusal_text(refused)
        except Exception as exc:
            raise PolicyUnavailable from exc
        return None

    async def on_error(
        self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None:
        ref = new_ref()
        command = interaction.command.qualified_name if interaction.command else "?"
        if isinstance(error, app_commands.CheckFailure):
            log.info("/%s refused for %s [ref %s]: %s", command, interaction.user.id, ref, error)
        else:
            cause = error.__cause__ or error
            log.error("/%s failed [ref %s]", command, ref, exc_info=cause)
        if interaction.type is discord.InteractionType.autocomplete:
            return  # suggestions cannot carry a message; the command itself will
        await send_private(interaction, describe_error(error, ref))


def _top_level_name(interaction: discord.Interaction[Any]) -> str:
    command = interaction.command
    return command.qualified_name.split(" ", 1)[0] if command is not None else ""
