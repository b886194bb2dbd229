"""Improve prompt, before spending: the private answer to `/video improve:true`.

The service checks the prompt as it would check `/video` and asks a chat model for a richer
one; the member is answered privately with the rewrite, the estimated cost and four buttons:
*Generate* (the rewrite), *Edit* (a modal prefilled with it), *Use mine* (their own prompt) and
*Cancel*. Nothing is reserved, queued or sent to a video provider before Generate, Edit's submit
or Use mine, which start the video exactly as `/video` does (bot/discord_adapter/submit.py).
Without a rewrite (the chat server failed, the day's rewrites are used up, the rewrite was
refused) the answer says why and offers Use mine and Cancel.

The answer lives in memory while the `/video` interaction's token does (15 minutes): its
buttons are disabled when it times out; after a restart they no longer answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import discord

from bot import i18n
from bot.catalogue import RequestRejected
from bot.discord_adapter import render
from bot.discord_adapter.interactions import (
    read_in_members_language,
    requester_of,
    send_private,
)
from bot.discord_adapter.reply import MESSAGE_LIMIT, refusal_text
from bot.discord_adapter.submit import submit_video, upload_of
from bot.domain import LimitReached, PromptHelperUnavailable, PromptOffer
from bot.i18n import _

if TYPE_CHECKING:
    from bot.discord_adapter.client import VideoBot

log = logging.getLogger(__name__)

# How long the choice stays open: within the 15 minutes the `/video` interaction's token lasts,
# which the answer is edited with (a minute kept for the last edit).
OFFER_TIMEOUT = 14 * 60.0
_TOKEN_MARGIN = 60.0
EDIT_LIMIT = 4000  # a modal's text input holds at most 4000 characters
DESCRIPTION_LIMIT = 4096  # an embed's description

Choose = Callable[[discord.Interaction[Any]], Awaitable[None]]


async def offer_improvement(
    bot: VideoBot,
    interaction: discord.Interaction[Any],
    prompt: str,
    *,
    model: str | None = None,
    size: str | None = None,
    seconds: int | None = None,
    reference: discord.Attachment | None = None,
) -> None:
    """Answer `/video improve:true` privately with an improved prompt to choose from."""
    # The checks and the chat model take longer than Discord's 3 seconds: a private "thinking".
    await interaction.response.defer(ephemeral=True, thinking=True)
    try:
        offer = await bot.service.improve_prompt(
            requester_of(interaction),
            prompt,
            model=model,
            size=size,
            seconds=seconds,
            reference=upload_of(reference),
            max_length=EDIT_LIMIT,
        )
    except RequestRejected as exc:
        bot.mod_log.refused(interaction, exc)  # the member's own prompt was refused
        await interaction.edit_original_response(content=refusal_text(exc))
        return
    view = OfferView(bot, interaction, offer, reference)
    await interaction.edit_original_response(
        content=offer_line(offer), embed=offer_embed(bot, offer), view=view
    )


def offer_line(offer: PromptOffer) -> str:
    """The answer's first line: the rewrite is ready, or why there is none."""
    cost = i18n.money(offer.estimated_cost)
    if offer.rewrite is not None:
        # TRANSLATORS: {cost} is the video's estimated cost, e.g. $0.80.
        return _(
            "Improved prompt ready ({cost} estimated). Nothing is spent until you choose.",
            cost=cost,
        )
    # TRANSLATORS: {cost} is the video's estimated cost, e.g. $0.80.
    mine = _("Your own prompt can still be used ({cost} estimated); nothing was spent.", cost=cost)
    return render.shorten(f"{problem_line(offer.problem)}\n{mine}", MESSAGE_LIMIT)


def problem_line(problem: Exception | None) -> str:
    """Why no rewrite is offered, for the member."""
    if isinstance(problem, PromptHelperUnavailable) or problem is None:
        return _("The prompt helper is unavailable right now.")
    if isinstance(problem, LimitReached):  # the member's rewrites of the day
        return refusal_text(problem)
    # TRANSLATORS: {reason} says why, e.g. "This prompt was flagged for: violence."
    return _("The improved prompt cannot be used. {reason}", reason=refusal_text(problem))


def offer_embed(bot: VideoBot, offer: PromptOffer) -> discord.Embed:
    """The rewrite in full (or the member's own prompt), the video asked for and its cost."""
    if offer.rewrite is not None:
        embed = discord.Embed(
            title=_("Improved prompt"),
            description=render.quoted_prompt(offer.rewrite, DESCRIPTION_LIMIT),
            colour=discord.Colour.blurple(),
        )
        embed.add_field(
            name=_("Your prompt"),
            value=render.quoted_prompt(offer.original, render.FIELD_VALUE),
            inline=False,
        )
    else:
        embed = discord.Embed(
            title=_("Your prompt"),
            description=render.quoted_prompt(offer.original, DESCRIPTION_LIMIT),
            colour=discord.Colour.blurple(),
        )
    try:
        label = bot.catalogue.get(offer.model).display_name
    except RequestRejected:
        label = offer.model
    shown = f"{label} · {offer.size} · {render.seconds_text(offer.seconds)}"
    embed.add_field(name=_("Video"), value=shown, inline=True)
    embed.add_field(name=_("Estimated cost"), value=i18n.money(offer.estimated_cost), inline=True)
    return embed


class _Choice(discord.ui.Button["OfferView"]):
    def __init__(self, label: str, style: discord.ButtonStyle, choose: Choose) -> None:
        super().__init__(label=label, style=style)
        self._choose = choose

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await self._choose(interaction)


