"""Keeps one reply message in step with its job: throttled edits, token expiry, delivery."""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
from collections.abc import Awaitable, Callable, Coroutine
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar, cast

import discord

from bot import i18n
from bot.background import spawn
from bot.discord_adapter import card_v2, mod_log, render, user_installs
from bot.discord_adapter.buttons import controls, is_delivered_card, result_controls
from bot.discord_adapter.mod_log import ModLog, PolicyReader
from bot.discord_adapter.reply import DEFAULT_UPLOAD_LIMIT, ReplyAddress
from bot.discord_adapter.spoilers import is_flag, spoiler_reason
from bot.domain import (
    Delivery,
    GuildPolicy,
    JobState,
    JobSummary,
    JobView,
    Phase,
    ReplyGone,
    shown_position,
)
from bot.media.delivery import DeliveryPlan, plan_delivery
from bot.media.encoding import EncodeError
from bot.media.fitting import VideoFitter

log = logging.getLogger(__name__)

# Switch to the bot-token channel route this long before the interaction token dies, so an edit
# in flight at the boundary never hits 50027.
TOKEN_MARGIN = 60.0
INVALID_WEBHOOK_TOKEN = 50027
UNKNOWN_WEBHOOK = 10015
ENTITY_TOO_LARGE = 40005


def _signature(view: JobView) -> tuple[object, ...]:
    """What a reader can see; an edit that would not change it is not sent."""
    # The bar moves in 5 % steps; an ETA within the same 15 s reads the same.
    step = None if view.progress is None else view.progress // 5
    eta = None if view.eta_at is None else round(view.eta_at / 15)
    place = None if view.queue_position is None else shown_position(view.queue_position)
    # A fallback to another model changes the card's model, cost and "made by" line.
    model = (view.request.model, view.fell_back_from)
    return (view.phase, step, eta, place, view.delayed, view.thumbnail, model)


def _video_attachment(message: discord.Message) -> discord.Attachment | None:
    """The uploaded video among a message's attachments (a thumbnail may sit beside it)."""
    for attachment in message.attachments:
        if attachment.filename.endswith(".mp4") or (attachment.content_type or "").startswith(
            "video/"
        ):
            return attachment
    return None


def _result(view: JobView, url: str | None, label: str) -> discord.ui.View | None:
    """A delivered card's components: the original's link (the bot's own, signed: Discord's
    attachment links expire within a day, so a button to one would soon be dead), then the
    follow-ups."""
    link = None if url is None else (label, url)
    return result_controls(view.evolve(phase=Phase.DELIVERED), link)


def _filename(prompt: str, *, spoiler: bool = False) -> str:
    """The video's file name: from its prompt, or plain behind a spoiler (the name shows)."""
    if spoiler:
        return "video.mp4"
    slug = re.sub(r"[^a-z0-9]+", "-", prompt.lower()).strip("-")[:40] or "video"
    return f"{slug}.mp4"


def _as_embed(make: Callable[..., discord.Embed], *args: Any, **kwargs: Any) -> dict[str, Any]:
    return {"embed": make(*args, **kwargs)}


def _as_view(
    make: Callable[..., discord.ui.LayoutView], *args: Any, **kwargs: Any
) -> dict[str, Any]:
    return {"view": make(*args, **kwargs)}


async def _default_policy(guild_id: int | None) -> GuildPolicy:
    del guild_id
    return GuildPolicy()


JobReader = Callable[[str], Awaitable[JobSummary | None]]
_Method = TypeVar("_Method", bound=Callable[..., Coroutine[Any, Any, None]])


def _in_the_cards_language(method: _Method) -> _Method:
    """Draw the card (and its mod-log line) in the server's language, not the member's whose
    interaction started the job: the card is public."""

    @functools.wraps(method)
    async def drawn(self: DiscordPresenter, view: JobView, *args: Any, **kwargs: Any) -> None:
        with i18n.reading(await self._language(view)):
            await method(self, view, *args, **kwargs)

    return cast("_Method", drawn)


