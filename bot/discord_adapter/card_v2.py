"""The result card as a Components V2 message (pure: no I/O).

One Container holds the whole card, its accent colour telling the state (running blue,
delivered green, failed red, refused or flagged orange): the title and the prompt, the facts
(model, size, seconds, cost, who asked), the status while the video is made (with its
thumbnail, in a Section), and once delivered the video itself in a MediaGallery. The buttons sit
in ActionRows below it, with the same custom ids as the classic card's (buttons.JobButton), and
"Open original" is a link button: a V2 message carries no embed.

A V2 message has the IS_COMPONENTS_V2 flag (discord.py sets it for a LayoutView), which
disables `content` and embeds for good; Discord allows at most 40 components and 4,000
characters of text in one. The prompt is what grows: it is cut until the card fits.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Final

import discord
from discord import ui

from bot.discord_adapter import render
from bot.discord_adapter.buttons import JobButton, delivered_actions
from bot.domain import JobKind, JobState, JobView, Phase, shown_position
from bot.media.delivery import DeliveryPlan

V2: Final = "v2"
CLASSIC: Final = "classic"
STYLES: Final = (V2, CLASSIC)

MAX_COMPONENTS = 40
MAX_TEXT = 4000
_ROW_WIDTH = 5

RUNNING = discord.Colour.blue()
DELIVERED = discord.Colour.green()
FAILED = discord.Colour.red()
WARNING = discord.Colour.orange()  # refused, flagged, too large, deleted


def _facts(view: JobView, billed: Decimal | None, fallback_verb: str) -> str:
    request = view.request
    seconds = f"+{request.seconds} s" if request.kind is JobKind.EXTEND else f"{request.seconds} s"
    lines = [
        f"**{request.spec.display_name}** · {request.size} · {seconds} · "
        f"{render.cost_text(request.estimated_cost, billed)}"
    ]
    if view.requested_by is not None:
        lines.append(f"Requested by API key *{render.quoted_prompt(view.requested_by, 100)}*")
    else:
        lines.append(f"Asked by <@{request.requester.user_id}>")
    fallback = render.made_by(view, fallback_verb)
    if fallback is not None:
        lines.append(fallback)
    return "\n".join(lines)


def _head(view: JobView, title: str, prompt_limit: int) -> str:
    """The title, where a follow-up comes from, and the prompt (behind a spoiler if the job
    is)."""
    request = view.request
    prompt = render.quoted_prompt(request.prompt, prompt_limit)
    quoted = f"||{prompt}||" if view.spoiler is not None else prompt
    lines = [f"### {title}"]
    source = render._SOURCE_LABELS.get(request.kind)
    if source is not None and view.source_link is not None:
        lines.append(f"{source} [this video]({view.source_link})")
    lines.append(f">>> {quoted}")
    return "\n".join(lines)


def _footer(view: JobView, demo: bool) -> str:
    footer = f"-# job {view.ref}"
    return f"{footer} · {render.DEMO_NOTE}" if demo else footer


def _buttons(
    actions: Sequence[str], ref: str, link: tuple[str, str] | None
) -> list[ui.ActionRow[Any]]:
    items: list[ui.Item[Any]] = []
    if link is not None:
        label, url = link
        items.append(ui.Button(label=label, url=url))
    items += [JobButton(action, ref) for action in actions]
    rows = []
    for start in range(0, len(items), _ROW_WIDTH):
        row: ui.ActionRow[Any] = ui.ActionRow()
        for item in items[start : start + _ROW_WIDTH]:
            row.add_item(item)
        rows.append(row)
    return rows


def _card(
    view: JobView,
    title: str,
    colour: discord.Colour,
    *,
    demo: bool,
    status: str | None = None,
    thumbnail: str | None = None,
    video: str | None = None,
    billed: Decimal | None = None,
    fallback_verb: str = "Made by",
    actions: Sequence[str] = (),
    link: tuple[str, str] | None = None,
) -> ui.LayoutView:
    """One card; the prompt is shortened until the text fits Discord's 4,000 characters."""
    facts = _facts(view, billed, fallback_verb)
    footer = _footer(view, demo)
    fixed = len(facts) + len(footer) + len(status or "")
    limit = render._PROMPT_SHOWN
    head = _head(view, title, limit)
    while fixed + len(head) > MAX_TEXT and limit > 20:
        limit -= max(1, fixed + len(head) - MAX_TEXT)
        head = _head(view, title, max(limit, 20))

    container: ui.Container[Any] = ui.Container(accent_colour=colour)
    shown = None if view.spoiler is not None else thumbnail  # never a still openly
    if shown is not None:
        container.add_item(
            ui.Section(
                ui.TextDisplay(head),
                ui.TextDisplay(facts),
                accessory=ui.Thumbnail(f"attachment://{shown}", description="A still of the video"),
            )
        )
    else:
        container.add_item(ui.TextDisplay(head))
        container.add_item(ui.TextDisplay(facts))
    if status:
        container.add_item(ui.Separator())
        container.add_item(ui.TextDisplay(status))
    if video is not None:
        hidden = view.spoiler is not None
        item = discord.MediaGalleryItem(
            f"attachment://{video}",
            description=render.shorten(view.request.prompt, 256) if not hidden else None,
            spoiler=hidden,
        )
        container.add_item(ui.MediaGallery(item))
    container.add_item(ui.TextDisplay(footer))

    card = ui.LayoutView(timeout=None)
    card.add_item(container)
    for row in _buttons(actions, view.ref, link):
        card.add_item(row)
    return card