class OfferView(discord.ui.View):
    """Generate, Edit, Use mine and Cancel under the private answer, for its member only."""

    def __init__(
        self,
        bot: VideoBot,
        origin: discord.Interaction[Any],
        offer: PromptOffer,
        reference: discord.Attachment | None,
    ) -> None:
        token_left = (origin.expires_at - discord.utils.utcnow()).total_seconds()
        lasts = max(1.0, min(OFFER_TIMEOUT, token_left - _TOKEN_MARGIN))
        super().__init__(timeout=lasts)
        self._deadline = time.monotonic() + lasts
        self.bot = bot
        self.origin = origin
        self.offer = offer
        self.reference = reference
        self.owner_id = origin.user.id
        self._busy = False
        if offer.rewrite is not None:
            # TRANSLATORS: a button's label: makes the video from the improved prompt.
            self.add_item(_Choice(_("Generate"), discord.ButtonStyle.primary, self._generate))
            # TRANSLATORS: a button's label: opens the improved prompt for editing.
            self.add_item(_Choice(_("Edit"), discord.ButtonStyle.secondary, self._edit))
        # TRANSLATORS: a button's label: makes the video from the member's own prompt.
        self.add_item(_Choice(_("Use mine"), discord.ButtonStyle.secondary, self._use_mine))
        # TRANSLATORS: a button's label: drops the improved prompt; nothing is made.
        self.add_item(_Choice(_("Cancel"), discord.ButtonStyle.secondary, self._cancel))

    def remaining(self) -> float:
        """Seconds the choice stays open: a fixed deadline, however often it is pressed."""
        return max(1.0, self._deadline - time.monotonic())

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        read_in_members_language(interaction)
        if interaction.user.id != self.owner_id:
            await send_private(interaction, _("Only the member who asked can choose here."))
            return False
        if self._busy:  # a second press while the first one's video is being started
            await interaction.response.defer()
            return False
        self.timeout = self.remaining()  # discord.py would extend it from this press
        return True

    async def _generate(self, interaction: discord.Interaction[Any]) -> None:
        assert self.offer.rewrite is not None  # noqa: S101 - the button exists only then
        await self.choose(interaction, self.offer.rewrite, _("Started with the improved prompt."))

    async def _use_mine(self, interaction: discord.Interaction[Any]) -> None:
        await self.choose(interaction, self.offer.original, _("Started with your own prompt."))

    async def _edit(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.send_modal(EditModal(self))

    async def _cancel(self, interaction: discord.Interaction[Any]) -> None:
        self._end()
        await interaction.response.edit_message(
            content=_("Cancelled: nothing was spent."), view=self
        )

    async def choose(self, interaction: discord.Interaction[Any], prompt: str, said: str) -> None:
        """Start the video from `prompt` as `/video` would; once it is started, the answer
        says so and its buttons are disabled. A refusal leaves the choice open."""
        if self.is_finished() or self._busy:  # Edit's modal sent after another choice
            await send_private(interaction, _("You have already chosen."))
            return
        self._busy = True
        try:
            offer = self.offer
            started = await submit_video(
                self.bot,
                interaction,
                prompt,
                model=offer.model,
                size=offer.size,
                seconds=offer.seconds,
                reference=self.reference,
            )
        finally:
            self._busy = False
        if not started:
            return
        self._end()
        await self._show(content=said)

    def _end(self) -> None:
        self.stop()
        for item in self.children:
            if isinstance(item, discord.ui.Button):
                item.disabled = True

    async def _show(self, **changes: Any) -> None:
        """Edit the private answer through the `/video` interaction, while its token lasts."""
        if self.origin.is_expired():
            return
        try:
            await self.origin.edit_original_response(view=self, **changes)
        except discord.HTTPException:
            log.info("could not update the improved prompt's answer", exc_info=True)

    async def on_timeout(self) -> None:
        self._end()
        await self._show()

    async def on_error(
        self, interaction: discord.Interaction[Any], error: Exception, item: discord.ui.Item[Any], /
    ) -> None:
        log.error("a choice under an improved prompt failed", exc_info=error)
        await send_private(interaction, _("Something went wrong on the bot's side."))


class EditModal(discord.ui.Modal):
    """The rewrite in a text box; sending it starts the video with the text as it is then."""

    def __init__(self, offer: OfferView) -> None:
        # TRANSLATORS: a form's title (at most 45 characters).
        super().__init__(title=_("Edit the prompt"), timeout=offer.remaining())
        self.offer = offer
        limit = min(offer.offer.max_length, EDIT_LIMIT)
        self.prompt = discord.ui.TextInput[Any](
            custom_id="prompt",
            style=discord.TextStyle.paragraph,
            default=(offer.offer.rewrite or offer.offer.original)[:limit],
            max_length=limit,
        )
        self.add_item(
            discord.ui.Label(
                text=_("Prompt"),
                description=_("The video is made from this text when you send it."),
                component=self.prompt,
            )
        )

    async def on_submit(self, interaction: discord.Interaction[Any], /) -> None:
        read_in_members_language(interaction)
        said = _("Started with your edited prompt.")
        await self.offer.choose(interaction, self.prompt.value, said)

    async def on_error(  # type: ignore[override] # discord.py's Modal drops `item`
        self, interaction: discord.Interaction[Any], error: Exception, /
    ) -> None:
        log.error("an edited prompt could not be started", exc_info=error)
        await send_private(interaction, _("Something went wrong on the bot's side."))
