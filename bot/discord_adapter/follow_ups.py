"""Follow-ups on a result: Retry starts at once; Remix and Extend first ask in a modal.

Each follow-up is a new job through the service: the same access rules, limits, queue,
progress and delivery as `/video`, with the clicking member as the requester. Modals are never
kept in discord.py's memory (a restart would forget them): a submit is read from its custom id
and values (bot/discord_adapter/modals.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import discord

from bot.catalogue import RequestRejected
from bot.discord_adapter.interactions import requester_of, send_unkept_modal
from bot.discord_adapter.render import seconds_text
from bot.discord_adapter.reply import InteractionReply, refusal_text
from bot.domain import FollowUpKind
from bot.i18n import _

if TYPE_CHECKING:
    from bot.discord_adapter.client import VideoBot

ACK_BUDGET = 1.0
PROMPT_LIMIT = 4000  # a modal's text input holds at most 4000 characters
MODAL = re.compile(r"^video:(?P<action>remix|extend):(?P<job>[0-9a-f]{8,32})$")


async def start_follow_up(
    bot: VideoBot,
    interaction: discord.Interaction[Any],
    kind: FollowUpKind,
    job_id: str,
    *,
    prompt: str | None = None,
    seconds: int | None = None,
) -> None:
    """A new public reply, made by the service like any `/video` reply; a refusal (the
    source expired since the modal opened, among others) is told privately."""
    message = interaction.message
    source_link = message.jump_url if message is not None else None
    reply = InteractionReply(interaction, ACK_BUDGET, source_link=source_link)
    reply.arm()
    try:
        await bot.service.follow_up(
            kind,
            job_id,
            requester_of(interaction),
            reply=reply,
            prompt=prompt,
            seconds=seconds,
        )
    except RequestRejected as exc:
        bot.mod_log.refused(interaction, exc)
        await reply.refuse(refusal_text(exc))
    finally:
        reply.close()


async def open_follow_up_modal(
    bot: VideoBot, interaction: discord.Interaction[Any], kind: FollowUpKind, job_id: str
) -> None:
    """Remix or Extend: ask for the prompt (and the seconds added) once the service says the
    follow-up may be made."""
    source = await bot.service.check_follow_up(kind, job_id, requester_of(interaction))
    spec = bot.catalogue.get(source.model)
    remix = kind == "remix"
    modal = discord.ui.Modal(
        # TRANSLATORS: the title of a form that makes a changed or a longer video.
        title=_("Remix this video") if remix else _("Extend this video"),
        custom_id=f"video:{kind}:{job_id}",
        timeout=None,
    )
    modal.add_item(
        discord.ui.Label(
            # TRANSLATORS: a form's field: the text that describes the video.
            text=_("Prompt"),
            # TRANSLATORS: what the prompt of a remix (a changed video) or an extension says.
            description=_("What should change") if remix else _("What happens next"),
            component=discord.ui.TextInput(
                custom_id="prompt",
                style=discord.TextStyle.paragraph,
                default=source.prompt[:PROMPT_LIMIT],
                max_length=PROMPT_LIMIT,
            ),
        )
    )
    if not remix:
        modal.add_item(
            discord.ui.Label(
                # TRANSLATORS: a form's field: how much longer the extended video is.
                text=_("Seconds to add"),
                component=discord.ui.Select(
                    custom_id="seconds",
                    options=[
                        discord.SelectOption(label=seconds_text(s), value=str(s), default=i == 0)
                        for i, s in enumerate(spec.extension_seconds)
                    ],
                ),
            )
        )
    await send_unkept_modal(interaction, modal)


async def submit_follow_up_modal(
    bot: VideoBot,
    interaction: discord.Interaction[Any],
    match: re.Match[str],
    values: Mapping[str, str | list[str]],
) -> None:
    """A Remix or Extend modal was submitted (perhaps long after, across a restart)."""
    seconds = choice(values, "seconds")
    kind: FollowUpKind = "remix" if match["action"] == "remix" else "extend"
    await start_follow_up(
        bot,
        interaction,
        kind,
        match["job"],
        prompt=text(values, "prompt") or "",
        seconds=int(seconds) if seconds and seconds.isascii() and seconds.isdigit() else None,
    )


def text(values: Mapping[str, str | list[str]], key: str) -> str | None:
    value = values.get(key)
    return value if isinstance(value, str) else None


def choice(values: Mapping[str, str | list[str]], key: str) -> str | None:
    value = values.get(key)
    if isinstance(value, list):
        return value[0] if value else None
    return value or None
