"""`/videos` lines: a member's jobs with their lineage and a link to each reply."""

from __future__ import annotations

from bot.discord_adapter.render import seconds_text, shorten
from bot.discord_adapter.reply import KIND, ReplyAddress
from bot.domain import JobKind, JobSummary
from bot.i18n import N_, _

# Messages (N_), translated in each line.
_STATE_LABELS = {
    # TRANSLATORS: a job's state in the member's list of videos (/videos).
    "accepted": N_("queued"),
    # TRANSLATORS: a job's state in /videos: being sent to the video service.
    "submitting": N_("starting"),
    "submitted": N_("at the video service"),
    # TRANSLATORS: a job's state in /videos: the video service makes the video.
    "running": N_("generating"),
    # TRANSLATORS: a job's state in /videos: the bot downloads the video made.
    "downloading": N_("downloading"),
    # TRANSLATORS: a job's state in /videos: the bot posts the video.
    "delivering": N_("posting"),
    # TRANSLATORS: a job's state in /videos: the video was posted.
    "delivered": N_("delivered"),
    "undeliverable": N_("made, reply gone (kept for the operator)"),
    # TRANSLATORS: a job's state in /videos: no video could be made.
    "failed": N_("failed"),
    # TRANSLATORS: a job's state in /videos: the video service refused the prompt or video.
    "refused": N_("refused"),
    # TRANSLATORS: a job's state in /videos.
    "cancelled": N_("cancelled"),
    # TRANSLATORS: a job's state in /videos: the bot stopped following the video service.
    "abandoned": N_("stopped following"),
    # TRANSLATORS: a job's state in /videos: the video took too long.
    "timed_out": N_("timed out"),
    # TRANSLATORS: a job's state in /videos: the video service no longer knows the job.
    "lost": N_("lost"),
    # TRANSLATORS: a job's state in /videos: the video expired before the bot fetched it.
    "expired": N_("not fetched"),
    "unknown": N_("outcome unknown"),
}


_LINEAGE = {
    # TRANSLATORS: in /videos, the job this one was made from.
    "remix": N_("remix of `{job}`"),
    "extend": N_("extension of `{job}`"),
}
_RETRY_OF = N_("retry of `{job}`")


def history_line(record: JobSummary, original: str | None = None) -> str:
    """One job of `/videos`: what, when, how it ended, what it came from, where it is, and
    the link to its kept original (`original`) when its reply could not be posted."""
    label = _STATE_LABELS.get(record.state.value)
    state = record.state.value if label is None else _(label)
    if record.deleted_at is not None:
        # TRANSLATORS: a job's state in /videos: its video was deleted.
        state = _("deleted")
    seconds = seconds_text(record.seconds, added=record.kind is JobKind.EXTEND)
    line = (
        f"`{record.id}` <t:{int(record.created_at)}:R> · {record.model} · {record.size} · "
        f"{seconds} · **{state}**"
    )
    if record.source_id is not None:
        lineage = _LINEAGE.get(record.kind.value, _RETRY_OF)
        line += f" · {_(lineage, job=record.source_id)}"
    line += f" — {shorten(record.prompt, 50)}"
    link = message_link(record)
    if link is not None:
        # TRANSLATORS: a link to the job's reply in its channel.
        opened = _("[open]({link})", link=link)
        line += f" · {opened}"
    if original is not None:
        # TRANSLATORS: a link to the video's file, kept when its reply could not be posted.
        kept = _("[video]({link})", link=original)
        line += f" · {kept}"
    return line


def message_link(record: JobSummary) -> str | None:
    """A link to the job's reply in its channel, when the reply is a Discord message."""
    handle = record.reply
    if handle is None or handle.kind != KIND or record.guild_id is None:
        return None
    address = ReplyAddress.from_handle(handle)
    if address.message_id is None or not address.channel_id:
        return None
    return (
        f"https://discord.com/channels/{record.guild_id}/{address.channel_id}/{address.message_id}"
    )
