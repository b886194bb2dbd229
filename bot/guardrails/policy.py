"""The rules one guild runs under: admin settings over the operator's defaults."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal
from typing import Any, TypeVar

from bot.catalogue import RequestRejected
from bot.jobs.request import VideoRequest


@dataclass(frozen=True)
class GuildPolicy:
    """What a guild's admins set; None or empty means "no restriction" / "operator default"."""

    enabled: bool = True
    channels: frozenset[int] = field(default_factory=frozenset)  # empty: every channel
    roles: frozenset[int] = field(default_factory=frozenset)  # empty: every member
    models: frozenset[str] = field(default_factory=frozenset)  # empty: the whole catalogue
    max_seconds: int | None = None
    user_daily_count: int | None = None
    user_daily_budget: Decimal | None = None
    guild_daily_budget: Decimal | None = None

    def evolve(self, **changes: Any) -> GuildPolicy:
        return replace(self, **changes)

    def to_json(self) -> str:
        data = asdict(self)
        for key in ("channels", "roles", "models"):
            data[key] = sorted(data[key])
        for key in ("user_daily_budget", "guild_daily_budget"):
            data[key] = None if data[key] is None else str(data[key])
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> GuildPolicy:
        data = json.loads(text)
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("channels", "roles"):
            known[key] = frozenset(int(v) for v in known.get(key, []))
        known["models"] = frozenset(str(v) for v in known.get("models", []))
        for key in ("user_daily_budget", "guild_daily_budget"):
            if known.get(key) is not None:
                known[key] = Decimal(known[key])
        return cls(**known)


@dataclass(frozen=True)
class OperatorLimits:
    """Operator-wide rules from configuration; guild settings can only tighten them."""

    allowed_guilds: frozenset[int] = field(default_factory=frozenset)  # empty: any guild
    user_daily_count: int | None = None
    user_daily_budget: Decimal | None = None
    guild_daily_budget: Decimal | None = None
    daily_budget: Decimal | None = None  # across every guild
    max_running: int = 50  # jobs at the provider at once
    max_per_user: int = 2  # one member's jobs in flight (running or queued beyond: wait)


@dataclass(frozen=True)
class EffectiveLimits:
    """The limits that apply to one request: the tighter of guild and operator."""

    user_daily_count: int | None
    user_daily_budget: Decimal | None
    guild_daily_budget: Decimal | None
    daily_budget: Decimal | None


_Limit = TypeVar("_Limit", int, Decimal)


def _tighter(a: _Limit | None, b: _Limit | None) -> _Limit | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def effective_limits(policy: GuildPolicy, operator: OperatorLimits) -> EffectiveLimits:
    return EffectiveLimits(
        user_daily_count=_tighter(policy.user_daily_count, operator.user_daily_count),
        user_daily_budget=_tighter(policy.user_daily_budget, operator.user_daily_budget),
        guild_daily_budget=_tighter(policy.guild_daily_budget, operator.guild_daily_budget),
        daily_budget=operator.daily_budget,
    )


def check_guild_policy(policy: GuildPolicy, request: VideoRequest) -> None:
    """Raise RequestRejected when the guild's admins do not allow this model or duration."""
    if policy.models and request.model not in policy.models:
        allowed = ", ".join(sorted(policy.models))
        raise RequestRejected(f"This server allows only these models: {allowed}.")
    if policy.max_seconds is not None and request.seconds > policy.max_seconds:
        raise RequestRejected(f"This server allows videos of up to {policy.max_seconds} s.")
