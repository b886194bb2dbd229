"""The service's access refusals as Discord shows them, and the commands they do not bind.

The rules themselves are the engine's (bot/guardrails/access.py, applied by the service to
every way in); here a refusal becomes a sentence with channel and role mentions.
"""

from __future__ import annotations

from collections.abc import Iterable

from discord import app_commands

from bot.domain import NotAllowed, Refusal
from bot.i18n import N_, _, ngettext

ADMIN_COMMAND = "video-admin"
# Admins must reach these even where the bot is disabled or limited to other channels/roles.
EXEMPT_FROM_GUILD_POLICY = frozenset({ADMIN_COMMAND})
_SHOWN = 5  # mentions listed in a refusal before "and N more"

# A message (N_): `_(ADMIN_ONLY)` where a member is refused.
# TRANSLATORS: "Manage Server" is the name of Discord's permission, as Discord shows it.
ADMIN_ONLY = N_(
    "Only members with the Manage Server permission can change the video bot's settings."
)


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
        # TRANSLATORS: {refusal} says the bot is off in this server; {command} is a command.
        return _(
            "{refusal} Turn it on with /{command} enable.",
            refusal=str(refusal),
            command=ADMIN_COMMAND,
        )
    if refusal.refusal is Refusal.CHANNEL:
        # TRANSLATORS: {channels} is a list of channels.
        return _(
            "Videos can be made only in {channels}.",
            channels=_mentions("#", refusal.channels),
        )
    if refusal.refusal is Refusal.ROLE:
        # TRANSLATORS: {roles} is a list of roles.
        return _(
            "You need one of these roles to make videos: {roles}.",
            roles=_mentions("@&", refusal.roles),
        )
    return str(refusal)


def _mentions(kind: str, ids: Iterable[int]) -> str:
    ordered = sorted(ids)
    shown = ", ".join(f"<{kind}{i}>" for i in ordered[:_SHOWN])
    rest = len(ordered) - _SHOWN
    if rest <= 0:
        return shown
    # TRANSLATORS: the end of a list cut short: {shown} lists a few channels or roles.
    return ngettext("{shown} and {n} more", "{shown} and {n} more", rest, shown=shown)
