"""Turns job views into Discord embeds (pure: no I/O)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import discord
from babel.numbers import format_decimal, format_percent

from bot import i18n
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
    failure_text,
    plain_category,
    shown_position,
)
from bot.i18n import N_, _, ngettext
from bot.media.delivery import DeliveryPlan
from bot.videos import FailureKind

_BLURPLE = discord.Colour.blurple()
_GREEN = discord.Colour.green()
_RED = discord.Colour.red()
_ORANGE = discord.Colour.orange()

# Messages (N_): each is translated with `_()` where a card is drawn, in its reader's language.
_PHASE_LABELS = {
    # TRANSLATORS: the status of a video being made, on its progress card.
    Phase.WAITING: N_("Waiting for a free slot"),
    Phase.SUBMITTING: N_("Sending to the video service"),
    Phase.QUEUED: N_("Queued at the video service"),
    Phase.RUNNING: N_("Generating"),
    Phase.DOWNLOADING: N_("Downloading the video"),
    Phase.DELIVERING: N_("Uploading the video"),
    # TRANSLATORS: the status of a video being made: it is made and posted.
    Phase.DELIVERED: N_("Done"),
    # TRANSLATORS: the status of a video being made: it could not be made.
    Phase.FAILED: N_("Failed"),
}
READY_TITLE = N_("Your video is ready")
TOO_LARGE_TITLE = N_("Your video is ready, but too large to upload here")
DELETED_TITLE = N_("Video deleted")
# Which model made a video once an earlier one could not: the card says so in one line.
# TRANSLATORS: {model} made the video; {unavailable} says which could not ("wan was unavailable").
MADE_BY = N_("Made by {model} — {unavailable}")
# TRANSLATORS: while the video is made; {unavailable}: "wan was unavailable".
BEING_MADE_BY = N_("Being made by {model} — {unavailable}")
# TRANSLATORS: on a card without a video; {unavailable}: "wan was unavailable".
LAST_TRIED = N_("Last tried {model} — {unavailable}")
_SOURCE_LABELS = {
    # TRANSLATORS: the first line of a card made from an earlier video ({link}: its link).
    JobKind.REMIX: N_("Remixed from [this video]({link})"),
    JobKind.EXTEND: N_("Extended from [this video]({link})"),
}
_KIND_WORDS = {
    # TRANSLATORS: a line of a job's Details: the job it was made from, with its prompt.
    JobKind.REMIX: N_("remix of `{job}` ({prompt})"),
    JobKind.EXTEND: N_("extension of `{job}` ({prompt})"),
}
_RETRY_OF = N_("retry of `{job}` ({prompt})")
DEMO_NOTE = N_("Demo: fake video service, nothing is billed")
_PROMPT_SHOWN = 1000
FIELD_VALUE = 1024  # Discord's limit for an embed field's value

# Why an earlier model could not make the video, and what it cost: plain words, no provider
# internals (the error texts stay in the log and the store).
_ATTEMPT_WORDS = {
    # TRANSLATORS: after a model's name in Details ("wan: could not start — nothing billed").
    FailureKind.NEVER_STARTED: N_("could not start — nothing billed"),
    FailureKind.PROVIDER_ERROR: N_("provider error — refunded"),
    FailureKind.UNKNOWN: N_("outcome unknown — may be billed"),
    FailureKind.REFUSED_INPUT: N_("refused the prompt"),
    FailureKind.REFUSED_OUTPUT: N_("refused the video it made"),
}
# Why a job ended without a video, beside its state in Details.
_FAILURE_WORDS = {
    # TRANSLATORS: why a job ended without a video, after its state or its model in Details.
    FailureKind.NEVER_STARTED: N_("could not start"),
    FailureKind.PROVIDER_ERROR: N_("provider error"),
    FailureKind.UNKNOWN: N_("outcome unknown"),
    FailureKind.REFUSED_INPUT: N_("prompt refused"),
    FailureKind.REFUSED_OUTPUT: N_("video refused"),
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


def _fixed(value: float, digits: int) -> str:
    """`value` with exactly `digits` decimals, in the reader's locale ("2.0", "2,0")."""
    pattern = "#,##0." + "0" * digits if digits else "#,##0"
    return format_decimal(
        round(value, digits), format=pattern, locale=i18n.babel_locale(i18n.current())
    )