def _status_text(view: JobView) -> str:
    label = render._PHASE_LABELS[view.phase]
    if view.phase is Phase.WAITING and view.queue_position is not None:
        place = shown_position(view.queue_position)
        about = "" if place == view.queue_position else "about "
        label = f"In the queue: position {about}{place:,}"
    lines = [f"**{label}**"]
    if view.phase in (Phase.QUEUED, Phase.RUNNING):
        percent = "…" if view.progress is None else f"{view.progress}%"
        lines.append(f"`{render.bar(view.progress, 20)}` {percent}")
    if view.delayed:
        lines.append("Delivery delayed: the bot hit a problem of its own and keeps retrying.")
    times = f"Started {render.timestamp(view.started_at)}"
    if view.eta_at is not None and view.phase is Phase.RUNNING:
        times += f" · expected {render.timestamp(view.eta_at)}"
    lines.append(times)
    return "\n".join(lines)


_RUNNING_ACTIONS = {
    Phase.WAITING: "cancel",
    Phase.SUBMITTING: "stop",
    Phase.QUEUED: "stop",
    Phase.RUNNING: "stop",
}


def progress(view: JobView, *, demo: bool, thumbnail: str | None = None) -> ui.LayoutView:
    """The card while the video is made, with the button its phase carries."""
    action = _RUNNING_ACTIONS.get(view.phase)
    return _card(
        view,
        "Making your video",
        RUNNING,
        demo=demo,
        status=_status_text(view),
        thumbnail=thumbnail,
        fallback_verb="Being made by",
        actions=[] if action is None else [action],
    )


def fitting(
    view: JobView, percent: int, limit: int, *, demo: bool, thumbnail: str | None = None
) -> ui.LayoutView:
    status = (
        f"**Fitting the video to Discord's {render.file_size(limit)} limit — {percent} %**\n"
        f"`{render.bar(percent, 20)}`"
    )
    return _card(
        view,
        "Making your video",
        RUNNING,
        demo=demo,
        status=status,
        thumbnail=thumbnail,
        fallback_verb="Being made by",
    )


def _original(view: JobView, plan: DeliveryPlan, *, always: bool) -> str | None:
    original = plan.original
    if original is None:
        return None
    size = render.file_size(original.size)
    if original.link is not None:
        return (
            f"Original: {size} · **Open original** expires {render.timestamp(original.kept_until)}"
        )
    if plan.say_where_kept or always:
        return (
            f"Original: {size}, kept on the bot's host until "
            f"{render.timestamp(original.kept_until, 'f')}: the bot's operator finds it with "
            f"`video-bot jobs` (job `{view.ref}`)."
        )
    return None


def _spoiler_line(view: JobView) -> str | None:
    note = render.spoiler_note(view.spoiler)
    return None if note is None else f"Behind a spoiler: {note}"


