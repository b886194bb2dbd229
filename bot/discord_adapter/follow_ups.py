"""Follow-ups on a result: Retry, Remix, Extend, Details and Delete buttons, their modals, and
"Animate this image" on any message.

Buttons are persistent `DynamicItem`s with short custom ids (`video:remix:<job>`), so they work
after a restart. Modals are never kept in discord.py's memory (a restart would forget them):
every modal submit is read by `handle_modal_submit` from its custom id and values. Each
follow-up is a new job through the service: validation, guild rules, limits, the queue,
progress and delivery, the same as `/video`.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
import discord

from bot.catalogue import Catalogue, ModelSpec, RequestRejected
from bot.discord_adapter import render
from bot.discord_adapter.reply import InteractionReply, refusal_text
from bot.domain import JobView, Phase, Requester
from bot.media.images import MAX_REFERENCE_BYTES
from bot.service.facade import SourceGone, Upload

if TYPE_CHECKING:
    from bot.discord_adapter.client import VideoBot

log = logging.getLogger(__name__)

ACK_BUDGET = 1.0
PROMPT_LIMIT = 4000  # a modal's text input holds at most 4000 characters
_LABELS = {
    "retry": "Retry",
    "remix": "Remix",
    "extend": "Extend",
    "details": "Details",
    "delete": "Delete",
}
_STYLES = {"delete": discord.ButtonStyle.danger}
_JOB = r"[0-9a-f]{8,32}"
_MODAL = re.compile(rf"^video:(?P<action>remix|extend):(?P<job>{_JOB})$")
_ANIMATE = re.compile(r"^video:animate:(?P<channel>[0-9]{1,20}):(?P<message>[0-9]{1,20})$")
_IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp")
AGAIN = "Use *Apps → Animate this image* on the message again."


def _is_admin(interaction: discord.Interaction[Any]) -> bool:
    """Manage Server, as Discord computed it for this interaction (the role cache may not
    know a role given a minute ago)."""
    return interaction.guild_id is not None and interaction.permissions.manage_guild


def _requester(interaction: discord.Interaction[Any]) -> Requester:
    return Requester(interaction.user.id, interaction.guild_id)


class FollowUpButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=rf"video:(?P<action>retry|remix|extend|details|delete):(?P<job>{_JOB})",
):
    """One follow-up on a finished job; it works for the requester and server admins."""

    def __init__(self, action: str, job_id: str) -> None:
        super().__init__(
            discord.ui.Button(
                label=_LABELS[action],
                style=_STYLES.get(action, discord.ButtonStyle.secondary),
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
    ) -> FollowUpButton:
        return cls(match["action"], match["job"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        bot: VideoBot = interaction.client
        try:
            if self.action == "retry":
                await _start_follow_up(bot, interaction, "retry", self.job_id)
            elif self.action in ("remix", "extend"):
                await _open_modal(bot, interaction, self.action, self.job_id)
            elif self.action == "details":
                await _details(bot, interaction, self.job_id)
            else:
                await _delete(bot, interaction, self.job_id)
        except SourceGone as exc:
            retry = discord.ui.View(timeout=None)
            retry.add_item(FollowUpButton("retry", self.job_id))
            await _private(interaction, str(exc), view=retry)
        except RequestRejected as exc:
            await _private(interaction, refusal_text(exc))


def result_controls(view: JobView, link: tuple[str, str] | None) -> discord.ui.View | None:
    """The components of a finished job's card: its link, then what its provider can serve."""
    controls = discord.ui.View(timeout=None)
    if link is not None:
        label, url = link
        controls.add_item(discord.ui.Button(label=label, url=url))
    for action in follow_ups_for(view):
        controls.add_item(FollowUpButton(action, view.ref))
    return controls if controls.children else None


