"""Who may use the bot where: the allow-lists behind the command tree's global check.

Pure functions over what Discord tells about an interaction, so every rule is testable
without a gateway; the tree gathers the facts and turns a refusal into the member's reply.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import discord
from discord import app_commands

from bot.domain import GuildPolicy, OperatorLimits

ADMIN_COMMAND = "video-admin"
# Admins must reach these even where the bot is disabled or limited to other channels/roles.
EXEMPT_FROM_GUILD_POLICY = frozenset({ADMIN_COMMAND})
_SHOWN = 5  # mentions listed in a refusal before "and N more"

OTHER_SERVER = "This bot is not available in this server."
NOT_IN_SERVER = "This bot works only in the servers its operator allows."
ADMIN_ONLY = "Only members with the Manage Server permission can change the video bot's settings."


class AccessDenied(app_commands.CheckFailure):
    """A check refused the interaction; `reason` is written for the member."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Invoker:
    """Who asks, and where, as the interaction tells it."""

    guild_id: int | None
    # The channel, plus its parent: a thread's channel, a channel's category.
    channel_ids: frozenset[int] = field(default_factory=frozenset)
    role_ids: frozenset[int] = field(default_factory=frozenset)
    manages_guild: bool = False


def manages_guild(permissions: discord.Permissions) -> bool:
    """Manage Server, which Administrator implies even if Discord ever sent it alone."""
    return permissions.manage_guild or permissions.administrator


def guild_policy_applies(command: str) -> bool:
    """Whether the guild's own allow-lists govern this top-level command."""
    return command not in EXEMPT_FROM_GUILD_POLICY


def operator_refusal(operator: OperatorLimits, guild_id: int | None) -> str | None:
    """The operator's guild allow-list; it binds every command, admin ones included."""
    if not operator.allowed_guilds:
        return None
    if guild_id is None:
        # A DM belongs to no allowed server, and it could still spend the operator's money.
        return NOT_IN_SERVER
    return None if guild_id in operator.allowed_guilds else OTHER_SERVER


def guild_refusal(policy: GuildPolicy, invoker: Invoker) -> str | None:
    """The guild admins' switches and allow-lists, first failing rule first."""
    if not policy.enabled:
        off = "The video bot is turned off in this server."
        return f"{off} Turn it on with /video-admin enable." if invoker.manages_guild else off
    if policy.channels and not policy.channels & invoker.channel_ids:
        return f"Videos can be made only in {_mentions('#', policy.channels)}."
    if policy.roles and not invoker.manages_guild and not policy.roles & invoker.role_ids:
        return f"You need one of these roles to make videos: {_mentions('@&', policy.roles)}."
    return None


def _mentions(kind: str, ids: Iterable[int]) -> str:
    ordered = sorted(ids)
    shown = ", ".join(f"<{kind}{i}>" for i in ordered[:_SHOWN])
    rest = len(ordered) - _SHOWN
    return f"{shown} and {rest} more" if rest > 0 else shown