class DiscordPresenter:
    """The ReplySink of a `/video` reply, built from its stored handle.

    It needs no live Interaction, so a job resumed after a restart edits the same message.
    A reply that is gone (message or channel deleted, the bot removed) raises ReplyGone; any
    other Discord failure is raised as it is, and the workflow tries again later.

    Spoilers are decided here, by the server's mode (`policies`) and the service's flag
    (`JobView.spoiler`): read once for the progress cards, again at delivery. Refusals and
    flagged results go to the server's mod log (`moderation_log`), once per presenter.
    """

    def __init__(
        self,
        client: discord.Client,
        address: ReplyAddress,
        *,
        edit_interval: float,
        demo: bool,
        fitter: VideoFitter | None = None,
        clock: Callable[[], float] = time.monotonic,
        policies: PolicyReader = _default_policy,
        moderation_log: ModLog | None = None,
        jobs: JobReader | None = None,
        card: str = card_v2.CLASSIC,
    ) -> None:
        self._client = client
        self._card = card  # the operator's card style; a server's own choice wins
        self._style: str | None = None  # the style this reply took at its first edit
        self._policies = policies
        self._mod_log = moderation_log
        self._jobs = jobs
        self._policy: GuildPolicy | None = None  # the server's rules, once read
        self._logged = False  # this job's mod-log line was posted
        self._fitter = fitter
        self._address = address
        self._message_id = address.message_id
        self._channel_id = address.channel_id
        self._upload_limit = address.upload_limit
        self._interval = edit_interval
        self._demo = demo
        self._clock = clock
        self._token_dead = False
        # Where only the interaction reaches the reply: the DM that carries the card once the
        # token is spent, and the ended job it is sent for (None: nothing goes by DM).
        self._dm = user_installs.DirectReply(client)
        self._ended: JobView | None = None
        self._gone = False  # the reply was deleted or became unreachable: for good
        self._thumbnail: str | None = None  # the attachment name once the still is uploaded
        self._last_signature: tuple[object, ...] | None = None
        self._last_edit = -float("inf")
        self._pending: JobView | None = None
        self._flush: asyncio.Task[None] | None = None
        self._sending = False
        self._lock = asyncio.Lock()

    # -- ReplySink ---------------------------------------------------------------------------

    @_in_the_cards_language
    async def show(self, view: JobView) -> None:
        view = await self._spoilered(self._linked(view))
        if self._gone or self._seen(view) == self._last_signature:
            return
        wait = self._last_edit + self._interval - self._clock()
        if wait <= 0:
            await self._show_now(view)
            return
        self._pending = view
        if self._flush is None or self._flush.done():
            self._flush = spawn(self._flush_later(wait), name="presenter-flush")

    @_in_the_cards_language
    async def deliver(self, view: JobView, delivery: Delivery) -> None:
        flagged = view.spoiler
        # The server's mode as it is now: a change made while the video was being made holds.
        view = await self._spoilered(self._linked(view), fresh=True)
        self._cancel_pending()
        self._ending(view)
        await self._post(view, delivery)
        if is_flag(flagged):
            reason = str(flagged)

            async def line(guild_id: int, message_id: int | None) -> str:
                return mod_log.flagged_line(
                    reason,
                    hidden=view.spoiler is not None,
                    ref=view.ref,
                    user_id=view.request.requester.user_id,
                    requested_by=view.requested_by,
                    guild_id=guild_id,
                    channel_id=self._channel_id,
                    message_id=message_id,
                )

            self._note(view, line)

    async def _post(self, view: JobView, delivery: Delivery) -> None:
        """The final card with the video: uploaded, fitted, or linked when nothing fits."""
        first = plan_delivery(delivery.size, self._upload_limit, delivery.original)
        plan: DeliveryPlan | None = first
        thumbnail = delivery.thumbnail
        # Discord refusing an upload anyway (413, 40005: its real limit is lower than it
        # announced) means fit smaller and try again: never a silent loss.
        while plan is not None:
            upload = delivery
            if plan.fit_to is not None:
                fitted = await self._fitted(view, delivery, plan.fit_to)
                if fitted is None:
                    break
                upload = fitted
            try:
                if self._v2():
                    await self._post_v2(view, upload, plan)
                else:
                    files, name = self._files(view, upload, thumbnail)
                    embed = render.delivered_embed(
                        view, upload.size, plan, demo=self._demo, thumbnail=name
                    )
                    await self._edit(
                        embed=embed,
                        attachments=files,
                        view=_result(view, plan.link, render.open_original()),
                    )
            except discord.HTTPException as exc:
                if exc.status != 413 and exc.code != ENTITY_TOO_LARGE:
                    raise
                log.info("job %s: Discord refused %d bytes; fitting smaller", view.ref, upload.size)
                plan = plan.after_refusal(upload.size)
                continue
            return
        files, name = self._files(view, None, thumbnail)
        if self._v2():
            link = None if first.link is None else (render.open_original(), first.link)
            card = card_v2.too_large(
                view,
                first,
                demo=self._demo,
                thumbnail=name,
                billed=await self._billed(view),
                link=link,
            )
            await self._edit(view=card, attachments=files)
            return
        await self._edit(
            embed=render.too_large_embed(view, first, demo=self._demo, thumbnail=name),
            attachments=files,
            view=_result(view, first.link, render.open_original()),
        )

    async def _post_v2(self, view: JobView, upload: Delivery, plan: DeliveryPlan) -> None:
        """The V2 result: the video alone is uploaded, and played in the card's gallery."""
        hidden = view.spoiler is not None
        video = discord.File(
            upload.path, filename=_filename(view.request.prompt, spoiler=hidden), spoiler=hidden
        )
        link = None if plan.link is None else (render.open_original(), plan.link)
        card = card_v2.delivered(
            view,
            upload.size,
            plan,
            video=video.filename,
            demo=self._demo,
            billed=await self._billed(view),
            link=link,
        )
        await self._edit(view=card, attachments=[video])

    async def _billed(self, view: JobView) -> Decimal | None:
        """What the provider billed for the job, once it said (the V2 card shows it)."""
        if self._jobs is None:
            return None
        try:
            found = await self._jobs(view.ref)
        except Exception:
            log.info("job %s: the bill could not be read", view.ref, exc_info=True)
            return None
        return None if found is None or found.billed_cost is None else Decimal(found.billed_cost)

    def _v2(self) -> bool:
        """Whether this reply is a Components V2 card: the server's choice, else the
        operator's, fixed at the reply's first edit (Discord's flag cannot be taken back)."""
        if self._style is None:
            chosen = None if self._policy is None else self._policy.card
            self._style = chosen if chosen in card_v2.STYLES else self._card
        return self._style == card_v2.V2

    @staticmethod
    def _files(
        view: JobView, upload: Delivery | None, thumbnail: Path | None
    ) -> tuple[list[discord.File], str | None]:
        """The attachments of the final card, and the thumbnail's name its embed refers to.

        Behind a spoiler every file is a `SPOILER_` one (discord.py marks a spoiler by the
        name only) and the embed shows no thumbnail: an embed's image is never hidden.
        """
        hidden = view.spoiler is not None
        files = []
        if upload is not None:
            name = _filename(view.request.prompt, spoiler=hidden)
            files.append(discord.File(upload.path, filename=name, spoiler=hidden))
        shown = None
        if thumbnail is not None and thumbnail.is_file():
            name = render.thumbnail_name(thumbnail)
            files.append(discord.File(thumbnail, filename=name, spoiler=hidden))
            shown = None if hidden else name
        return files, shown

    async def _fitted(self, view: JobView, original: Delivery, limit: int) -> Delivery | None:
        """The original re-encoded to at most `limit` bytes, or None when that is impossible."""
        fitter = self._fitter
        if fitter is None or not fitter.available:
            return None
        fitted = original.path.with_name(f"{view.ref}.fit{limit}.mp4")
        if not fitted.exists():  # a retried delivery reuses the file fitted before

            async def progress(percent: int) -> None:
                make = card_v2.fitting if self._v2() else render.fitting_embed
                embed = functools.partial(make, percent=percent, limit=self._upload_limit)
                try:
                    await self._edit_card(view, embed, view=None)
                except discord.HTTPException:
                    log.info("a fitting progress edit failed", exc_info=True)

            await progress(0)
            try:
                await fitter.fit(original.path, limit, fitted, on_progress=progress)
            except EncodeError as exc:
                log.warning("job %s: the video could not be fitted: %s", view.ref, exc)
                return None
        return Delivery(fitted, fitted.stat().st_size)

    @_in_the_cards_language
    async def fail(self, view: JobView) -> None:
        refused = view.state is JobState.REFUSED
        view = await self._spoilered(self._linked(view), fresh=refused)
        self._cancel_pending()
        self._ending(view)
        if refused:
            # The refusal happened whether or not the card can still say so.
            self._note_refusal(view)
        if self._v2():
            billed = await self._billed(view)
            await self._edit(
                view=card_v2.failed(view, demo=self._demo, billed=billed), attachments=[]
            )
            return
        await self._edit(
            embed=render.failed_embed(view, demo=self._demo),
            attachments=[],
            view=result_controls(view, None),
        )

    def _note_refusal(self, view: JobView) -> None:
        jobs = self._jobs

        async def line(guild_id: int, message_id: int | None) -> str:
            # Which half the provider refused is on the job, not on its view.
            found = await jobs(view.ref) if jobs is not None else None
            return mod_log.provider_refusal_line(
                found.failure_kind if found is not None else None,
                ref=view.ref,
                user_id=view.request.requester.user_id,
                requested_by=view.requested_by,
                guild_id=guild_id,
                channel_id=self._channel_id,
                message_id=message_id,
            )

        self._note(view, line)

    def _note(self, view: JobView, line: Callable[[int, int | None], Awaitable[str]]) -> None:
        """Post this job's one mod-log line in the background, if its server keeps a log."""
        guild_id = view.request.requester.guild_id
        log_to = self._mod_log
        channel_id = None if self._policy is None else self._policy.mod_log_channel
        if log_to is None or self._logged or guild_id is None or channel_id is None:
            return
        self._logged = True
        message_id = self._message_id

        async def post() -> None:
            await log_to.send(channel_id, await line(guild_id, message_id))

        spawn(post(), name="mod-log")

    # -- spoilers ---------------------------------------------------------------------------

    async def _spoilered(self, view: JobView, *, fresh: bool = False) -> JobView:
        """The view with the spoiler the server's mode gives it (None: shown openly); a DM
        has the default mode. The rules are read once, and again when `fresh`."""
        if self._policy is None or fresh:
            self._policy = await self._policies(view.request.requester.guild_id)
        return view.evolve(spoiler=spoiler_reason(self._policy.spoilers, view.spoiler))

    async def _language(self, view: JobView) -> str | None:
        """The server's chosen language, else the one the card was opened in."""
        if self._policy is None:
            self._policy = await self._policies(view.request.requester.guild_id)
        return self._policy.language or self._address.locale

    def _linked(self, view: JobView) -> JobView:
        """The view with what only this reply knows: a follow-up's source, who asked."""
        address = self._address
        if address.source_link is None and address.requested_by is None:
            return view
        return view.evolve(source_link=address.source_link, requested_by=address.requested_by)

    async def already_delivered(self) -> bool:
        if self._address.interaction_only:
            return await self._delivered_through_interaction()
        if self._message_id is None:
            return False
        channel = self._client.get_partial_messageable(self._channel_id)
        try:
            message = await channel.get_partial_message(self._message_id).fetch()
        except (discord.NotFound, discord.Forbidden) as exc:
            raise ReplyGone(f"reply {self._message_id}: {exc.status} {exc.code}") from None
        return _video_attachment(message) is not None or is_delivered_card(message)

    # -- where only the interaction reaches the reply (user_installs.py) ----------------------

    def _seen(self, view: JobView) -> tuple[object, ...]:
        """What a reader sees of a progress card: its signature, and whether it says that the
        result will come by DM."""
        return (*_signature(view), self._handover_due(view))

    def _handover_due(self, view: JobView) -> bool:
        address = self._address
        if not address.interaction_only or address.token_expires_at is None:
            return False
        now = discord.utils.utcnow().timestamp()
        return user_installs.handover_due(view, address.token_expires_at, now, TOKEN_MARGIN)

    def _ending(self, view: JobView) -> None:
        """The job ended. Where only the interaction reached the reply, once its token is
        spent the last card goes to the member by DM, within a DM's upload limit; a cancel
        or a stop the member clicked is answered by their click, not by DM."""
        if not self._address.interaction_only:
            return
        clicked = view.state in (JobState.CANCELLED, JobState.ABANDONED)
        self._ended = None if clicked else view
        if self._live_webhook() is None and not self._dm.opened:
            self._upload_limit = min(self._upload_limit, DEFAULT_UPLOAD_LIMIT)
            self._thumbnail = None  # a new message: its still goes up with it

    async def _direct(self, fields: dict[str, Any]) -> discord.Message | None:
        """An edit once the token is spent, where only the interaction reached the reply:
        the DM's, which the ended job's first card opens (progress is not shown meanwhile)."""
        if self._dm.opened:
            return await self._dm.edit(fields)
        ended = self._ended
        if ended is None:
            return None
        try:
            return await self._dm.post(ended.request.requester.user_id, fields, ref=ended.ref)
        except ReplyGone:
            self._gone = True
            raise

    async def _delivered_through_interaction(self) -> bool:
        """After a crash mid-delivery: the reply read back through the webhook while the
        token lives, or the DM this process sent. A DM sent before a restart cannot be read
        back: the member may get the video twice, never not at all."""
        live = self._live_webhook()
        if self._dm.opened:
            message = await self._dm.fetch()
        elif live is not None:
            webhook, message_id = live
            try:
                message = await webhook.fetch_message(message_id)
            except discord.HTTPException as exc:
                if exc.code in (INVALID_WEBHOOK_TOKEN, UNKNOWN_WEBHOOK) or exc.status == 401:
                    self._token_dead = True
                    return False
                if exc.status == 404:
                    raise ReplyGone(f"reply {message_id}: {exc.code}") from None
                raise
        else:
            return False
        return _video_attachment(message) is not None or is_delivered_card(message)

    # -- edits ------------------------------------------------------------------------------

    async def _show_now(self, view: JobView) -> None:
        if self._address.interaction_only and self._live_webhook() is None and not self._dm.opened:
            return  # the token is spent: no progress can be shown; the result comes by DM
        self._last_signature = self._seen(view)
        if self._v2():
            await self._edit_card(view, card_v2.progress)
            return
        await self._edit_card(view, render.progress_embed, view=controls(view))

    async def _edit_card(self, job: JobView, embed: Callable[..., Any], **fields: Any) -> None:
        """Edit the progress card; its thumbnail goes up once, later edits refer to it.

        `embed` makes the classic card's embed, or the whole V2 card (a LayoutView)."""
        if self._v2():
            fields.pop("view", None)
            card: Callable[..., dict[str, Any]] = functools.partial(_as_view, embed)
        else:
            card = functools.partial(_as_embed, embed)
        if self._handover_due(job):
            card = user_installs.with_note(card, user_installs.handover_note())
        thumbnail = job.thumbnail
        if job.spoiler is not None:
            thumbnail = None  # a still of a video behind a spoiler is never shown openly
        if self._thumbnail is None and thumbnail is not None and thumbnail.is_file():
            name = render.thumbnail_name(thumbnail)
            files = [discord.File(thumbnail, filename=name)]
            await self._edit(
                **card(job, demo=self._demo, thumbnail=name), attachments=files, **fields
            )
            self._thumbnail = name
            return
        await self._edit(**card(job, demo=self._demo, thumbnail=self._thumbnail), **fields)

    async def _flush_later(self, wait: float) -> None:
        await asyncio.sleep(wait)
        view, self._pending = self._pending, None
        if view is not None and self._seen(view) != self._last_signature:
            self._sending = True  # from here on the edit is on the wire: not cancelled
            try:
                await self._show_now(view)
            except (discord.HTTPException, ReplyGone):
                log.warning("progress edit failed", exc_info=True)
            finally:
                self._sending = False

    def _cancel_pending(self) -> None:
        """Drop a progress edit still waiting for its turn. One already being sent finishes
        (cut off mid-upload, Discord may or may not apply it); the final edit, serialised
        behind it, lands after it."""
        self._pending = None
        if self._flush is not None and not self._flush.done() and not self._sending:
            self._flush.cancel()

    def _live_webhook(self) -> tuple[discord.Webhook, int] | None:
        """The interaction webhook and the reply's id while the token is safely alive."""
        address = self._address
        if (
            self._token_dead
            or address.interaction_token is None
            or address.token_expires_at is None
            or address.application_id is None
            or self._message_id is None
        ):
            return None
        if discord.utils.utcnow().timestamp() >= address.token_expires_at - TOKEN_MARGIN:
            return None
        webhook = discord.Webhook.partial(
            address.application_id, address.interaction_token, client=self._client
        )
        return webhook, self._message_id

    async def _edit(self, **fields: Any) -> discord.Message | None:
        """Edit the reply, one edit at a time."""
        async with self._lock:
            if self._gone:
                raise ReplyGone(f"reply {self._message_id} is gone")
            self._last_edit = self._clock()
            if isinstance(fields.get("view"), discord.ui.LayoutView):
                # A V2 card names its requester: shown, never pinged.
                fields.setdefault("allowed_mentions", discord.AllowedMentions.none())
            try:
                return await self._send_edit(fields)
            finally:
                # The interval counts from the end of an edit: an upload that takes a while
                # does not bring the next edit closer to it.
                self._last_edit = self._clock()

    async def _send_edit(self, fields: dict[str, Any]) -> discord.Message | None:
        """One edit, through the interaction token while it lives, else the channel."""
        live = self._live_webhook()
        if live is not None:
            webhook, message_id = live
            try:
                return await webhook.edit_message(message_id, **fields)
            except discord.HTTPException as exc:
                token_unusable = exc.code in (INVALID_WEBHOOK_TOKEN, UNKNOWN_WEBHOOK)
                if not token_unusable and exc.status != 401:
                    if exc.status == 404:
                        self._gone = True
                        raise ReplyGone(f"reply {message_id}: {exc.code}") from None
                    raise
                log.info("interaction token unusable; editing through the channel now")
                self._token_dead = True
        if self._address.interaction_only:
            return await self._direct(fields)
        if self._message_id is None:
            log.warning("token expired and the reply's message id is unknown; edit dropped")
            return None
        channel = self._client.get_partial_messageable(self._channel_id)
        try:
            edited: discord.Message = await channel.get_partial_message(self._message_id).edit(
                **fields
            )
        except (discord.NotFound, discord.Forbidden) as exc:
            # Deleted, or the bot lost access to the channel or the server: for good.
            self._gone = True
            raise ReplyGone(f"reply {self._message_id}: {exc.status} {exc.code}") from None
        return edited