def follow_ups_for(view: JobView) -> list[str]:
    """The follow-ups a job in this state offers, given what its model's provider can do."""
    spec = view.request.spec
    if view.phase is Phase.DELIVERED:
        actions = ["retry"]
        actions += ["remix"] if spec.remix else []
        actions += ["extend"] if spec.extensions else []
        return [*actions, "details", "delete"]
    if view.phase is Phase.FAILED:
        return ["retry", "details"]
    return []


async def _private(
    interaction: discord.Interaction[Any], text: str, *, view: discord.ui.View | None = None
) -> None:
    extra: dict[str, Any] = {} if view is None else {"view": view}
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True, **extra)
    else:
        await interaction.response.send_message(text, ephemeral=True, **extra)


async def _start_follow_up(
    bot: VideoBot,
    interaction: discord.Interaction[Any],
    kind: str,
    job_id: str,
    *,
    prompt: str | None = None,
    seconds: int | None = None,
) -> None:
    """A new public reply, made by the service like any `/video` reply."""
    reply = InteractionReply(interaction, ACK_BUDGET, source_link=_source_link(interaction))
    reply.arm()
    try:
        await bot.service.follow_up(
            "retry" if kind == "retry" else ("remix" if kind == "remix" else "extend"),
            job_id,
            _requester(interaction),
            reply=reply,
            is_admin=_is_admin(interaction),
            prompt=prompt,
            seconds=seconds,
        )
    except SourceGone:
        reply.close()
        raise
    except RequestRejected as exc:
        await reply.refuse(refusal_text(exc))
    finally:
        reply.close()


def _source_link(interaction: discord.Interaction[Any]) -> str | None:
    message = interaction.message
    return message.jump_url if message is not None else None


async def _open_modal(
    bot: VideoBot, interaction: discord.Interaction[Any], action: str, job_id: str
) -> None:
    """Remix or Extend: ask for the prompt (and the seconds) in a modal."""
    source = await bot.service.check_follow_up(
        "remix" if action == "remix" else "extend",
        job_id,
        user_id=interaction.user.id,
        is_admin=_is_admin(interaction),
    )
    spec = bot.catalogue.get(source.model)
    title = "Remix this video" if action == "remix" else "Extend this video"
    modal = discord.ui.Modal(title=title, custom_id=f"video:{action}:{job_id}", timeout=None)
    modal.add_item(
        discord.ui.Label(
            text="Prompt",
            description="What should change" if action == "remix" else "What happens next",
            component=discord.ui.TextInput(
                custom_id="prompt",
                style=discord.TextStyle.paragraph,
                default=source.prompt[:PROMPT_LIMIT],
                max_length=PROMPT_LIMIT,
            ),
        )
    )
    if action == "extend":
        modal.add_item(
            discord.ui.Label(
                text="Seconds to add",
                component=discord.ui.Select(
                    custom_id="seconds",
                    options=[
                        discord.SelectOption(label=f"{s} s", value=str(s), default=i == 0)
                        for i, s in enumerate(spec.extension_seconds)
                    ],
                ),
            )
        )
    await _send_unkept_modal(interaction, modal)


async def _send_unkept_modal(
    interaction: discord.Interaction[Any], modal: discord.ui.Modal
) -> None:
    """Send a modal that discord.py does not keep: its submit is read from the wire by
    `handle_modal_submit`, so it still works after a restart."""
    modal.stop()  # a finished modal is not stored
    await interaction.response.send_modal(modal)


async def _details(bot: VideoBot, interaction: discord.Interaction[Any], job_id: str) -> None:
    await bot.service.check_owner(job_id, interaction.user.id, is_admin=_is_admin(interaction))
    details = await bot.service.details(job_id)
    if details is None:
        raise RequestRejected("That video is unknown.")
    await interaction.response.send_message(embed=render.details_embed(details), ephemeral=True)


async def _delete(bot: VideoBot, interaction: discord.Interaction[Any], job_id: str) -> None:
    outcome = await bot.service.delete(
        job_id, user_id=interaction.user.id, is_admin=_is_admin(interaction)
    )
    message = interaction.message
    embed = render.deleted_embed(message.embeds[0] if message and message.embeds else None)
    keep = discord.ui.View(timeout=None)
    keep.add_item(FollowUpButton("details", job_id))
    await interaction.response.edit_message(embed=embed, attachments=[], view=keep)
    await interaction.followup.send(outcome, ephemeral=True)


