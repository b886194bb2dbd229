"""Spend limits, checked and reserved atomically before anything reaches the provider."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import TypeVar

from bot.catalogue import RequestRejected
from bot.guardrails.policy import EffectiveLimits, GuildPolicy, OperatorLimits, effective_limits
from bot.jobs.request import VideoRequest
from bot.store.guilds import GuildStore
from bot.store.usage import UsageStore

_T = TypeVar("_T")


class LimitReached(RequestRejected):
    """A request would exceed a limit; the message says which, what is used, when it resets."""


def day_bounds(now: float) -> tuple[float, float]:
    """Start of today and of tomorrow, UTC, as Unix seconds (limits reset at midnight UTC)."""
    today = datetime.datetime.fromtimestamp(now, tz=datetime.UTC).date()
    start = datetime.datetime.combine(today, datetime.time(), tzinfo=datetime.UTC)
    return start.timestamp(), (start + datetime.timedelta(days=1)).timestamp()


def _money(amount: Decimal) -> str:
    return f"${amount:.2f}"


class SpendGate:
    """Checks every limit and reserves the cost in one step, so two requests racing for the last
    unit of budget cannot both pass (reserving = storing the accepted job)."""

    def __init__(
        self,
        usage: UsageStore,
        guilds: GuildStore,
        operator: OperatorLimits,
        clock: Callable[[], float],
    ) -> None:
        self._usage = usage
        self._guilds = guilds
        self._operator = operator
        self._clock = clock
        self._lock = asyncio.Lock()

    async def policy(self, guild_id: int | None) -> GuildPolicy:
        return GuildPolicy() if guild_id is None else await self._guilds.get(guild_id)

    async def limits(self, guild_id: int | None) -> EffectiveLimits:
        return effective_limits(await self.policy(guild_id), self._operator)

    async def admit(self, request: VideoRequest, reserve: Callable[[], Awaitable[_T]]) -> _T:
        """Raise LimitReached, or run `reserve` while no other admission can interleave."""
        limits = await self.limits(request.requester.guild_id)
        if all(
            value is None
            for value in (
                limits.user_daily_count,
                limits.user_daily_budget,
                limits.guild_daily_budget,
                limits.daily_budget,
            )
        ):
            return await reserve()  # nothing to race for: no need to queue behind the lock
        async with self._lock:
            await self._check(request)
            return await reserve()

    async def _check(self, request: VideoRequest) -> None:
        now = self._clock()
        since, resets = day_bounds(now)
        when = f"<t:{int(resets)}:R>"
        limits = await self.limits(request.requester.guild_id)
        cost = request.estimated_cost
        user = request.requester.user_id
        if limits.user_daily_count is not None:
            mine = await self._usage.usage(since=since, user_id=user)
            if mine.videos + 1 > limits.user_daily_count:
                raise LimitReached(
                    f"You have made {mine.videos} of your {limits.user_daily_count} videos for "
                    f"today. Your limit resets {when}."
                )
        if limits.user_daily_budget is not None:
            mine = await self._usage.usage(since=since, user_id=user)
            if mine.cost + cost > limits.user_daily_budget:
                raise LimitReached(
                    f"This video would cost {_money(cost)}; you have used {_money(mine.cost)} of "
                    f"your {_money(limits.user_daily_budget)} daily budget. It resets {when}."
                )
        guild = request.requester.guild_id
        if limits.guild_daily_budget is not None and guild is not None:
            theirs = await self._usage.usage(since=since, guild_id=guild)
            if theirs.cost + cost > limits.guild_daily_budget:
                raise LimitReached(
                    f"This video would cost {_money(cost)}; this server has used "
                    f"{_money(theirs.cost)} of its {_money(limits.guild_daily_budget)} daily "
                    f"budget. It resets {when}."
                )
        if limits.daily_budget is not None:
            everyone = await self._usage.usage(since=since)
            if everyone.cost + cost > limits.daily_budget:
                raise LimitReached(
                    f"The bot's daily budget is used up ({_money(everyone.cost)} of "
                    f"{_money(limits.daily_budget)}). It resets {when}."
                )
