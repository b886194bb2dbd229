"""The invite link asks for exactly what the bot uses."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import discord

from bot.terminal.invite import application_id_from_token, invite_url, permissions_value


def test_permissions_match_discords_own_flags() -> None:
    expected = discord.Permissions(
        view_channel=True,
        send_messages=True,
        embed_links=True,
        attach_files=True,
        read_message_history=True,
    )
    assert permissions_value() == expected.value == 117760


def test_invite_url_has_both_scopes() -> None:
    query = parse_qs(urlsplit(invite_url(1234)).query)
    assert query == {
        "client_id": ["1234"],
        "scope": ["bot applications.commands"],
        "permissions": ["117760"],
    }


def test_application_id_from_a_token_shaped_string() -> None:
    head = base64.b64encode(b"987654321098765432").decode().rstrip("=")
    assert application_id_from_token(f"{head}.Gxxxx.yyyy") == 987654321098765432
    assert application_id_from_token("garbage") is None