# -- modals -------------------------------------------------------------------------------------


def submitted_values(components: Any) -> dict[str, str | list[str]]:
    """custom_id → value (text input) or values (select) of a modal submit's components."""
    found: dict[str, str | list[str]] = {}

    def walk(items: Any) -> Iterator[Mapping[str, Any]]:
        for item in items or []:
            if not isinstance(item, Mapping):
                continue
            yield item
            yield from walk(item.get("components"))
            if isinstance(item.get("component"), Mapping):
                yield from walk([item["component"]])

    for item in walk(components):
        custom_id = item.get("custom_id")
        if not isinstance(custom_id, str):
            continue
        if "values" in item and isinstance(item["values"], list):
            found[custom_id] = [str(v) for v in item["values"]]
        elif "value" in item:
            found[custom_id] = str(item["value"] or "")
    return found


def _text(values: Mapping[str, str | list[str]], key: str) -> str | None:
    value = values.get(key)
    return value if isinstance(value, str) else None


def _choice(values: Mapping[str, str | list[str]], key: str) -> str | None:
    value = values.get(key)
    if isinstance(value, list):
        return value[0] if value else None
    return value or None


async def handle_modal_submit(bot: VideoBot, interaction: discord.Interaction[Any]) -> bool:
    """Start the job a follow-up modal asks for; False when the modal is not one of ours."""
    data: Mapping[str, Any] = interaction.data or {}
    custom_id = str(data.get("custom_id", ""))
    values = submitted_values(data.get("components"))
    if match := _MODAL.match(custom_id):
        seconds = _choice(values, "seconds")
        try:
            await _start_follow_up(
                bot,
                interaction,
                match["action"],
                match["job"],
                prompt=_text(values, "prompt") or "",
                seconds=int(seconds) if seconds and seconds.isdigit() else None,
            )
        except RequestRejected as exc:  # SourceGone: expired between the modal and now
            await _private(interaction, refusal_text(exc))
        return True
    if match := _ANIMATE.match(custom_id):
        await _animate(bot, interaction, int(match["channel"]), int(match["message"]), values)
        return True
    return False


# -- Animate this image --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Image:
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
        self._images: dict[tuple[int, int], tuple[float, _Image]] = {}

    def put(self, user_id: int, message_id: int, image: _Image) -> None:
        now = time.monotonic()
        if len(self._images) >= self._limit:
            self._images = {k: v for k, v in self._images.items() if now - v[0] < self._ttl}
            while len(self._images) >= self._limit:
                self._images.pop(next(iter(self._images)))
        self._images[(user_id, message_id)] = (now, image)

    def take(self, user_id: int, message_id: int) -> _Image | None:
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


def find_image(message: discord.Message) -> _Image | None:
    """The first image of a message: an attachment, else an embed's image (through Discord's
    media proxy, never the third-party host)."""
    for attachment in message.attachments:
        declared = (attachment.content_type or "").split(";")[0].strip().lower()
        content_type = declared or _guess_type(attachment.filename)
        if content_type in _IMAGE_TYPES:
            return _Image(attachment.url, content_type, attachment.size, attachment.filename)
    for embed in message.embeds:
        media = embed.image if embed.image.url else embed.thumbnail
        url = media.proxy_url
        content_type = _guess_type(media.url or "") if media.url else None
        if url and content_type is not None:
            return _Image(url, content_type, 0, "embedded image")
    return None


