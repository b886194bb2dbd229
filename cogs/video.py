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


def build_video_command(
    catalogue: Catalogue, handler: Handler
) -> app_commands.Command[Any, ..., None]:
    """The `/video` command, with choices taken from the operator's catalogue."""
    default = catalogue.default

    @app_commands.command(name="video", description="Turn a prompt into a short video")
    @app_commands.describe(
        prompt="What should happen in the video",
        model=f"Which model (default {default.display_name})",
        size=f"Width x height (default {default.size_default})",
        seconds=f"Length in seconds (default {default.seconds_default})",
        reference="An image to use as the first frame (JPEG, PNG or WebP)",
    )
    @app_commands.choices(
        model=[app_commands.Choice(name=m.display_name, value=m.name) for m in catalogue.models],
        size=[app_commands.Choice(name=s, value=s) for s in catalogue.all_sizes()],
    )
    @app_commands.choices(
        seconds=[app_commands.Choice(name=f"{s} s", value=s) for s in catalogue.all_seconds()]
    )
    @app_commands.guild_only()
    async def video(  # noqa: PLR0917 - discord.py maps options to parameters
        interaction: discord.Interaction[Any],
        prompt: app_commands.Range[str, 1, PROMPT_LIMIT],
        model: str | None = None,
        size: str | None = None,
        seconds: int | None = None,
        reference: discord.Attachment | None = None,
    ) -> None:
        await handler(interaction, VideoOptions(prompt, model, size, seconds, reference))

    return video


class VideoCog(commands.Cog):
    """The `/video` command."""

    def __init__(self, bot: VideoBot) -> None:
        self.bot = bot
        self.command = build_video_command(bot.catalogue, self.video)

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.command)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.command.name)

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
                model=options.model,
                size=options.size,
                seconds=options.seconds,
                reference=upload,
            )
        except RequestRejected as exc:
            await reply.refuse(refusal_text(exc))
        finally:
            reply.close()


async def setup(bot: VideoBot) -> None:
    await bot.add_cog(VideoCog(bot))