def file_size(size: int) -> str:
    if size < 1024 * 1024:
        # TRANSLATORS: a file size in kibibytes.
        return _("{size} KiB", size=_fixed(size / 1024, 0))
    # TRANSLATORS: a file size in mebibytes.
    return _("{size} MiB", size=_fixed(size / 1048576, 1))


# TRANSLATORS: a video's length ("s" for seconds).
SECONDS = N_("{seconds} s")


def seconds_text(seconds: int, *, added: bool = False) -> str:
    """A video's length, "8 s"; "+8 s" for the seconds an extension adds."""
    if added:
        # TRANSLATORS: the seconds an extension adds to a video ("s" for seconds).
        return _("+{seconds} s", seconds=i18n.number(seconds))
    return _(SECONDS, seconds=i18n.number(seconds))


def percent_text(percent: int) -> str:
    """A progress in percent, as the reader's locale writes it ("42%", "42 %", "%42")."""
    return format_percent(percent / 100, locale=i18n.babel_locale(i18n.current()))


def money(amount: Decimal) -> str:
    return i18n.money(amount)


def cost_text(estimate: Decimal | str, billed: Decimal | str | None = None) -> str:
    """ "est. $0.40 → billed $0.36" once the provider reported its bill, else "est. $0.40"."""
    if billed is None:
        # TRANSLATORS: a video's estimated cost ("est." for estimated).
        return _("est. {estimate}", estimate=money(Decimal(estimate)))
    # TRANSLATORS: a video's estimated cost, then what the video service billed for it.
    return _(
        "est. {estimate} → billed {billed}",
        estimate=money(Decimal(estimate)),
        billed=money(Decimal(billed)),
    )


def job_cost(job: JobSummary) -> str:
    """What a job costs, as Details shows it: the estimate, the bill, and whether it counts."""
    shown = cost_text(job.cost, job.billed_cost)
    if billing(job.state, job.provider_video_id, job.billed_cost) is Billing.REFUNDED:
        # TRANSLATORS: a job's cost ("est. $0.40") when the video service refunded it.
        shown = _("{cost} · refunded", cost=shown)
    return shown


def names_list(names: Sequence[str]) -> str:
    """ "wan", "wan and kling", "wan, kling and hunyuan"."""
    if len(names) <= 1:
        return "".join(names)
    # TRANSLATORS: the end of a list of model names ("wan, kling and hunyuan"): {first} is
    # every name but the last, separated by commas.
    return _("{first} and {last}", first=", ".join(names[:-1]), last=names[-1])


def unavailable(fell_back_from: Sequence[str]) -> str | None:
    """ "wan was unavailable" / "wan and kling were unavailable"; None without a fallback."""
    names = list(dict.fromkeys(fell_back_from))
    if not names:
        return None
    # TRANSLATORS: the models that could not make a video; {names}: "wan" or "wan and kling".
    return ngettext(
        "{names} was unavailable", "{names} were unavailable", len(names), names=names_list(names)
    )


def made_by(view: JobView, message: str = MADE_BY) -> str | None:
    """ "Made by veo — wan was unavailable" once the job fell back to another model;
    `message` is MADE_BY, BEING_MADE_BY or LAST_TRIED."""
    why = unavailable(view.fell_back_from)
    if why is None:
        return None
    return shorten(_(message, model=view.request.spec.display_name, unavailable=why), FIELD_VALUE)


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
        return _("Flagged by the video service")
    words = quoted_prompt(plain_category(reason or ""), 200)
    # TRANSLATORS: why a video is behind a spoiler; {categories}: the moderation's categories.
    return shorten(_("Content warning: {categories}", categories=words), FIELD_VALUE)