async def open_animate_modal(
    bot: VideoBot, interaction: discord.Interaction[Any], message: discord.Message
) -> None:
    """The context menu: a modal with the prompt and the model, size and seconds choices."""
    image = find_image(message)
    if image is None:
        await _private(
            interaction, "This message has no image to animate (PNG, JPEG or WebP attachments)."
        )
        return
    bot.pending_images.put(interaction.user.id, message.id, image)
    catalogue = bot.catalogue
    modal = discord.ui.Modal(
        title="Animate this image",
        custom_id=f"video:animate:{message.channel.id}:{message.id}",
        timeout=None,
    )
    modal.add_item(
        discord.ui.Label(
            text="Prompt",
            description="What should happen in the video",
            component=discord.ui.TextInput(
                custom_id="prompt", style=discord.TextStyle.paragraph, max_length=PROMPT_LIMIT
            ),
        )
    )
    for label, custom_id, options in _choices(catalogue):
        modal.add_item(
            discord.ui.Label(
                text=label,
                component=discord.ui.Select(custom_id=custom_id, options=options, required=False),
            )
        )
    await _send_unkept_modal(interaction, modal)


def _choices(catalogue: Catalogue) -> list[tuple[str, str, list[discord.SelectOption]]]:
    default: ModelSpec = catalogue.default
    return [
        (
            "Model",
            "model",
            [
                discord.SelectOption(
                    label=m.display_name, value=m.name, default=m.name == default.name
                )
                for m in catalogue.models
            ],
        ),
        (
            "Size",
            "size",
            [
                discord.SelectOption(label=s, value=s, default=s == default.size_default)
                for s in catalogue.all_sizes()
            ],
        ),
        (
            "Seconds",
            "seconds",
            [
                discord.SelectOption(
                    label=f"{s} s", value=str(s), default=s == default.seconds_default
                )
                for s in catalogue.all_seconds()
            ],
        ),
    ]


async def _animate(
    bot: VideoBot,
    interaction: discord.Interaction[Any],
    channel_id: int,
    message_id: int,
    values: Mapping[str, str | list[str]],
) -> None:
    """The modal's submit: the image is fetched now, then it is `/video` with a reference."""
    reply = InteractionReply(
        interaction,
        ACK_BUDGET,
        source_link=_jump_link(interaction.guild_id, channel_id, message_id),
    )
    reply.arm()
    image = bot.pending_images.take(interaction.user.id, message_id)
    try:
        if image is None:
            image = await _image_of(bot, channel_id, message_id)
        picked = image
        seconds = _choice(values, "seconds")
        await bot.service.submit(
            _requester(interaction),
            _text(values, "prompt") or "",
            reply=reply,
            model=_choice(values, "model"),
            size=_choice(values, "size"),
            seconds=int(seconds) if seconds and seconds.isdigit() else None,
            reference=Upload(
                picked.content_type,
                picked.size,
                picked.filename,
                lambda: _download(picked.url),
            ),
        )
    except RequestRejected as exc:
        await reply.refuse(refusal_text(exc))
    finally:
        reply.close()


def _jump_link(guild_id: int | None, channel_id: int, message_id: int) -> str:
    return f"https://discord.com/channels/{guild_id or '@me'}/{channel_id}/{message_id}"


async def _image_of(bot: VideoBot, channel_id: int, message_id: int) -> _Image:
    """The message's image read again (the bot restarted since the menu was opened): this
    works where the bot may read messages' attachments (the Message Content intent)."""
    try:
        message = await bot.get_partial_messageable(channel_id).fetch_message(message_id)
    except discord.HTTPException:
        message = None
    image = find_image(message) if message is not None else None
    if image is None:
        raise RequestRejected(AGAIN)
    return image


async def _download(url: str) -> bytes:
    """An image from Discord's CDN, at most the reference limit, no redirects elsewhere."""
    timeout = aiohttp.ClientTimeout(total=30)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(url, allow_redirects=False) as resp,
    ):
        if resp.status != 200:
            raise RequestRejected(f"The image's link has expired. {AGAIN}")
        data = await resp.content.read(MAX_REFERENCE_BYTES + 1)
    if len(data) > MAX_REFERENCE_BYTES:
        raise RequestRejected("The image is too large (20 MiB at most).")
    return data
