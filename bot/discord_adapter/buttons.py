"""The buttons on a job's reply, as one persistent button class and a table of actions.

While a job runs its card carries Cancel (waiting) or Stop following (at the provider); once
it ended, Retry, Remix and Extend (where its model's provider can), Details and Delete. Every
button is a `DynamicItem` with a short custom id (`video:<action>:<job>`), so it works after a
restart; every action goes through the service with the clicking member as the requester.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import discord

from bot import i18n
from bot.catalogue import RequestRejected
from bot.discord_adapter import render
from bot.discord_adapter.follow_ups import open_follow_up_modal, start_follow_up
from bot.discord_adapter.interactions import (
    card_locale,
    read_in_members_language,
    requester_of,
    send_private,
)
from bot.discord_adapter.reply import refusal_text
from bot.domain import JobView, Phase, SourceGone
from bot.i18n import N_, _

if TYPE_CHECKING:
    from bot.discord_adapter.client import VideoBot

Handler = Callable[["VideoBot", discord.Interaction[Any], str], Awaitable[None]]


@dataclass(frozen=True)
class Action:
    label: str  # a message (N_), translated when a button is drawn
    handler: Handler
    style: discord.ButtonStyle = discord.ButtonStyle.secondary


async def _cancel(bot: VideoBot, interaction: discord.Interaction[Any], job_id: str) -> None:
    outcome = await bot.service.cancel(job_id, requester_of(interaction))
    await interaction.response.send_message(outcome, ephemeral=True)


async def _retry(bot: VideoBot, interaction: discord.Interaction[Any], job_id: str) -> None:
    await start_follow_up(bot, interaction, "retry", job_id)


async def _remix(bot: VideoBot, interaction: discord.Interaction[Any], job_id: str) -> None:
    await open_follow_up_modal(bot, interaction, "remix", job_id)


async def _extend(bot: VideoBot, interaction: discord.Interaction[Any], job_id: str) -> None:
    await open_follow_up_modal(bot, interaction, "extend", job_id)


async def _details(bot: VideoBot, interaction: discord.Interaction[Any], job_id: str) -> None:
    details = await bot.service.details(job_id, requester_of(interaction))
    await interaction.response.send_message(embed=render.details_embed(details), ephemeral=True)


async def _delete(bot: VideoBot, interaction: discord.Interaction[Any], job_id: str) -> None:
    outcome = await bot.service.delete(job_id, requester_of(interaction))
    message = interaction.message
    # The card is the server's: redrawn in its language, whoever pressed Delete.
    chosen = (await bot.service.policy(interaction.guild_id)).language
    with i18n.reading(chosen or card_locale(interaction)):
        if message is not None and message.flags.components_v2:
            from bot.discord_adapter import card_v2  # it imports this module

            await interaction.response.edit_message(
                view=card_v2.deleted(message, job_id), attachments=[]
            )
        else:
            current = message.embeds[0] if message and message.embeds else None
            await interaction.response.edit_message(
                embed=render.deleted_embed(current),
                attachments=[],
                view=_view(["details"], job_id),
            )
    await interaction.followup.send(outcome, ephemeral=True)


ACTIONS: dict[str, Action] = {
    # TRANSLATORS: a button's label: cancels a job still waiting for its turn.
    "cancel": Action(N_("Cancel"), _cancel),
    # TRANSLATORS: a button's label: the bot stops following a job the video service runs.
    "stop": Action(N_("Stop following"), _cancel),
    # TRANSLATORS: a button's label: makes the video again from the same prompt.
    "retry": Action(N_("Retry"), _retry),
    # TRANSLATORS: a button's label: makes a changed version of this video.
    "remix": Action(N_("Remix"), _remix),
    # TRANSLATORS: a button's label: makes this video longer.
    "extend": Action(N_("Extend"), _extend),
    # TRANSLATORS: a button's label: shows a job's details privately.
    "details": Action(N_("Details"), _details),
    # TRANSLATORS: a button's label: deletes the video.
    "delete": Action(N_("Delete"), _delete, discord.ButtonStyle.danger),
}
_WHILE_RUNNING = {
    Phase.WAITING: "cancel",
    Phase.SUBMITTING: "stop",
    Phase.QUEUED: "stop",
    Phase.RUNNING: "stop",
}


class JobButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    # Job ids were 8 hex characters before they grew to 16: both keep working.
    template=rf"video:(?P<action>{'|'.join(ACTIONS)}):(?P<job>[0-9a-f]{{8,32}})",
):
    """One action on one job; it works for the requester and the server's admins."""

    def __init__(self, action: str, job_id: str) -> None:
        entry = ACTIONS[action]
        super().__init__(
            discord.ui.Button(
                label=_(entry.label), style=entry.style, custom_id=f"video:{action}:{job_id}"
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

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        read_in_members_language(interaction)  # every answer of the callback below
        return True

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        bot: VideoBot = interaction.client
        try:
            await ACTIONS[self.action].handler(bot, interaction, self.job_id)
        except SourceGone as exc:
            await send_private(interaction, str(exc), view=_view(["retry"], self.job_id))
        except RequestRejected as exc:
            bot.mod_log.refused(interaction, exc)  # Remix or Extend refused at once
            await send_private(interaction, refusal_text(exc))


def _view(actions: list[str], job_id: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in actions:
        view.add_item(JobButton(action, job_id))
    return view


def delivered_actions(view: JobView) -> list[str]:
    """The follow-ups a finished job offers, given what its model's provider can do."""
    spec = view.request.spec
    if view.phase is Phase.DELIVERED:
        actions = ["retry"]
        actions += ["remix"] if spec.remix else []
        actions += ["extend"] if spec.extensions else []
        return [*actions, "details", "delete"]
    if view.phase is Phase.FAILED:
        return ["retry", "details"]
    return []


def controls(view: JobView) -> discord.ui.View | None:
    """The button a card in this phase carries while its job runs, if any."""
    action = _WHILE_RUNNING.get(view.phase)
    return None if action is None else _view([action], view.ref)


def result_controls(view: JobView, link: tuple[str, str] | None) -> discord.ui.View | None:
    """The components of a finished job's card: its link, then its follow-ups."""
    components = discord.ui.View(timeout=None)
    if link is not None:
        label, url = link
        components.add_item(discord.ui.Button(label=label, url=url))
    for action in delivered_actions(view):
        components.add_item(JobButton(action, view.ref))
    return components if components.children else None


def is_delivered_card(message: discord.Message) -> bool:
    """Whether a reply already is its job's finished card: only a delivered job's card
    carries a Delete button (read from the components, never from the words)."""
    for row in message.components:
        for item in getattr(row, "children", [row]):
            if str(getattr(item, "custom_id", "")).startswith("video:delete:"):
                return True
    return False
