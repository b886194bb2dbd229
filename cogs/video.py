"""`/video`: options in, one call to the service, the reply out."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.catalogue import Catalogue
from bot.discord_adapter.improve import offer_improvement
from bot.discord_adapter.submit import submit_video
from bot.discord_adapter.suggestions import (
    Offer,
    declared_seconds_choice,
    model_choice,
    model_choices,
    needs_autocomplete,
    seconds_choices,
    size_choices,
)
from bot.discord_adapter.user_installs import declare_places
from bot.i18n import N_

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
    improve: bool = False  # a richer prompt offered first (bot/discord_adapter/improve.py)


Handler = Callable[[discord.Interaction[Any], VideoOptions], Awaitable[None]]
# What the member's server may choose from now (its allowed models, today's retirements).
OfferSource = Callable[[discord.Interaction[Any]], Awaitable[Offer]]


def build_video_command(
    catalogue: Catalogue, handler: Handler, offer: OfferSource, *, improvable: bool = False
) -> app_commands.Command[Any, ..., None]:
    """The `/video` command, with choices taken from the operator's catalogue.

    An option with more values than Discord's 25 choices becomes an autocomplete instead,
    answered from `offer`. Either way the options are declared from the catalogue alone, so the
    definitions (and the command sync's hash) change only when the catalogue does (or whether
    prompts can be improved: `improvable` adds the `improve` option).
    """
    default = catalogue.default

    async def plain(  # noqa: PLR0917 - discord.py maps options to parameters
        interaction: discord.Interaction[Any],
        prompt: app_commands.Range[str, 1, PROMPT_LIMIT],
        model: str | None = None,
        size: str | None = None,
        seconds: int | None = None,
        reference: discord.Attachment | None = None,
    ) -> None:
        await handler(interaction, VideoOptions(prompt, model, size, seconds, reference))

    async def improvable_video(  # noqa: PLR0917 - discord.py maps options to parameters
        interaction: discord.Interaction[Any],
        prompt: app_commands.Range[str, 1, PROMPT_LIMIT],
        model: str | None = None,
        size: str | None = None,
        seconds: int | None = None,
        reference: discord.Attachment | None = None,
        improve: bool = False,
    ) -> None:
        options = VideoOptions(prompt, model, size, seconds, reference, improve)
        await handler(interaction, options)

    # The option exists only where a chat model is set: discord.py reads options from the
    # callback's parameters, so the callback is chosen here, once, as the cog loads.
    video: Callable[..., Coroutine[Any, Any, None]] = improvable_video if improvable else plain

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
        choices["seconds"] = [declared_seconds_choice(s) for s in durations]

    if choices:
        video = app_commands.choices(**choices)(video)
    if suggest:
        video = app_commands.autocomplete(**suggest)(video)
    video = app_commands.describe(
        prompt=locale_str("What should happen in the video"),
        # TRANSLATORS: an option of /video; {model} is the default model's name.
        model=filled(N_("Which model (default {model})"), model=default.display_name),
        # TRANSLATORS: an option of /video; {size} is the default size, e.g. 1280x720.
        size=filled(N_("Width x height (default {size})"), size=default.size_default),
        seconds=filled(
            # TRANSLATORS: an option of /video; {seconds} is the default length, e.g. 8.
            N_("Length in seconds (default {seconds})"),
            seconds=default.seconds_default,
        ),
        reference=locale_str("An image to use as the first frame (JPEG, PNG or WebP)"),
    )(video)
    if improvable:
        video = app_commands.describe(
            improve=locale_str("Show an improved prompt and its cost first; nothing is spent yet")
        )(video)
    video = app_commands.guild_only()(video)
    return app_commands.command(
        name="video", description=locale_str("Turn a prompt into a short video")
    )(video)


def filled(template: str, /, **params: object) -> locale_str:
    """A description holding a value of the catalogue ("Which model (default sora-2)").

    Discord is sent the English text filled in; the tree's translator finds the message id in
    `extras["template"]` and fills its translation from `extras["params"]`.
    """
    english = template.format(**params)
    return locale_str(english, template=template, params=params)


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
        improvable = bot.service.improves_prompts
        self.command = build_video_command(
            bot.catalogue, self.video, self.offer, improvable=improvable
        )

    async def cog_load(self) -> None:
        declare_places(self.command, user_installs=self.bot.settings.user_installs)
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
        model = model_name(self.bot.catalogue, options.model)
        if options.improve:
            await offer_improvement(
                self.bot,
                interaction,
                options.prompt,
                model=model,
                size=options.size,
                seconds=options.seconds,
                reference=options.reference,
            )
            return
        await submit_video(
            self.bot,
            interaction,
            options.prompt,
            model=model,
            size=options.size,
            seconds=options.seconds,
            reference=options.reference,
            budget=ACK_BUDGET,
        )


async def setup(bot: VideoBot) -> None:
    await bot.add_cog(VideoCog(bot))