def _base(
    view: JobView,
    title: str,
    colour: discord.Colour,
    *,
    demo: bool,
    thumbnail: str | None = None,
    fallback: str = MADE_BY,
) -> discord.Embed:
    """The parts every card shares. A job behind a spoiler (`view.spoiler`, as the presenter
    decided it) shows its prompt behind one too, and never a thumbnail."""
    request = view.request
    prompt = quoted_prompt(request.prompt)
    description = ">>> " + (f"||{prompt}||" if view.spoiler is not None else prompt)
    source = _SOURCE_LABELS.get(request.kind)
    if source is not None and view.source_link is not None:
        description = f"{_(source, link=view.source_link)}\n{description}"
    if view.requested_by is not None:
        requested = requested_by(view.requested_by)
        description = f"{requested}\n{description}"
    embed = discord.Embed(title=title, description=description, colour=colour)
    if thumbnail is not None and view.spoiler is None:
        embed.set_thumbnail(url=f"attachment://{thumbnail}")
    seconds = seconds_text(request.seconds, added=request.kind is JobKind.EXTEND)
    embed.add_field(
        # TRANSLATORS: a card's field: the model, size and length of the video.
        name=_("Settings"),
        value=f"{request.spec.display_name} · {request.size} · {seconds}",
        inline=True,
    )
    embed.add_field(name=_("Estimated cost"), value=money(request.estimated_cost), inline=True)
    made = made_by(view, fallback)
    if made is not None:
        # TRANSLATORS: a card's field: the video model.
        embed.add_field(name=_("Model"), value=made, inline=False)
    embed.set_footer(text=footer(view.ref, demo=demo))
    return embed


def open_original() -> str:
    """The label of the link button to a video's original."""
    # TRANSLATORS: a button's label: opens the original video (a link).
    return _("Open original")


def requested_by(name: str) -> str:
    """Who asked for a video made through the bot's API: its key's name."""
    # TRANSLATORS: {name} is the name of the API key that asked for the video.
    return _("Requested by API key *{name}*", name=quoted_prompt(name, 100))


def footer(ref: str, *, demo: bool) -> str:
    """A card's last line: the job's reference, and the demo's note."""
    # TRANSLATORS: a card's footer; {ref} is the job's reference.
    shown = _("job {ref}", ref=ref)
    return f"{shown} · {_(DEMO_NOTE)}" if demo else shown


def queue_place(view: JobView) -> str:
    """ "In the queue: position 3" (or "about 40" far from the front), else the phase."""
    if view.phase is Phase.WAITING and view.queue_position is not None:
        place = shown_position(view.queue_position)
        if place == view.queue_position:
            return _("In the queue: position {place}", place=i18n.number(place))
        # TRANSLATORS: a place far from the front of the queue, rounded.
        return _("In the queue: position about {place}", place=i18n.number(place))
    return _(_PHASE_LABELS[view.phase])


def progress_percent(progress: int | None) -> str:
    return "…" if progress is None else percent_text(progress)


DELAYED = N_("Delivery delayed: the bot hit a problem of its own and keeps retrying.")


def progress_embed(view: JobView, *, demo: bool, thumbnail: str | None = None) -> discord.Embed:
    embed = _base(
        view,
        _("Making your video"),
        _BLURPLE,
        demo=demo,
        thumbnail=thumbnail,
        fallback=BEING_MADE_BY,
    )
    label = queue_place(view)
    if view.phase in (Phase.QUEUED, Phase.RUNNING):
        label = f"{label}\n`{bar(view.progress, 20)}` {progress_percent(view.progress)}"
    if view.delayed:
        label += "\n" + _(DELAYED)
    # TRANSLATORS: a card's field: how far the video is.
    embed.add_field(name=_("Status"), value=label, inline=False)
    # TRANSLATORS: a card's field: when the job started (a time that reads "2 minutes ago").
    embed.add_field(name=_("Started"), value=timestamp(view.started_at), inline=True)
    if view.eta_at is not None and view.phase is Phase.RUNNING:
        # TRANSLATORS: a card's field: when the video should be ready ("in 2 minutes").
        embed.add_field(name=_("Expected"), value=timestamp(view.eta_at), inline=True)
    return embed


def fitting_embed(
    view: JobView, percent: int, limit: int, *, demo: bool, thumbnail: str | None = None
) -> discord.Embed:
    embed = _base(
        view,
        _("Making your video"),
        _BLURPLE,
        demo=demo,
        thumbnail=thumbnail,
        fallback=BEING_MADE_BY,
    )
    embed.add_field(
        name=_("Status"),
        value=f"{fitting_text(limit, percent)}\n`{bar(percent, 20)}`",
        inline=False,
    )
    return embed


def fitting_text(limit: int, percent: int) -> str:
    """ "Fitting the video to Discord's 10.0 MiB limit — 40 %"."""
    # TRANSLATORS: the video is re-encoded smaller; {limit}: a file size, {percent}: 0 to 100.
    return _(
        "Fitting the video to Discord's {limit} limit — {percent} %",
        limit=file_size(limit),
        percent=i18n.number(percent),
    )


