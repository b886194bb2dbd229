"""Modal submits, read from the wire: discord.py keeps no modal of ours in memory, so a modal
opened before a restart is still answered after it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import discord

from bot.discord_adapter import animate, follow_ups

if TYPE_CHECKING:
    from bot.discord_adapter.client import VideoBot


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


async def handle_modal_submit(bot: VideoBot, interaction: discord.Interaction[Any]) -> bool:
    """Start the job a modal of ours asks for; False when the modal is not one of ours."""
    data: Mapping[str, Any] = interaction.data or {}
    custom_id = str(data.get("custom_id", ""))
    values = submitted_values(data.get("components"))
    if match := follow_ups.MODAL.match(custom_id):
        await follow_ups.submit_follow_up_modal(bot, interaction, match, values)
        return True
    if match := animate.MODAL.match(custom_id):
        await animate.submit_animate_modal(bot, interaction, match, values)
        return True
    return False