def delivered(
    view: JobView,
    size: int,
    plan: DeliveryPlan,
    *,
    video: str,
    demo: bool,
    billed: Decimal | None = None,
    link: tuple[str, str] | None = None,
) -> ui.LayoutView:
    """The result: the uploaded video (`video`: its attachment's name) in a MediaGallery."""
    shown = render.file_size(size)
    if plan.fitted:
        shown += f", fitted to this server's {render.file_size(plan.upload_limit)} upload limit"
    lines = [f"File: {shown}"]
    lines += [x for x in (_spoiler_line(view), _original(view, plan, always=False)) if x]
    flagged = view.spoiler is not None and _spoiler_line(view) is not None
    done = view.evolve(phase=Phase.DELIVERED)
    return _card(
        done,
        render.READY_TITLE,
        WARNING if flagged else DELIVERED,
        demo=demo,
        status="\n".join(lines),
        video=video,
        billed=billed,
        actions=delivered_actions(done),
        link=link,
    )


def too_large(
    view: JobView,
    plan: DeliveryPlan,
    *,
    demo: bool,
    thumbnail: str | None = None,
    billed: Decimal | None = None,
    link: tuple[str, str] | None = None,
) -> ui.LayoutView:
    """The video could not be made small enough: the original is all there is."""
    lines = [
        f"The video is {render.file_size(plan.original_size)} and this server accepts uploads "
        f"up to {render.file_size(plan.upload_limit)}; it could not be made small enough."
    ]
    lines += [x for x in (_spoiler_line(view), _original(view, plan, always=True)) if x]
    done = view.evolve(phase=Phase.DELIVERED)
    return _card(
        done,
        f"{render.READY_TITLE}, but too large to upload here",
        WARNING,
        demo=demo,
        status="\n".join(lines),
        thumbnail=thumbnail,
        billed=billed,
        actions=delivered_actions(done),
        link=link,
    )


def failed(view: JobView, *, demo: bool, billed: Decimal | None = None) -> ui.LayoutView:
    """No video: failed (red), refused (orange) or cancelled."""
    title = "The video service refused this prompt" if view.refused else "No video this time"
    if view.state in (JobState.CANCELLED, JobState.ABANDONED):
        title = "Cancelled"
    status = "**What happened**\n" + render.shorten(view.error or "The job failed.", 1024)
    return _card(
        view,
        title,
        WARNING if view.refused else FAILED,
        demo=demo,
        status=status,
        billed=billed,
        fallback_verb="Last tried",
        actions=delivered_actions(view),
    )


def deleted(message: discord.Message, job_id: str) -> ui.LayoutView:
    """A V2 result whose video was deleted: its words stay, the video and buttons go."""
    texts: list[str] = []

    def collect(components: Sequence[Any]) -> None:
        for component in components:
            if isinstance(component, discord.TextDisplay):
                texts.append(component.content)
            collect(getattr(component, "children", []) or [])

    collect(message.components)
    head = next((t for t in texts if t.startswith("### ")), None)
    body = render.DELETED_TITLE if head is None else head.split("\n", 1)[-1]
    container: ui.Container[Any] = ui.Container(accent_colour=WARNING)
    container.add_item(ui.TextDisplay(render.shorten(f"### {render.DELETED_TITLE}\n{body}", 3000)))
    container.add_item(ui.TextDisplay("Video: deleted by the requester or a server admin."))
    card = ui.LayoutView(timeout=None)
    card.add_item(container)
    for row in _buttons(["details"], job_id, None):
        card.add_item(row)
    return card


def count_components(components: Sequence[Any]) -> int:
    """Components in a serialized tree, as Discord counts them (nested ones and accessories)."""
    count = 0
    for component in components:
        count += 1
        count += count_components(component.get("components") or [])
        if component.get("accessory"):
            count += 1
    return count


def text_length(components: Sequence[Any]) -> int:
    """Characters of text in a serialized tree."""
    total = 0
    for component in components:
        if component.get("type") == 10:
            total += len(component.get("content") or "")
        total += text_length(component.get("components") or [])
        accessory = component.get("accessory")
        if accessory:
            total += text_length([accessory])
    return total
