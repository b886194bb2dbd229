"""The invite link with exactly the scopes and permissions the bot needs."""

from __future__ import annotations

import base64
import binascii

import discord

SCOPES = ("bot", "applications.commands")


def required_permissions() -> discord.Permissions:
    """Read the channel, post and edit its replies with embeds and video files."""
    return discord.Permissions(
        view_channel=True,
        send_messages=True,
        embed_links=True,
        attach_files=True,
        read_message_history=True,
    )


def application_id_from_token(token: str) -> int | None:
    """A bot token starts with its user id in base64; for bots that is the application id."""
    head = token.split(".", 1)[0]
    try:
        decoded = base64.b64decode(head + "=" * (-len(head) % 4), validate=False).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return int(decoded) if decoded.isdigit() else None


def invite_url(application_id: int) -> str:
    return discord.utils.oauth_url(
        application_id, permissions=required_permissions(), scopes=SCOPES
    )
