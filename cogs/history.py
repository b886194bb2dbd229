"""`/videos`: a member's own recent jobs and today's use against their limits."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_adapter.admin_render import DESCRIPTION_LIMIT, billing_lines, join_within
from bot.discord_adapter.history_render import history_line
from bot.discord_adapter.render import money
from bot.domain import day_bounds

if TYPE_CHECKING:
    from bot.discord_adapter.client import VideoBot


class HistoryCog(commands.Cog):
    """The `/videos` command."""

    def __init__(self, bot: VideoBot) -> None:
        self.bot = bot

    @app_commands.command(name="videos", description="Your recent videos and today's use")
    @app_commands.guild_only()
    async def videos(self, interaction: discord.Interaction[Any]) -> None:
        user = interaction.user.id
        since, resets = day_bounds(time.time())
        service = self.bot.service
        used = await service.usage(since=since, user_id=user)
        limits = await service.limits(interaction.guild_id)
        recent = await service.recent_jobs(user, limit=10)

        embed = discord.Embed(title="Your videos", colour=discord.Colour.blurple())
        lines = [history_line(r) for r in recent]
        embed.description = (
            join_within(lines, DESCRIPTION_LIMIT, separator="\n")
            if lines
            else "You have not made any videos yet."
        )
        count_limit = limits.user_daily_count
        budget = limits.user_daily_budget
        today = [
            f"Videos: {used.videos}" + (f" of {count_limit}" if count_limit is not None else ""),
            f"Seconds: {used.seconds}",
            # Bills count where the providers reported them (the Money field says how much).
            f"{'Cost' if used.billed_settled or used.estimated_settled else 'Estimated cost'}:"
            f" {money(used.cost)}" + (f" of {money(budget)}" if budget is not None else ""),
            f"Resets <t:{int(resets)}:R>",
        ]
        embed.add_field(name="Today", value="\n".join(today), inline=False)
        embed.add_field(name="Money today", value=billing_lines(used), inline=False)
        await interaction.response.send_message(embed=embed, ephemeral=True)


async def setup(bot: VideoBot) -> None:
    await bot.add_cog(HistoryCog(bot))