def file_text(size: int, plan: DeliveryPlan) -> str:
    """The uploaded file's size, and whether it was fitted to the server's limit."""
    if not plan.fitted:
        return file_size(size)
    # TRANSLATORS: {size} of the video posted; {limit}: the server's upload limit.
    return _(
        "{size}, fitted to this server's {limit} upload limit",
        size=file_size(size),
        limit=file_size(plan.upload_limit),
    )


def too_large_text(plan: DeliveryPlan) -> str:
    return _(
        "The video is {size} and this server accepts uploads up to {limit}; it could not be"
        " made small enough.",
        size=file_size(plan.original_size),
        limit=file_size(plan.upload_limit),
    )


def delivered_embed(
    view: JobView,
    size: int,
    plan: DeliveryPlan,
    *,
    demo: bool,
    thumbnail: str | None = None,
) -> discord.Embed:
    embed = _base(view, _(READY_TITLE), _GREEN, demo=demo, thumbnail=thumbnail)
    # TRANSLATORS: a card's field: the video file posted.
    embed.add_field(name=_("File"), value=file_text(size, plan), inline=True)
    _spoiler_field(embed, view)
    _original_field(embed, view, plan)
    return embed


def _spoiler_field(embed: discord.Embed, view: JobView) -> None:
    note = spoiler_note(view.spoiler)
    if note is not None:
        embed.add_field(name=_("Behind a spoiler"), value=note, inline=False)


def too_large_embed(
    view: JobView, plan: DeliveryPlan, *, demo: bool, thumbnail: str | None = None
) -> discord.Embed:
    """The video could not be made small enough: the original is all there is."""
    embed = _base(view, _(TOO_LARGE_TITLE), _ORANGE, demo=demo, thumbnail=thumbnail)
    embed.add_field(name=_("Why no file"), value=too_large_text(plan), inline=False)
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
        # TRANSLATORS: "Open original" is the button's label; {expires}: "in 7 days".
        value = _(
            "{size} · Open original: the link expires {expires}",
            size=size,
            expires=timestamp(original.kept_until),
        )
    elif plan.say_where_kept or always:
        # TRANSLATORS: `video-bot jobs` is a command of the bot's operator: kept as it is.
        value = _(
            "{size}, kept on the bot's host until {until}: the bot's operator finds it with"
            " `video-bot jobs` (job `{ref}`).",
            size=size,
            until=timestamp(original.kept_until, "f"),
            ref=view.ref,
        )
    else:
        return
    # TRANSLATORS: a card's field: the original video, before it was fitted or linked.
    embed.add_field(name=_("Original"), value=value, inline=False)


def failed_title(view: JobView) -> str:
    if view.state in (JobState.CANCELLED, JobState.ABANDONED):
        # TRANSLATORS: the title of a card whose job was cancelled.
        return _("Cancelled")
    if view.refused:
        return _("The video service refused this prompt")
    return _("No video this time")


def failed_embed(view: JobView, *, demo: bool) -> discord.Embed:
    embed = _base(
        view, failed_title(view), _ORANGE if view.refused else _RED, demo=demo, fallback=LAST_TRIED
    )
    embed.add_field(
        name=_("What happened"),
        value=shorten(failure_text(view.error) if view.error else _("The job failed."), 1024),
        inline=False,
    )
    return embed


