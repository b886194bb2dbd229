"""A new video from an interaction: `/video`'s one path to the service.

The command and the choices made after it (*Generate* or *Use mine* under an improved prompt)
start a video the same way: a public reply opened within Discord's 3 seconds, the service's
checks, limits and queue, and a refusal told privately (and noted in the server's mod log).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord

from bot.catalogue import RequestRejected
from bot.discord_adapter.interactions import requester_of
from bot.discord_adapter.reply import InteractionReply, refusal_text
from bot.domain import Upload

if TYPE_CHECKING:
    from bot.discord_adapter.client import VideoBot

# Seconds after the interaction's creation by which the bot acknowledges it, whatever is still
# being checked (Discord allows 3).
ACK_BUDGET = 1.0


def upload_of(attachment: discord.Attachment | None) -> Upload | None:
    """A reference image as the service takes it: checked before its bytes are read."""
    if attachment is None:
        return None
    return Upload(attachment.content_type, attachment.size, attachment.filename, attachment.read)


async def submit_video(
    bot: VideoBot,
    interaction: discord.Interaction[Any],
    prompt: str,
    *,
    model: str | None = None,
    size: str | None = None,
    seconds: int | None = None,
    reference: discord.Attachment | None = None,
    budget: float = ACK_BUDGET,
) -> bool:
    """Start a video whose public reply answers `interaction`; False when it was refused (the
    member was told why, privately)."""
    reply = InteractionReply(interaction, budget)
    reply.arm()
    try:
        await bot.service.submit(
            requester_of(interaction),
            prompt,
            reply=reply,
            model=model,
            size=size,
            seconds=seconds,
            reference=upload_of(reference),
        )
    except RequestRejected as exc:
        bot.mod_log.refused(interaction, exc)
        await reply.refuse(refusal_text(exc))
        return False
    finally:
        reply.close()
    return True
