"""The command tree: the one place app-command errors become short, human replies."""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands

from bot.jobs.runner import new_ref

log = logging.getLogger(__name__)


def describe_error(error: app_commands.AppCommandError, ref: str) -> str:
    """A message for the member; never the exception's own text."""
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command works in servers only."
    if isinstance(error, app_commands.MissingPermissions):
        return "You need more permissions to use this command."
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Slow down: try again in {error.retry_after:.0f} s."
    if isinstance(error, app_commands.CheckFailure):
        return "You cannot use this command here."
    if isinstance(error, app_commands.TransformerError):
        return "One of the options has a value the bot cannot use."
    return f"Something went wrong on the bot's side (ref {ref}). An operator can look it up."


class VideoCommandTree(app_commands.CommandTree[Any]):
    """Adds error handling that always answers, with a reference id in the log."""

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
        await send_ephemeral(interaction, describe_error(error, ref))


async def send_ephemeral(interaction: discord.Interaction[Any], text: str) -> None:
    """Answer privately whether or not the interaction was already acknowledged."""
    try:
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True)
        else:
            await interaction.response.send_message(text, ephemeral=True)
    except discord.HTTPException:
        log.warning("could not tell the member about an error", exc_info=True)
