"""The Cancel / Stop button on a reply: persistent across restarts, short custom ids."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord

from bot.domain import JobView, Phase

if TYPE_CHECKING:
    from bot.discord_adapter.client import VideoBot

_CANCELLABLE = {
    Phase.WAITING: "cancel",
    Phase.SUBMITTING: "stop",
    Phase.QUEUED: "stop",
    Phase.RUNNING: "stop",
}
_LABELS = {"cancel": "Cancel", "stop": "Stop following"}


class JobButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    # Job ids were 8 hex characters before they grew to 16: both keep working.
    template=r"video:(?P<action>cancel|stop):(?P<job>[0-9a-f]{8,32})",
):
    """Cancel a queued job, or stop following a running one (the API cannot cancel it)."""

    def __init__(self, action: str, job_id: str) -> None:
        super().__init__(
            discord.ui.Button(
                label=_LABELS[action],
                style=discord.ButtonStyle.secondary,
                custom_id=f"video:{action}:{job_id}",
            )
        )
        self.action = action
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> JobButton:
        return cls(match["action"], match["job"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        bot: VideoBot = interaction.client
        # Manage Server as Discord computed it for this interaction (the role cache may not
        # know a role given a minute ago).
        is_admin = interaction.guild_id is not None and interaction.permissions.manage_guild
        outcome = await bot.service.cancel(
            self.job_id, user_id=interaction.user.id, is_admin=is_admin
        )
        await interaction.response.send_message(outcome, ephemeral=True)


def controls(view: JobView) -> discord.ui.View | None:
    """The button a reply in this phase carries, if any."""
    action = _CANCELLABLE.get(view.phase)
    if action is None:
        return None
    controls_view = discord.ui.View(timeout=None)
    controls_view.add_item(JobButton(action, view.ref))
    return controls_view
