"""Animate this image: a message context menu that turns a message's image into a video.

The menu opens a modal (prompt, model, size, seconds); its submit is `/video` with the image
as the reference, through the same service. The image is remembered between the menu and
the submit, and fetched from Discord's CDN only then.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
import discord

from bot.catalogue import Catalogue, RequestRejected
from bot.discord_adapter.follow_ups import PROMPT_LIMIT, choice, text
from bot.discord_adapter.interactions import requester_of, send_private, send_unkept_modal
from bot.discord_adapter.render import seconds_text
from bot.discord_adapter.reply import InteractionReply, refusal_text
from bot.domain import Upload
from bot.i18n import N_, _
from bot.media.images import MAX_REFERENCE_BYTES

if TYPE_CHECKING:
    from bot.discord_adapter.client import VideoBot

ACK_BUDGET = 1.0
MODAL = re.compile(r"^video:animate:(?P<channel>[0-9]{1,20}):(?P<message>[0-9]{1,20})$")
_IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp")
# TRANSLATORS: "Apps" and "Animate this image" are what Discord's message menu shows.
AGAIN = N_("Use *Apps → Animate this image* on the message again.")
# TRANSLATORS: "Apps" and "Animate this image" are what Discord's message menu shows.
EXPIRED = N_("The image's link has expired. Use *Apps → Animate this image* on the message again.")
DOWNLOAD_TIMEOUT = 30.0
_CHUNK = 256 * 1024


@dataclass(frozen=True)
class Image:
    url: str
    content_type: str | None
    size: int
    filename: str


class PendingImages:
    """The image each open "Animate this image" modal is about, between the menu and the
    submit: Discord hands the bot a message's attachments with the menu, but a bot without the
    privileged Message Content intent cannot read them back later. Bounded, and forgotten after
    an hour (or a restart: the member is then asked to open the menu again)."""

    def __init__(self, ttl: float = 3600.0, limit: int = 10_000) -> None:
        self._ttl = ttl
        self._limit = limit
        self._images: dict[tuple[int, int], tuple[float, Image]] = {}

    def put(self, user_id: int, message_id: int, image: Image) -> None:
        now = time.monotonic()
        if len(self._images) >= self._limit:
            self._images = {k: v for k, v in self._images.items() if now - v[0] < self._ttl}
            while len(self._images) >= self._limit:
                self._images.pop(next(iter(self._images)))
        self._images[(user_id, message_id)] = (now, image)

    def take(self, user_id: int, message_id: int) -> Image | None:
        found = self._images.pop((user_id, message_id), None)
        if found is None or time.monotonic() - found[0] >= self._ttl:
            return None
        return found[1]


def _guess_type(name: str) -> str | None:
    suffix = name.lower().split("?", 1)[0].rsplit(".", 1)[-1]
    return {
        "png": "image/png",
        "jpg": "image/jpeg",
        "jpeg": "image/jpeg",
        "webp": "image/webp",
    }.get(suffix)


def find_image(message: discord.Message) -> Image | None:
    """The first image of a message: an attachment, else an embed's image (through Discord's
    media proxy, never the third-party host)."""
    for attachment in message.attachments:
        declared = (attachment.content_type or "").split(";")[0].strip().lower()
        content_type = declared or _guess_type(attachment.filename)
        if content_type in _IMAGE_TYPES:
            return Image(attachment.url, content_type, attachment.size, attachment.filename)
    for embed in message.embeds:
        media = embed.image if embed.image.url else embed.thumbnail
        url = media.proxy_url
        content_type = _guess_type(media.url or "") if media.url else None
        if url and content_type is not None:
            return Image(url, content_type, 0, "embedded image")
    return None


async def open_animate_modal(
    bot: VideoBot, interaction: discord.Interaction[Any], message: discord.Message
) -> None:
    """The context menu: a modal with the prompt and the model, size and seconds choices."""
    image = find_image(message)
    if image is None:
        await send_private(
            interaction, _("This message has no image to animate (PNG, JPEG or WebP attachments).")
        )
        return
    bot.pending_images.put(interaction.user.id, message.id, image)
    modal = discord.ui.Modal(
        # TRANSLATORS: the title of a form; the same words as the message menu's entry.
        title=_("Animate this image"),
        custom_id=f"video:animate:{message.channel.id}:{message.id}",
        timeout=None,
    )
    modal.add_item(
        discord.ui.Label(
            # TRANSLATORS: a form's field: the text that describes the video.
            text=_("Prompt"),
            description=_("What should happen in the video"),
            component=discord.ui.TextInput(
                custom_id="prompt", style=discord.TextStyle.paragraph, max_length=PROMPT_LIMIT
            ),
        )
    )
    for label, custom_id, options in _choices(bot.catalogue):
        modal.add_item(
            discord.ui.Label(
                text=label,
                component=discord.ui.Select(custom_id=custom_id, options=options, required=False),
            )
        )
    await send_unkept_modal(interaction, modal)


def _choices(catalogue: Catalogue) -> list[tuple[str, str, list[discord.SelectOption]]]:
    default = catalogue.default
    return [
        (
            # TRANSLATORS: a form's field: the video model.
            _("Model"),
            "model",
            [
                discord.SelectOption(
                    label=m.display_name, value=m.name, default=m.name == default.name
                )
                for m in catalogue.models
            ],
        ),
        (
            # TRANSLATORS: a form's field: the video's width x height.
            _("Size"),
            "size",
            [
                discord.SelectOption(label=s, value=s, default=s == default.size_default)
                for s in catalogue.all_sizes()
            ],
        ),
        (
            # TRANSLATORS: a form's field: the video's length.
            _("Seconds"),
            "seconds",
            [
                discord.SelectOption(
                    label=seconds_text(s), value=str(s), default=s == default.seconds_default
                )
                for s in catalogue.all_seconds()
            ],
        ),
    ]


async def submit_animate_modal(
    bot: VideoBot,
    interaction: discord.Interaction[Any],
    match: re.Match[str],
    values: Mapping[str, str | list[str]],
) -> None:
    """The modal's submit: the image is fetched now, then it is `/video` with a reference."""
    channel_id, message_id = int(match["channel"]), int(match["message"])
    guild = interaction.guild_id or "@me"
    reply = InteractionReply(
        interaction,
        ACK_BUDGET,
        source_link=f"https://discord.com/channels/{guild}/{channel_id}/{message_id}",
    )
    reply.arm()
    image = bot.pending_images.take(interaction.user.id, message_id)
    try:
        if image is None:
            image = await _image_of(bot, channel_id, message_id)
        picked = image
        seconds = choice(values, "seconds")
        await bot.service.submit(
            requester_of(interaction),
            text(values, "prompt") or "",
            reply=reply,
            model=choice(values, "model"),
            size=choice(values, "size"),
            seconds=int(seconds) if seconds and seconds.isascii() and seconds.isdigit() else None,
            reference=Upload(
                picked.content_type, picked.size, picked.filename, lambda: download(picked.url)
            ),
        )
    except RequestRejected as exc:
        bot.mod_log.refused(interaction, exc)
        await reply.refuse(refusal_text(exc))
    finally:
        reply.close()


async def _image_of(bot: VideoBot, channel_id: int, message_id: int) -> Image:
    """The message's image read again (the bot restarted since the menu was opened): this
    works where the bot may read messages' attachments (the Message Content intent)."""
    try:
        message = await bot.get_partial_messageable(channel_id).fetch_message(message_id)
    except discord.HTTPException:
        message = None
    image = find_image(message) if message is not None else None
    if image is None:
        raise RequestRejected(_(AGAIN))
    return image


async def download(url: str) -> bytes:
    """An image from Discord's CDN, at most the reference limit, no redirects elsewhere."""
    timeout = aiohttp.ClientTimeout(total=DOWNLOAD_TIMEOUT)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(url, allow_redirects=False) as resp,
    ):
        if resp.status != 200:
            raise RequestRejected(_(EXPIRED))
        # Read to the end, chunk by chunk: one read() returns only what has arrived so far.
        data = bytearray()
        async for chunk in resp.content.iter_chunked(_CHUNK):
            data += chunk
            if len(data) > MAX_REFERENCE_BYTES:
                raise RequestRejected(_("The image is too large (20 MiB at most)."))
    return bytes(data)
