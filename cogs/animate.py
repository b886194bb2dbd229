""" "Animate this image": a message context menu on any message with an image."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_adapter.animate import open_animate_modal

if TYPE_CHECKING:
    from bot.discord_adapter.client import VideoBot


class AnimateCog(commands.Cog):
    """The context menu; its modal and its job live in bot/discord_adapter/animate.py."""

    def __init__(self, bot: VideoBot) -> None:
        self.bot = bot
        self.menu = app_commands.ContextMenu(name="Animate this image", callback=self.animate)
        self.menu.guild_only = True

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.menu.name, type=self.menu.type)

    async def animate(
        self, interaction: discord.Interaction[Any], message: discord.Message
    ) -> None:
        await open_animate_modal(self.bot, interaction, message)


async def setup(bot: VideoBot) -> None:
    await bot.add_cog(AnimateCog(bot))
