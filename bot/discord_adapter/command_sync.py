"""Publish slash commands on purpose: on request, or when their definitions changed."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import discord
from discord import app_commands

log = logging.getLogger(__name__)

STATE_FILE = "command-sync.json"


async def definitions_hash(tree: app_commands.CommandTree[Any]) -> str:
    """A digest of what a sync would publish, translations included: a catalogue that changes
    a description's German text is a change worth syncing."""
    translator = tree.translator
    commands = tree.get_commands()
    if translator is None:
        payload = [command.to_dict(tree) for command in commands]
    else:
        payload = [await command.get_translated_payload(tree, translator) for command in commands]
    payload.sort(key=lambda c: str(c["name"]))
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _read_state(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


async def sync_commands(
    tree: app_commands.CommandTree[Any], data_dir: Path, guild_id: int | None = None
) -> int:
    """Sync to Discord now (one guild, or globally) and remember what was published."""
    guild = discord.Object(id=guild_id) if guild_id else None
    if guild is not None:
        tree.copy_global_to(guild=guild)
    synced = await tree.sync(guild=guild)
    if guild is None:
        _write_state(data_dir, await definitions_hash(tree), tree.client.application_id)
    return len(synced)


def _write_state(data_dir: Path, digest: str, application_id: int | None) -> None:
    # A few bytes, once per sync: not worth a thread.
    data_dir.mkdir(parents=True, exist_ok=True)
    state = {"hash": digest, "application_id": application_id}
    (data_dir / STATE_FILE).write_text(json.dumps(state), encoding="utf-8")


async def sync_if_changed(tree: app_commands.CommandTree[Any], data_dir: Path) -> bool:
    """Sync globally only when the command definitions differ from the last sync."""
    state = _read_state(data_dir / STATE_FILE)
    current = await definitions_hash(tree)
    if state.get("hash") == current and state.get("application_id") == tree.client.application_id:
        log.info("slash commands unchanged since the last sync")
        return False
    count = await sync_commands(tree, data_dir)
    log.info("synced %d slash command(s) because their definitions changed", count)
    return True
