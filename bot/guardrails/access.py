"""Who may make videos where: the operator's server allow-list and a server's own switches.

Pure functions over what the requester's front end knows (bot.domain.Requester), used by the
service for every way in: a command, a button, a modal, a context menu, an API key. A refusal
is data (bot.domain.NotAllowed); each front end words it.
"""

from __future__ import annotations

from bot.domain import GuildPolicy, NotAllowed, OperatorLimits, Refusal, Requester


def operator_refusal(operator: OperatorLimits, guild_id: int | None) -> NotAllowed | None:
    """The operator's guild allow-list; it binds everything, a server's admins included."""
    if not operator.allowed_guilds:
        return None
    if guild_id is None:
        # A DM belongs to no allowed server, and it could still spend the operator's money.
        return NotAllowed(Refusal.NOT_IN_SERVER)
    return None if guild_id in operator.allowed_guilds else NotAllowed(Refusal.OTHER_SERVER)


def guild_refusal(policy: GuildPolicy, requester: Requester) -> NotAllowed | None:
    """The server admins' switch and allow-lists, first failing rule first.

    Members with Manage Server pass the role list (they set it) but not the others. An API
    key's member holds no roles: a server that limits videos to roles refuses its keys too.

    Age-restricted channels only: the place decides, for admins too. A requester is in one
    only when its front end knows so (Discord says it of the interaction's channel, a thread
    of its parent's); an API key's channels count as not age-restricted unless its front end
    says otherwise, so such a server refuses its keys rather than guess.
    """
    if not policy.enabled:
        return NotAllowed(Refusal.TURNED_OFF, can_enable=requester.manages_guild)
    if policy.channels and not policy.channels & requester.channel_ids:
        return NotAllowed(Refusal.CHANNEL, channels=policy.channels)
    if policy.age_restricted_only and not requester.age_restricted:
        return NotAllowed(Refusal.AGE_RESTRICTED)
    if policy.roles and not requester.manages_guild and not policy.roles & requester.role_ids:
        return NotAllowed(Refusal.ROLE, roles=policy.roles)
    return None
