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
from bot.domain import JobKind, JobView, Phase, failure_text
from bot.i18n import _
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


def _facts(view: JobView, billed: Decimal | None, fallback_message: str) -> str:
    request = view.request
    seconds = render.seconds_text(request.seconds, added=request.kind is JobKind.EXTEND)
    lines = [
        f"**{request.spec.display_name}** · {request.size} · {seconds} · "
        f"{render.cost_text(request.estimated_cost, billed)}"
    ]
    if view.requested_by is not None:
        lines.append(render.requested_by(view.requested_by))
    else:
        mention = f"<@{request.requester.user_id}>"
        # TRANSLATORS: who asked for the video; {member} is their mention.
        lines.append(_("Asked by {member}", member=mention))
    fallback = render.made_by(view, fallback_message)
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
        lines.append(_(source, link=view.source_link))
    lines.append(f">>> {quoted}")
    return "\n".join(lines)


def _footer(view: JobView, demo: bool) -> str:
    return f"-# {render.footer(view.ref, demo=demo)}"


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
    fallback: str = render.MADE_BY,
    actions: Sequence[str] = (),
    link: tuple[str, str] | None = None,
) -> ui.LayoutView:
    """One card; the prompt is shortened until the text fits Discord's 4,000 characters."""
    facts = _facts(view, billed, fallback)
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
                accessory=ui.Thumbnail(
                    f"attachment://{shown}",
                    # TRANSLATORS: the alt text of the video's thumbnail.
                    description=_("A still of the video"),
                ),
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
    lines = [f"**{render.queue_place(view)}**"]
    if view.phase in (Phase.QUEUED, Phase.RUNNING):
        percent = render.progress_percent(view.progress)
        lines.append(f"`{render.bar(view.progress, 20)}` {percent}")
    if view.delayed:
        lines.append(_(render.DELAYED))
    started = render.timestamp(view.started_at)
    if view.eta_at is not None and view.phase is Phase.RUNNING:
        # TRANSLATORS: {started}: "2 minutes ago"; {expected}: "in 3 minutes".
        times = _(
            "Started {started} · expected {expected}",
            started=started,
            expected=render.timestamp(view.eta_at),
        )
    else:
        # TRANSLATORS: {started}: when the job started, "2 minutes ago".
        times = _("Started {started}", started=started)
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
        _("Making your video"),
        RUNNING,
        demo=demo,
        status=_status_text(view),
        thumbnail=thumbnail,
        fallback=render.BEING_MADE_BY,
        actions=[] if action is None else [action],
    )


def fitting(
    view: JobView, percent: int, limit: int, *, demo: bool, thumbnail: str | None = None
) -> ui.LayoutView:
    status = f"**{render.fitting_text(limit, percent)}**\n`{render.bar(percent, 20)}`"
    return _card(
        view,
        _("Making your video"),
        RUNNING,
        demo=demo,
        status=status,
        thumbnail=thumbnail,
        fallback=render.BEING_MADE_BY,
    )


def _original(view: JobView, plan: DeliveryPlan, *, always: bool) -> str | None:
    original = plan.original
    if original is None:
        return None
    size = render.file_size(original.size)
    if original.link is not None:
        # TRANSLATORS: **Open original** is the button's label; {expires}: "in 7 days".
        return _(
            "Original: {size} · **Open original** expires {expires}",
            size=size,
            expires=render.timestamp(original.kept_until),
        )
    if plan.say_where_kept or always:
        # TRANSLATORS: `video-bot jobs` is a command of the bot's operator: kept as it is.
        return _(
            "Original: {size}, kept on the bot's host until {until}: the bot's operator finds it"
            " with `video-bot jobs` (job `{ref}`).",
            size=size,
            until=render.timestamp(original.kept_until, "f"),
            ref=view.ref,
        )
    return None


def _spoiler_line(view: JobView) -> str | None:
    note = render.spoiler_note(view.spoiler)
    # TRANSLATORS: why the video is behind a spoiler; {why}: "Content warning: violence".
    return None if note is None else _("Behind a spoiler: {why}", why=note)


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
    # TRANSLATORS: the video file posted; {file}: its size ("4.8 MiB", perhaps fitted).
    lines = [_("File: {file}", file=render.file_text(size, plan))]
    lines += [x for x in (_spoiler_line(view), _original(view, plan, always=False)) if x]
    flagged = view.spoiler is not None and _spoiler_line(view) is not None
    done = view.evolve(phase=Phase.DELIVERED)
    return _card(
        done,
        _(render.READY_TITLE),
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
    lines = [render.too_large_text(plan)]
    lines += [x for x in (_spoiler_line(view), _original(view, plan, always=True)) if x]
    done = view.evolve(phase=Phase.DELIVERED)
    return _card(
        done,
        _(render.TOO_LARGE_TITLE),
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
    what = render.shorten(failure_text(view.error) if view.error else _("The job failed."), 1024)
    # TRANSLATORS: a heading, then why the job ended without a video.
    status = _("**What happened**\n{what}", what=what)
    return _card(
        view,
        render.failed_title(view),
        WARNING if view.refused else FAILED,
        demo=demo,
        status=status,
        billed=billed,
        fallback=render.LAST_TRIED,
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
    title = _(render.DELETED_TITLE)
    body = title if head is None else head.split("\n", 1)[-1]
    container: ui.Container[Any] = ui.Container(accent_colour=WARNING)
    container.add_item(ui.TextDisplay(render.shorten(f"### {title}\n{body}", 3000)))
    container.add_item(ui.TextDisplay(_("Video: deleted by the requester or a server admin.")))
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
