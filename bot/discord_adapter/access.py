"""The service's access refusals as Discord shows them, and the commands they do not bind.

The rules themselves are the engine's (bot/guardrails/access.py, applied by the service to
every way in); here a refusal becomes a sentence with channel and role mentions.
"""

from __future__ import annotations

from collections.abc import Iterable

from discord import app_commands

from bot.domain import NotAllowed, Refusal

ADMIN_COMMAND = "video-admin"
# Admins must reach these even where the bot is disabled or limited to other channels/roles.
EXEMPT_FROM_GUILD_POLICY = frozenset({ADMIN_COMMAND})
_SHOWN = 5  # mentions listed in a refusal before "and N more"

ADMIN_ONLY = "Only members with the Manage Server permission can change the video bot's settings."


class AccessDenied(app_commands.CheckFailure):
    """A check refused the interaction; `reason` is written for the member."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def guild_policy_applies(command: str) -> bool:
    """Whether the guild's own allow-lists govern this top-level command."""
    return command not in EXEMPT_FROM_GUILD_POLICY


def refusal_text(refusal: NotAllowed) -> str:
    """A refusal of the operator's or the server's rules, for the member."""
    if refusal.refusal is Refusal.TURNED_OFF and refusal.can_enable:
        return f"{refusal} Turn it on with /{ADMIN_COMMAND} enable."
    if refusal.refusal is Refusal.CHANNEL:
        return f"Videos can be made only in {_mentions('#', refusal.channels)}."
    if refusal.refusal is Refusal.ROLE:
        return f"You need one of these roles to make videos: {_mentions('@&', refusal.roles)}."
    return str(refusal)


def _mentions(kind: str, ids: Iterable[int]) -> str:
    ordered = sorted(ids)
    shown = ", ".join(f"<{kind}{i}>" for i in ordered[:_SHOWN])
    rest = len(ordered) - _SHOWN
    return f"{shown} and {rest} more" if rest > 0 else shown
