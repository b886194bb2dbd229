"""`/video`: options in, one call to the service, the reply out."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.catalogue import Catalogue, RequestRejected
from bot.discord_adapter.interactions import requester_of
from bot.discord_adapter.reply import InteractionReply, refusal_text
from bot.discord_adapter.suggestions import (
    Offer,
    model_choice,
    model_choices,
    needs_autocomplete,
    seconds_choice,
    seconds_choices,
    size_choices,
)
from bot.domain import Upload

if TYPE_CHECKING:
    from bot.discord_adapter.client import VideoBot

log = logging.getLogger(__name__)

PROMPT_LIMIT = 6000  # Discord's own limit for a string option
# Seconds after the interaction's creation by which the bot acknowledges it, whatever is still
# being checked (Discord allows 3).
ACK_BUDGET = 1.0


@dataclass(frozen=True)
class VideoOptions:
    """The options a member gave `/video`, as Discord delivered them."""

    prompt: str
    model: str | None
    size: str | None
    seconds: int | None
    reference: discord.Attachment | None


Handler = Callable[[discord.Interaction[Any], VideoOptions], Awaitable[None]]
# What the member's server may choose from now (its allowed models, today's retirements).
OfferSource = Callable[[discord.Interaction[Any]], Awaitable[Offer]]


def build_video_command(
    catalogue: Catalogue, handler: Handler, offer: OfferSource
) -> app_commands.Command[Any, ..., None]:
    """The `/video` command, with choices taken from the operator's catalogue.

    An option with more values than Discord's 25 choices becomes an autocomplete instead,
    answered from `offer`. Either way the options are declared from the catalogue alone, so the
    definitions (and the command sync's hash) change only when the catalogue does.
    """
    default = catalogue.default

    async def video(  # noqa: PLR0917 - discord.py maps options to parameters
        interaction: discord.Interaction[Any],
        prompt: app_commands.Range[str, 1, PROMPT_LIMIT],
        model: str | None = None,
        size: str | None = None,
        seconds: int | None = None,
        reference: discord.Attachment | None = None,
    ) -> None:
        await handler(interaction, VideoOptions(prompt, model, size, seconds, reference))

    async def suggest_models(
        interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        return model_choices(await offer(interaction), current)

    async def suggest_sizes(
        interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        chosen = interaction.namespace.model
        return size_choices(await offer(interaction), current, chosen)

    async def suggest_seconds(
        interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[int]]:
        # The focused value is what was typed so far: text, even for an integer option.
        chosen = interaction.namespace.model
        return seconds_choices(await offer(interaction), current, chosen)

    sizes, durations = catalogue.all_sizes(), catalogue.all_seconds()
    choices: dict[str, list[Any]] = {}
    suggest: dict[str, Any] = {}
    if needs_autocomplete(catalogue.models):
        suggest["model"] = suggest_models
    else:
        choices["model"] = [model_choice(spec) for spec in catalogue.models]
    if needs_autocomplete(sizes):
        suggest["size"] = suggest_sizes
    else:
        choices["size"] = [app_commands.Choice(name=s, value=s) for s in sizes]
    if needs_autocomplete(durations):
        suggest["seconds"] = suggest_seconds
    else:
        choices["seconds"] = [seconds_choice(s) for s in durations]

    if choices:
        video = app_commands.choices(**choices)(video)
    if suggest:
        video = app_commands.autocomplete(**suggest)(video)
    video = app_commands.describe(
        prompt="What should happen in the video",
        model=f"Which model (default {default.display_name})",
        size=f"Width x height (default {default.size_default})",
        seconds=f"Length in seconds (default {default.seconds_default})",
        reference="An image to use as the first frame (JPEG, PNG or WebP)",
    )(video)
    video = app_commands.guild_only()(video)
    return app_commands.command(name="video", description="Turn a prompt into a short video")(video)


def model_name(catalogue: Catalogue, typed: str | None) -> str | None:
    """A model typed rather than picked from the suggestions: its label (any case) is taken
    for its name; anything else goes on as typed, for the service to refuse."""
    if typed is None:
        return None
    wanted = typed.strip().lower()
    for spec in catalogue.models:
        if wanted in (spec.name.lower(), spec.display_name.lower()):
            return spec.name
    return typed


class VideoCog(commands.Cog):
    """The `/video` command."""

    def __init__(self, bot: VideoBot) -> None:
        self.bot = bot
        self.command = build_video_command(bot.catalogue, self.video, self.offer)

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.command)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.command.name)

    async def offer(self, interaction: discord.Interaction[Any]) -> Offer:
        """The models this server allows, as of today (for the autocomplete)."""
        service = self.bot.service
        policy = await service.policy(interaction.guild_id)
        return Offer(service.catalogue, service.today(), policy.models, policy.max_seconds)

    async def video(self, interaction: discord.Interaction[Any], options: VideoOptions) -> None:
        """Options in, one call to the service, the reply out."""
        reply = InteractionReply(interaction, ACK_BUDGET)
        reply.arm()
        attachment = options.reference
        upload = (
            None
            if attachment is None
            else Upload(
                attachment.content_type, attachment.size, attachment.filename, attachment.read
            )
        )
        try:
            await self.bot.service.submit(
                requester_of(interaction),
                options.prompt,
                reply=reply,
                model=model_name(self.bot.catalogue, options.model),
                size=options.size,
                seconds=options.seconds,
                reference=upload,
            )
        except RequestRejected as exc:
            self.bot.mod_log.refused(interaction, exc)
            await reply.refuse(refusal_text(exc))
        finally:
            reply.close()


async def setup(bot: VideoBot) -> None:
    await bot.add_cog(VideoCog(bot))