def details_embed(details: JobDetails) -> discord.Embed:
    """The private Details of a job: what an operator or a curious member asks for."""
    record = details.job
    embed = discord.Embed(
        # TRANSLATORS: the title of a job's Details; {job} is its reference.
        title=_("Job {job}", job=record.id),
        description=">>> " + quoted_prompt(record.prompt, 500),
        colour=_BLURPLE,
    )
    seconds = seconds_text(record.seconds, added=record.kind == JobKind.EXTEND)
    embed.add_field(name=_("Model"), value=f"{record.model} · {record.size} · {seconds}")
    # TRANSLATORS: a field of a job's Details: what it cost.
    embed.add_field(name=_("Cost"), value=job_cost(record))
    # The state's own name ("delivered", "timed_out"): what the operator's tools and logs say.
    state = record.state.value
    if record.deleted_at:
        # TRANSLATORS: {state} is a job's state as the bot names it ("delivered"), in English.
        state = _("{state} (deleted)", state=state)
    if record.failure_kind is not None and not record.delivered:
        # TRANSLATORS: a job's state, then why it ended without a video ("could not start").
        state = _("{state} — {why}", state=state, why=_failure_words(record.failure_kind))
    # TRANSLATORS: a field of a job's Details: its state.
    embed.add_field(name=_("State"), value=state)
    if record.attempts:
        # TRANSLATORS: a field of a job's Details: every model that tried to make the video.
        embed.add_field(name=_("Attempts"), value=attempts_text(record), inline=False)
    embed.add_field(
        # TRANSLATORS: a field of a job's Details: the video service's id of the video.
        name=_("Provider id"),
        value=f"`{record.provider_video_id or '-'}`",
        inline=False,
    )
    # TRANSLATORS: a field of a job's Details: when it was asked for.
    embed.add_field(name=_("Created"), value=timestamp(record.created_at, "f"))
    if record.finished_at is not None:
        # TRANSLATORS: a field of a job's Details: when it ended.
        embed.add_field(name=_("Finished"), value=timestamp(record.finished_at, "f"))
    if record.video_expires_at is not None:
        embed.add_field(
            # TRANSLATORS: a field of a job's Details: when the video service deletes the video.
            name=_("Provider keeps it until"),
            value=timestamp(record.video_expires_at, "R"),
        )
    if details.lineage:
        kinds = [record, *details.lineage]
        lines = [
            _(
                _KIND_WORDS.get(child.kind, _RETRY_OF),
                job=parent.id,
                prompt=shorten(parent.prompt, 40),
            )
            for child, parent in zip(kinds, details.lineage, strict=False)
        ]
        # TRANSLATORS: a field of a job's Details: the earlier jobs it was made from.
        embed.add_field(name=_("Made from"), value=shorten("\n".join(lines), 1024), inline=False)
    # TRANSLATORS: the footer of a job's Details; {job} is its reference.
    embed.set_footer(text=_("Reference: {job}", job=record.id))
    return embed


def _failure_words(kind: FailureKind) -> str:
    words = _FAILURE_WORDS.get(kind)
    return kind.value if words is None else _(words)


def _model_at(model: str, provider: str) -> str:
    """ "wan (openrouter)"; the operator's own default provider goes unnamed."""
    return model if provider == DEFAULT_PROVIDER else f"{model} ({provider})"


def attempts_text(job: JobSummary) -> str:
    """Every model tried, oldest first: why each earlier one could not make the video, then
    how the last one did. The newest lines are kept when they do not all fit."""
    lines = [
        f"{_model_at(a.model, a.provider)}: {_attempt_words(a.failure_kind)}" for a in job.attempts
    ]
    if job.delivered or job.state in (JobState.DOWNLOADING, JobState.DELIVERING):
        # TRANSLATORS: after the model's name in a job's Details ("sora-2: made the video").
        outcome = _("made the video")
    elif not job.state.is_final:
        # TRANSLATORS: after the model's name in a job's Details ("sora-2: in progress").
        outcome = _("in progress")
    elif job.failure_kind is not None:
        outcome = _failure_words(job.failure_kind)
    else:
        outcome = job.state.value.replace("_", " ")
    lines.append(f"{_model_at(job.model, job.provider)}: {outcome}")
    lines = [shorten(line, 200) for line in lines]
    for dropped in range(len(lines)):
        # TRANSLATORS: the first line of a list of attempts whose oldest are left out.
        earlier = [ngettext("… {n} earlier", "… {n} earlier", dropped)] if dropped else []
        text = "\n".join([*earlier, *lines[dropped:]])
        if len(text) <= FIELD_VALUE:
            return text
    return lines[-1]


def _attempt_words(kind: FailureKind) -> str:
    words = _ATTEMPT_WORDS.get(kind)
    return kind.value if words is None else _(words)


def deleted_embed(current: discord.Embed | None) -> discord.Embed:
    """A result whose video was deleted: the card stays, saying so, without the file."""
    embed = discord.Embed(title=_(DELETED_TITLE), colour=_ORANGE)
    if current is not None:
        embed.description = current.description
        if current.footer.text:
            embed.set_footer(text=current.footer.text)
    # TRANSLATORS: a card's field: the video, which was deleted.
    embed.add_field(name=_("Video"), value=_("Deleted by the requester or a server admin."))
    return embed
