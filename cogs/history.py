"""`/videos`: a member's own recent jobs and today's use against their limits."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot import i18n
from bot.discord_adapter.admin_render import DESCRIPTION_LIMIT, billing_lines, join_within
from bot.discord_adapter.history_render import history_line
from bot.discord_adapter.user_installs import declare_places
from bot.domain import JobState, JobSummary, Usage, day_bounds
from bot.i18n import _

if TYPE_CHECKING:
    from bot.discord_adapter.client import VideoBot
    from bot.service import VideoService


class HistoryCog(commands.Cog):
    """The `/videos` command."""

    def __init__(self, bot: VideoBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        declare_places(self.videos, user_installs=self.bot.settings.user_installs)

    @app_commands.command(
        name="videos", description=locale_str("Your recent videos and today's use")
    )
    @app_commands.guild_only()
    async def videos(self, interaction: discord.Interaction[Any]) -> None:
        user = interaction.user.id
        since, resets = day_bounds(time.time())
        service = self.bot.service
        used = await service.usage(since=since, user_id=user)
        limits = await service.limits(interaction.guild_id)
        recent = await service.recent_jobs(user, limit=10)

        embed = discord.Embed(title=_("Your videos"), colour=discord.Colour.blurple())
        # A video whose reply could not be posted (the member's DMs closed, say) is reached
        # here, through its kept original.
        lines = [history_line(r, _kept(service, r)) for r in recent]
        embed.description = (
            join_within(lines, DESCRIPTION_LIMIT, separator="\n")
            if lines
            else _("You have not made any videos yet.")
        )
        timestamp = f"<t:{int(resets)}:R>"
        today = [
            _videos_line(used.videos, limits.user_daily_count),
            _("Seconds: {seconds}", seconds=i18n.number(used.seconds)),
            _cost_line(used, limits.user_daily_budget),
            # TRANSLATORS: {when} is a Discord timestamp shown as "in 5 hours" in the reader's
            # language.
            _("Resets {when}", when=timestamp),
        ]
        embed.add_field(name=_("Today"), value="\n".join(today), inline=False)
        embed.add_field(name=_("Money today"), value=billing_lines(used), inline=False)
        await interaction.response.send_message(embed=embed, ephemeral=True)


def _kept(service: VideoService, job: JobSummary) -> str | None:
    return service.original_link(job) if job.state is JobState.UNDELIVERABLE else None


def _videos_line(made: int, limit: int | None) -> str:
    if limit is None:
        return _("Videos: {made}", made=i18n.number(made))
    # TRANSLATORS: today's videos against the member's daily limit, e.g. "Videos: 2 of 5".
    return _("Videos: {made} of {limit}", made=i18n.number(made), limit=i18n.number(limit))


def _cost_line(used: Usage, budget: Decimal | None) -> str:
    """Bills count where the providers reported them (the Money field says how much)."""
    cost = i18n.money(used.cost)
    if used.billed_settled or used.estimated_settled:
        if budget is None:
            return _("Cost: {cost}", cost=cost)
        # TRANSLATORS: today's spending against the member's daily budget, e.g. "$0.40 of $2.00".
        return _("Cost: {cost} of {budget}", cost=cost, budget=i18n.money(budget))
    if budget is None:
        return _("Estimated cost: {cost}", cost=cost)
    return _("Estimated cost: {cost} of {budget}", cost=cost, budget=i18n.money(budget))


async def setup(bot: VideoBot) -> None:
    await bot.add_cog(HistoryCog(bot))
