"""Turns job views into Discord embeds (pure: no I/O)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import discord

from bot.catalogue import DEFAULT_PROVIDER
from bot.discord_adapter.spoilers import PROVIDER, is_flag
from bot.domain import (
    Billing,
    JobDetails,
    JobKind,
    JobState,
    JobSummary,
    JobView,
    Phase,
    billing,
    plain_category,
    shown_position,
)
from bot.media.delivery import DeliveryPlan
from bot.videos import FailureKind

_BLURPLE = discord.Colour.blurple()
_GREEN = discord.Colour.green()
_RED = discord.Colour.red()
_ORANGE = discord.Colour.orange()

_PHASE_LABELS = {
    Phase.WAITING: "Waiting for a free slot",
    Phase.SUBMITTING: "Sending to the video service",
    Phase.QUEUED: "Queued at the video service",
    Phase.RUNNING: "Generating",
    Phase.DOWNLOADING: "Downloading the video",
    Phase.DELIVERING: "Uploading the video",
    Phase.DELIVERED: "Done",
    Phase.FAILED: "Failed",
}
READY_TITLE = "Your video is ready"
_WORKING_VERB = "Being made by"  # the progress card's "Made by ..." once a fallback happened
DELETED_TITLE = "Video deleted"
_SOURCE_LABELS = {JobKind.REMIX: "Remixed from", JobKind.EXTEND: "Extended from"}
_KIND_WORDS = {JobKind.REMIX: "remix of", JobKind.EXTEND: "extension of"}
DEMO_NOTE = "Demo: fake video service, nothing is billed"
_PROMPT_SHOWN = 1000
FIELD_VALUE = 1024  # Discord's limit for an embed field's value

# Why an earlier model could not make the video, and what it cost: plain words, no provider
# internals (the error texts stay in the log and the store).
_ATTEMPT_WORDS = {
    FailureKind.NEVER_STARTED: "could not start — nothing billed",
    FailureKind.PROVIDER_ERROR: "provider error — refunded",
    FailureKind.UNKNOWN: "outcome unknown — may be billed",
    FailureKind.REFUSED_INPUT: "refused the prompt",
    FailureKind.REFUSED_OUTPUT: "refused the video it made",
}
# Why a job ended without a video, beside its state in Details.
_FAILURE_WORDS = {
    FailureKind.NEVER_STARTED: "could not start",
    FailureKind.PROVIDER_ERROR: "provider error",
    FailureKind.UNKNOWN: "outcome unknown",
    FailureKind.REFUSED_INPUT: "prompt refused",
    FailureKind.REFUSED_OUTPUT: "video refused",
}


def bar(progress: int | None, width: int) -> str:
    """A bar of `width` cells; an unknown progress shows as an empty bar."""
    filled = 0 if progress is None else round(width * progress / 100)
    return "█" * filled + "░" * (width - filled)


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def quoted_prompt(prompt: str, limit: int = _PROMPT_SHOWN) -> str:
    """A member's prompt as plain text: its markdown (masked links, headings, bold) and
    mentions are shown as typed, so a prompt cannot make a reply look like something else."""
    text = discord.utils.escape_mentions(discord.utils.escape_markdown(prompt))
    return shorten(text, limit)


def file_size(size: int) -> str:
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KiB"
    return f"{size / 1048576:.1f} MiB"


def money(amount: Decimal) -> str:
    return f"${amount:.2f}"


def cost_text(estimate: Decimal | str, billed: Decimal | str | None = None) -> str:
    """ "est. $0.40 → billed $0.36" once the provider reported its bill, else "est. $0.40"."""
    shown = f"est. {money(Decimal(estimate))}"
    return shown if billed is None else f"{shown} → billed {money(Decimal(billed))}"


def job_cost(job: JobSummary) -> str:
    """What a job costs, as Details shows it: the estimate, the bill, and whether it counts."""
    shown = cost_text(job.cost, job.billed_cost)
    if billing(job.state, job.provider_video_id, job.billed_cost) is Billing.REFUNDED:
        shown += " · refunded"
    return shown


def names_list(names: Sequence[str]) -> str:
    """ "wan", "wan and kling", "wan, kling and hunyuan"."""
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"


def unavailable(fell_back_from: Sequence[str]) -> str | None:
    """ "wan was unavailable" / "wan and kling were unavailable"; None without a fallback."""
    names = list(dict.fromkeys(fell_back_from))
    if not names:
        return None
    return f"{names_list(names)} {'was' if len(names) == 1 else 'were'} unavailable"


def made_by(view: JobView, verb: str = "Made by") -> str | None:
    """ "Made by veo — wan was unavailable" once the job fell back to another model."""
    why = unavailable(view.fell_back_from)
    if why is None:
        return None
    return shorten(f"{verb} {view.request.spec.display_name} — {why}", FIELD_VALUE)


def timestamp(unix: float, style: str = "R") -> str:
    """A Discord timestamp that each reader's client renders live in their own time zone."""
    return f"<t:{int(unix)}:{style}>"


def thumbnail_name(path: Path) -> str:
    """The attachment name of a job's thumbnail, which its embeds refer to."""
    return f"thumbnail{path.suffix}"


