"""The invite link with exactly the scopes and permissions the bot needs (no discord import)."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import urlencode

SCOPES = ("bot", "applications.commands")

# Bits of Discord's permission integer the bot uses to post and edit its replies.
PERMISSIONS = {
    "view_channel": 1 << 10,
    "send_messages": 1 << 11,
    "embed_links": 1 << 14,
    "attach_files": 1 << 15,
    "read_message_history": 1 << 16,
}


def permissions_value() -> int:
    return sum(PERMISSIONS.values())


def application_id_from_token(token: str) -> int | None:
    """A bot token starts with its user id in base64; for bots that is the application id."""
    head = token.split(".", 1)[0]
    try:
        decoded = base64.b64decode(head + "=" * (-len(head) % 4), validate=False).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return int(decoded) if decoded.isdigit() else None


def invite_url(application_id: int) -> str:
    query = urlencode(
        {
            "client_id": application_id,
            "scope": " ".join(SCOPES),
            "permissions": permissions_value(),
        }
    )
    return f"https://discord.com/oauth2/authorize?{query}"


def user_install_url(application_id: int) -> str:
    """Adds the app to a member's own account (`VIDEO_BOT_USER_INSTALLS`): commands only, no
    bot user and no permissions (it never joins a server this way)."""
    query = urlencode(
        {"client_id": application_id, "integration_type": 1, "scope": "applications.commands"}
    )
    return f"https://discord.com/oauth2/authorize?{query}"
