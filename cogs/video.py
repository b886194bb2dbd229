"""`/video`: options in, a validated request to the engine out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.catalogue import Catalogue, RequestRejected
from bot.discord_adapter.tree import send_ephemeral
from bot.guardrails.policy import check_guild_policy
from bot.images import ImageRejected, check_upload, fit_reference
from bot.jobs.events import ReplyAddress
from bot.jobs.request import Requester, VideoRequest, validate_request
from bot.store import JobRecord
from bot.store.guilds import GuildStore

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
        size=[app_commands.Choice(name=s, value=s) for s in catalogue.all_sizes()[:25]],
    )
    @app_commands.choices(
        seconds=[app_commands.Choice(name=f"{s} s", value=s) for s in catalogue.all_seconds()[:25]]
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
        if not self.bot.runner.accepting:
            await send_ephemeral(interaction, "The bot is restarting. Try again in a minute.")
            return
        requester = Requester(
            interaction.user.id, interaction.guild_id, interaction.channel_id or 0
        )
        # Everything checkable without the provider is checked before anything is sent, and
        # the cost is reserved (limits permitting). Refusals are private when they are known
        # in time; the 3-second acknowledgement always comes first.
        try:
            request = validate_request(
                self.bot.catalogue,
                requester,
                options.prompt,
                model=options.model,
                size=options.size,
                seconds=options.seconds,
            )
            reference = options.reference
            if reference is not None:
                check_upload(reference.content_type, reference.size, reference.filename)
        except (RequestRejected, ImageRejected) as exc:
            await send_ephemeral(interaction, str(exc))
            return

        admission = asyncio.ensure_future(self._admit(request))
        elapsed = (discord.utils.utcnow() - interaction.created_at).total_seconds()
        if elapsed < ACK_BUDGET:
            try:
                await asyncio.wait_for(asyncio.shield(admission), timeout=ACK_BUDGET - elapsed)
            except TimeoutError:
                pass  # still checking: acknowledge now, answer when it is known
            except RequestRejected as exc:
                await send_ephemeral(interaction, str(exc))
                return

        try:
            callback = await interaction.response.defer(thinking=True)
            message_id = callback.message_id if callback is not None else None
            if message_id is None:
                message_id = (await interaction.original_response()).id
        except discord.HTTPException:
            with contextlib.suppress(RequestRejected):
                await self.bot.runner.withdraw(await admission, "the reply could not be made")
            raise
        try:
            record = await admission
        except RequestRejected as exc:
            await self._withdraw(interaction, str(exc))
            return

        fitted: bytes | None = None
        if reference is not None:
            try:
                fitted = fit_reference(await reference.read(), request.size).data
            except ImageRejected as exc:
                await self.bot.runner.withdraw(record, str(exc))
                await self._withdraw(interaction, str(exc))
                return
            except discord.HTTPException:
                await self.bot.runner.withdraw(record, "reference not fetched")
                await self._withdraw(interaction, "The reference image could not be fetched.")
                return

        address = ReplyAddress(
            channel_id=interaction.channel_id or 0,
            message_id=message_id,
            application_id=interaction.application_id,
            interaction_token=interaction.token,
            token_expires_at=interaction.expires_at.timestamp(),
            upload_limit=interaction.filesize_limit,
            interaction_id=interaction.id,
        )
        await self.bot.runner.start(record, address, fitted)

    async def _admit(self, request: VideoRequest) -> JobRecord:
        """The guild's own rules, then the spend limits with the reservation."""
        policy = await GuildStore(self.bot.database).get(request.requester.guild_id or 0)
        check_guild_policy(policy, request)
        return await self.bot.runner.reserve(request)

    async def _withdraw(self, interaction: discord.Interaction[Any], reason: str) -> None:
        """Replace the public 'thinking' reply with a private explanation."""
        try:
            await interaction.delete_original_response()
        except discord.HTTPException:
            log.info("could not delete the deferred reply", exc_info=True)
        await send_ephemeral(interaction, reason)


async def setup(bot: VideoBot) -> None:
    await bot.add_cog(VideoCog(bot))
