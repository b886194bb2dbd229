"""`/videos` lines: a member's jobs with their lineage and a link to each reply."""

from __future__ import annotations

from bot.discord_adapter.render import shorten
from bot.discord_adapter.reply import KIND, ReplyAddress
from bot.domain import JobKind, JobSummary

_STATE_LABELS = {
    "accepted": "queued",
    "submitting": "starting",
    "submitted": "at the video service",
    "running": "generating",
    "downloading": "downloading",
    "delivering": "posting",
    "delivered": "delivered",
    "undeliverable": "made, reply gone (kept for the operator)",
    "failed": "failed",
    "refused": "refused",
    "cancelled": "cancelled",
    "abandoned": "stopped following",
    "timed_out": "timed out",
    "lost": "lost",
    "expired": "not fetched",
    "unknown": "outcome unknown",
}


_LINEAGE = {"remix": "remix of", "extend": "extension of"}


def history_line(record: JobSummary) -> str:
    """One job of `/videos`: what, when, how it ended, what it came from, where it is."""
    state = _STATE_LABELS.get(record.state.value, record.state.value)
    if record.deleted_at is not None:
        state = "deleted"
    seconds = f"+{record.seconds}" if record.kind is JobKind.EXTEND else str(record.seconds)
    line = (
        f"`{record.id}` <t:{int(record.created_at)}:R> · {record.model} · {record.size} · "
        f"{seconds} s · **{state}**"
    )
    if record.source_id is not None:
        line += f" · {_LINEAGE.get(record.kind.value, 'retry of')} `{record.source_id}`"
    line += f" — {shorten(record.prompt, 50)}"
    link = message_link(record)
    if link is not None:
        line += f" · [open]({link})"
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
