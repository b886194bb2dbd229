"""Keeps one reply message in step with its job: throttled edits, token expiry, delivery."""

from __future__ import annotations

import asyncio
import datetime
import logging
import re
import time
from collections.abc import Callable
from typing import Any

import discord

from bot.discord_adapter import render
from bot.jobs.events import Delivery, JobView

log = logging.getLogger(__name__)

# Switch to the bot-token channel route this long before the interaction token dies, so an edit
# in flight at the boundary never hits 50027.
TOKEN_MARGIN = datetime.timedelta(seconds=60)
INVALID_WEBHOOK_TOKEN = 50027
ENTITY_TOO_LARGE = 40005


def _signature(view: JobView) -> tuple[object, ...]:
    """What a reader can see; an edit that would not change it is not sent."""
    eta = None if view.eta_at is None else round(view.eta_at / 15)
    return (view.phase, view.progress, eta)


def _filename(prompt: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", prompt.lower()).strip("-")[:40] or "video"
    return f"{slug}.mp4"


class DiscordPresenter:
    """The JobListener for a `/video` reply."""

    def __init__(
        self,
        interaction: discord.Interaction[Any],
        *,
        message_id: int | None,
        edit_interval: float,
        demo: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._interaction = interaction
        self._message_id = message_id
        self._channel_id = interaction.channel_id
        self._upload_limit = interaction.filesize_limit
        self._interval = edit_interval
        self._demo = demo
        self._clock = clock
        self._token_dead = False
        self._last_signature: tuple[object, ...] | None = None
        self._last_edit = -float("inf")
        self._pending: JobView | None = None
        self._flush: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.edits = 0

    # -- JobListener ------------------------------------------------------------------------

    async def show(self, view: JobView) -> None:
        if _signature(view) == self._last_signature:
            return
        wait = self._last_edit + self._interval - self._clock()
        if wait <= 0:
            await self._show_now(view)
            return
        self._pending = view
        if self._flush is None or self._flush.done():
            self._flush = asyncio.create_task(self._flush_later(wait), name="presenter-flush")

    async def deliver(self, view: JobView, delivery: Delivery) -> None:
        self._cancel_pending()
        if delivery.size > self._upload_limit:
            await self._edit(
                embed=render.too_large_embed(
                    view, delivery.size, self._upload_limit, demo=self._demo
                ),
                attachments=[],
            )
            return
        file = discord.File(delivery.path, filename=_filename(view.request.prompt))
        try:
            message = await self._edit(
                embed=render.delivered_embed(view, delivery.size, demo=self._demo),
                attachments=[file],
            )
        except discord.HTTPException as exc:
            if exc.status != 413 and exc.code != ENTITY_TOO_LARGE:
                raise
            await self._edit(
                embed=render.too_large_embed(
                    view, delivery.size, self._upload_limit, demo=self._demo
                ),
                attachments=[],
            )
            return
        await self._add_link(message)

    async def fail(self, view: JobView) -> None:
        self._cancel_pending()
        await self._edit(embed=render.failed_embed(view, demo=self._demo), attachments=[])

    # -- edits ------------------------------------------------------------------------------

    async def _show_now(self, view: JobView) -> None:
        self._last_signature = _signature(view)
        await self._edit(embed=render.progress_embed(view, demo=self._demo))

    async def _flush_later(self, wait: float) -> None:
        await asyncio.sleep(wait)
        view, self._pending = self._pending, None
        if view is not None and _signature(view) != self._last_signature:
            try:
                await self._show_now(view)
            except discord.HTTPException:
                log.warning("progress edit failed", exc_info=True)

    def _cancel_pending(self) -> None:
        self._pending = None
        if self._flush is not None and not self._flush.done():
            self._flush.cancel()

    async def _add_link(self, message: discord.Message | None) -> None:
        """A link button to the uploaded file, so it can be opened outside the player."""
        if message is None or not message.attachments:
            return
        view = discord.ui.View(timeout=None)
        view.add_item(discord.ui.Button(label="Open video", url=message.attachments[0].url))
        try:
            await self._edit(view=view)
        except discord.HTTPException:
            log.warning("adding the link button failed", exc_info=True)

    def _token_usable(self) -> bool:
        if self._token_dead:
            return False
        return discord.utils.utcnow() < self._interaction.expires_at - TOKEN_MARGIN

    async def _edit(self, **fields: Any) -> discord.Message | None:
        """Edit the reply: through the interaction token while it lives, then the channel."""
        async with self._lock:
            self._last_edit = self._clock()
            self.edits += 1
            if self._token_usable():
                try:
                    return await self._interaction.edit_original_response(**fields)
                except discord.HTTPException as exc:
                    if exc.code != INVALID_WEBHOOK_TOKEN and exc.status != 401:
                        raise
                    log.info("interaction token expired; editing through the channel now")
                    self._token_dead = True
            if self._message_id is None or self._channel_id is None:
                log.warning("token expired and the reply's message id is unknown; edit dropped")
                return None
            channel = self._interaction.client.get_partial_messageable(self._channel_id)
            edited: discord.Message = await channel.get_partial_message(self._message_id).edit(
                **fields
            )
            return edited