def spoiler_note(reason: str | None) -> str | None:
    """What a card behind a spoiler says of why: a content warning for a flag, nothing for a
    server that hides every video."""
    if not is_flag(reason):
        return None
    if reason == PROVIDER:
        return "Flagged by the video service"
    words = quoted_prompt(plain_category(reason or ""), 200)
    return shorten(f"Content warning: {words}", FIELD_VALUE)


def _base(
    view: JobView,
    title: str,
    colour: discord.Colour,
    *,
    demo: bool,
    thumbnail: str | None = None,
    fallback_verb: str = "Made by",
) -> discord.Embed:
    """The parts every card shares. A job behind a spoiler (`view.spoiler`, as the presenter
    decided it) shows its prompt behind one too, and never a thumbnail."""
    request = view.request
    prompt = quoted_prompt(request.prompt)
    description = ">>> " + (f"||{prompt}||" if view.spoiler is not None else prompt)
    source = _SOURCE_LABELS.get(request.kind)
    if source is not None and view.source_link is not None:
        description = f"{source} [this video]({view.source_link})\n{description}"
    if view.requested_by is not None:
        description = (
            f"Requested by API key *{quoted_prompt(view.requested_by, 100)}*\n{description}"
        )
    embed = discord.Embed(title=title, description=description, colour=colour)
    if thumbnail is not None and view.spoiler is None:
        embed.set_thumbnail(url=f"attachment://{thumbnail}")
    seconds = f"+{request.seconds} s" if request.kind is JobKind.EXTEND else f"{request.seconds} s"
    embed.add_field(
        name="Settings",
        value=f"{request.spec.display_name} · {request.size} · {seconds}",
        inline=True,
    )
    embed.add_field(name="Estimated cost", value=money(request.estimated_cost), inline=True)
    fallback = made_by(view, fallback_verb)
    if fallback is not None:
        embed.add_field(name="Model", value=fallback, inline=False)
    footer = f"job {view.ref}"
    if demo:
        footer += f" · {DEMO_NOTE}"
    embed.set_footer(text=footer)
    return embed


def progress_embed(view: JobView, *, demo: bool, thumbnail: str | None = None) -> discord.Embed:
    embed = _base(
        view,
        "Making your video",
        _BLURPLE,
        demo=demo,
        thumbnail=thumbnail,
        fallback_verb=_WORKING_VERB,
    )
    label = _PHASE_LABELS[view.phase]
    if view.phase is Phase.WAITING and view.queue_position is not None:
        place = shown_position(view.queue_position)
        about = "" if place == view.queue_position else "about "
        label = f"In the queue: position {about}{place:,}"
    if view.phase in (Phase.QUEUED, Phase.RUNNING):
        percent = "…" if view.progress is None else f"{view.progress}%"
        label = f"{label}\n`{bar(view.progress, 20)}` {percent}"
    if view.delayed:
        label += "\nDelivery delayed: the bot hit a problem of its own and keeps retrying."
    embed.add_field(name="Status", value=label, inline=False)
    embed.add_field(name="Started", value=timestamp(view.started_at), inline=True)
    if view.eta_at is not None and view.phase is Phase.RUNNING:
        embed.add_field(name="Expected", value=timestamp(view.eta_at), inline=True)
    return embed


def fitting_embed(
    view: JobView, percent: int, limit: int, *, demo: bool, thumbnail: str | None = None
) -> discord.Embed:
    embed = _base(
        view,
        "Making your video",
        _BLURPLE,
        demo=demo,
        thumbnail=thumbnail,
        fallback_verb=_WORKING_VERB,
    )
    embed.add_field(
        name="Status",
        value=(
            f"Fitting the video to Discord's {file_size(limit)} limit — {percent} %\n"
            f"`{bar(percent, 20)}`"
        ),
        inline=False,
    )
    return embed


def delivered_embed(
    view: JobView,
    size: int,
    plan: DeliveryPlan,
    *,
    demo: bool,
    thumbnail: str | None = None,
) -> discord.Embed:
    embed = _base(view, READY_TITLE, _GREEN, demo=demo, thumbnail=thumbnail)
    shown = file_size(size)
    if plan.fitted:
        shown += f", fitted to this server's {file_size(plan.upload_limit)} upload limit"
    embed.add_field(name="File", value=shown, inline=True)
    _spoiler_field(embed, view)
    _original_field(embed, view, plan)
    return embed


def _spoiler_field(embed: discord.Embed, view: JobView) -> None:
    note = spoiler_note(view.spoiler)
    if note is not None:
        embed.add_field(name="Behind a spoiler", value=note, inline=False)


def too_large_embed(
    view: JobView, plan: DeliveryPlan, *, demo: bool, thumbnail: str | None = None
) -> discord.Embed:
    """The video could not be made small enough: the original is all there is."""
    title = f"{READY_TITLE}, but too large to upload here"
    embed = _base(view, title, _ORANGE, demo=demo, thumbnail=thumbnail)
    embed.add_field(
        name="Why no file",
        value=(
            f"The video is {file_size(plan.original_size)} and this server accepts uploads up "
            f"to {file_size(plan.upload_limit)}; it could not be made small enough."
        ),
        inline=False,
    )
    _spoiler_field(embed, view)
    _original_field(embed, view, plan, always=True)
    return embed


def _original_field(
    embed: discord.Embed, view: JobView, plan: DeliveryPlan, *, always: bool = False
) -> None:
    """Where the original can be had: its link, or the bot's host (for the operator)."""
    original = plan.original
    if original is None:
        return
    size = file_size(original.size)
    if original.link is not None:
        # The link itself is the reply's "Open original" button.
        value = f"{size} · Open original: the link expires {timestamp(original.kept_until)}"
    elif plan.say_where_kept or always:
        value = (
            f"{size}, kept on the bot's host until {timestamp(original.kept_until, 'f')}: "
            f"the bot's operator finds it with `video-bot jobs` (job `{view.ref}`)."
        )
    else:
        return
    embed.add_field(name="Original", value=value, inline=False)


def failed_embed(view: JobView, *, demo: bool) -> discord.Embed:
    title = "The video service refused this prompt" if view.refused else "No video this time"
    if view.state in (JobState.CANCELLED, JobState.ABANDONED):
        title = "Cancelled"
    embed = _base(
        view, title, _ORANGE if view.refused else _RED, demo=demo, fallback_verb="Last tried"
    )
    embed.add_field(
        name="What happened",
        value=shorten(view.error or "The job failed.", 1024),
        inline=False,
    )
    return embed


def details_embed(details: JobDetails) -> discord.Embed:
    """The private Details of a job: what an operator or a curious member asks for."""
    record = details.job
    embed = discord.Embed(
        title=f"Job {record.id}",
        description=">>> " + quoted_prompt(record.prompt, 500),
        colour=_BLURPLE,
    )
    seconds = f"+{record.seconds}" if record.kind == JobKind.EXTEND else str(record.seconds)
    embed.add_field(name="Model", value=f"{record.model} · {record.size} · {seconds} s")
    embed.add_field(name="Cost", value=job_cost(record))
    state = record.state.value + (" (deleted)" if record.deleted_at else "")
    if record.failure_kind is not None and not record.delivered:
        state += f" — {_FAILURE_WORDS.get(record.failure_kind, record.failure_kind.value)}"
    embed.add_field(name="State", value=state)
    if record.attempts:
        embed.add_field(name="Attempts", value=attempts_text(record), inline=False)
    embed.add_field(name="Provider id", value=f"`{record.provider_video_id or '-'}`", inline=False)
    embed.add_field(name="Created", value=timestamp(record.created_at, "f"))
    if record.finished_at is not None:
        embed.add_field(name="Finished", value=timestamp(record.finished_at, "f"))
    if record.video_expires_at is not None:
        embed.add_field(
            name="Provider keeps it until", value=timestamp(record.video_expires_at, "R")
        )
    if details.lineage:
        kinds = [record, *details.lineage]
        lines = [
            f"{_KIND_WORDS.get(child.kind, 'retry of')} `{parent.id}` "
            f"({shorten(parent.prompt, 40)})"
            for child, parent in zip(kinds, details.lineage, strict=False)
        ]
        embed.add_field(name="Made from", value=shorten("\n".join(lines), 1024), inline=False)
    embed.set_footer(text=f"Reference: {record.id}")
    return embed


def _model_at(model: str, provider: str) -> str:
    """ "wan (openrouter)"; the operator's own default provider goes unnamed."""
    return model if provider == DEFAULT_PROVIDER else f"{model} ({provider})"


def attempts_text(job: JobSummary) -> str:
    """Every model tried, oldest first: why each earlier one could not make the video, then
    how the last one did. The newest lines are kept when they do not all fit."""
    lines = [
        f"{_model_at(a.model, a.provider)}: "
        f"{_ATTEMPT_WORDS.get(a.failure_kind, a.failure_kind.value)}"
        for a in job.attempts
    ]
    if job.delivered or job.state in (JobState.DOWNLOADING, JobState.DELIVERING):
        outcome = "made the video"
    elif not job.state.is_final:
        outcome = "in progress"
    elif job.failure_kind is not None:
        outcome = _FAILURE_WORDS.get(job.failure_kind, job.failure_kind.value)
    else:
        outcome = job.state.value.replace("_", " ")
    lines.append(f"{_model_at(job.model, job.provider)}: {outcome}")
    lines = [shorten(line, 200) for line in lines]
    for dropped in range(len(lines)):
        earlier = [f"… {dropped} earlier"] if dropped else []
        text = "\n".join([*earlier, *lines[dropped:]])
        if len(text) <= FIELD_VALUE:
            return text
    return lines[-1]


def deleted_embed(current: discord.Embed | None) -> discord.Embed:
    """A result whose video was deleted: the card stays, saying so, without the file."""
    embed = discord.Embed(title=DELETED_TITLE, colour=_ORANGE)
    if current is not None:
        embed.description = current.description
        if current.footer.text:
            embed.set_footer(text=current.footer.text)
    embed.add_field(name="Video", value="Deleted by the requester or a server admin.")
    return embed
