"""Admission: the backlog bounds and the spend limits, checked and reserved in one step."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from bot import i18n
from bot.domain import (
    EffectiveLimits,
    GuildPolicy,
    Limit,
    LimitReached,
    OperatorLimits,
    VideoRequest,
    day_bounds,
    effective_limits,
)
from bot.guardrails.queue import JobQueue
from bot.i18n import _, ngettext
from bot.store.guilds import GuildStore
from bot.store.leases import LeaseStore
from bot.store.usage import UsageStore

_T = TypeVar("_T")


def _money(amount: Decimal) -> str:
    """An amount in the reader's format ("$0.40", "0,40 $")."""
    return i18n.money(amount)


def _key_budget(request: VideoRequest) -> Decimal | None:
    key = request.requester.key
    return None if key is None else key.daily_budget


class SpendGate:
    """Checks every limit and reserves the cost in one step, so two requests racing for the last
    unit of budget cannot both pass (reserving = storing the accepted job).

    Every budget lives here, an API key's own daily budget included: a check made anywhere
    else could pass two requests that the budget covers only one of.
    """

    def __init__(
        self,
        usage: UsageStore,
        guilds: GuildStore,
        operator: OperatorLimits,
        queue: JobQueue,
        clock: Callable[[], float],
        *,
        shared: LeaseStore | None = None,
    ) -> None:
        self._usage = usage
        self._guilds = guilds
        self._operator = operator
        self._queue = queue
        self._clock = clock
        self._lock = asyncio.Lock()
        # Jobs shared by several processes: the check and the reservation are one transaction
        # under PostgreSQL's admission lock instead of this process's asyncio lock.
        self._shared = shared
        self._member_locks: dict[int, asyncio.Lock] = {}
        self._member_users: Counter[int] = Counter()

    async def policy(self, guild_id: int | None) -> GuildPolicy:
        return GuildPolicy() if guild_id is None else await self._guilds.get(guild_id)

    async def limits(self, guild_id: int | None) -> EffectiveLimits:
        return effective_limits(await self.policy(guild_id), self._operator)

    def check_backlog(self, user_id: int) -> None:
        """Refuse at once when the queue is full: a request that would wait for hours helps
        nobody, and an unbounded queue is how a bot falls over."""
        self._check_counts(len(self._queue), self._queue.waiting_for(user_id))

    def _check_counts(self, everyone: int, mine: int) -> None:
        if everyone >= self._operator.max_queued:
            raise LimitReached(
                ngettext(
                    "The bot's queue is full ({n} video waiting). Try again in a little while.",
                    "The bot's queue is full ({n} videos waiting). Try again in a little while.",
                    self._operator.max_queued,
                ),
                limit=Limit.QUEUE,
            )
        if mine >= self._operator.max_queued_per_user:
            # The English reads "videos" for one too (what members have always been told).
            raise LimitReached(
                ngettext(
                    "You already have {n} videos waiting in the queue. Wait for one of them to "
                    "start, then ask again.",
                    "You already have {n} videos waiting in the queue. Wait for one of them to "
                    "start, then ask again.",
                    self._operator.max_queued_per_user,
                ),
                limit=Limit.QUEUE,
            )

    async def _check_shared_backlog(self, user_id: int, conn: AsyncConnection) -> None:
        """The backlog bounds counted over every process's queue."""
        assert self._shared is not None  # noqa: S101 - called on the shared path only
        everyone, mine = await self._shared.queued(conn, user_id=user_id)
        self._check_counts(everyone, mine)

    async def _admit_shared(
        self,
        request: VideoRequest,
        reserve: Callable[[AsyncConnection | None], Awaitable[_T]],
        shared: LeaseStore,
    ) -> _T:
        """Several processes: the checks and the reservation in one transaction."""
        user = request.requester.user_id
        limits = await self.limits(request.requester.guild_id)
        if not limits.any and _key_budget(request) is None:
            # No money to race for: admissions run side by side, one at a time per member in
            # this process (the member's backlog bound is a count). A member asking through
            # two processes at the same instant may get one job more than the bound waiting.
            async with self._member_lock(user), shared.open_transaction() as conn:
                await self._check_shared_backlog(user, conn)
                return await reserve(conn)
        # One admission of this process at a time waits for the database's lock: a burst
        # queued on it would otherwise hold every pooled connection while it waits, and every
        # other read (the guild rules the acknowledgement needs) behind them.
        async with self._lock, shared.admission() as conn:
            await self._check_shared_backlog(user, conn)
            await self._check(request, limits, conn)
            return await reserve(conn)

    @contextlib.asynccontextmanager
    async def _member_lock(self, user_id: int) -> AsyncIterator[None]:
        """One admission at a time per member; the lock lives while anyone uses it."""
        lock = self._member_locks.setdefault(user_id, asyncio.Lock())
        self._member_users[user_id] += 1
        try:
            async with lock:
                yield
        finally:
            self._member_users[user_id] -= 1
            if not self._member_users[user_id]:
                del self._member_users[user_id]
                self._member_locks.pop(user_id, None)

    async def admit(
        self,
        request: VideoRequest,
        reserve: Callable[[AsyncConnection | None], Awaitable[_T]],
        *,
        bounded: bool = True,
    ) -> _T:
        """Raise LimitReached, or run `reserve` while no other admission can interleave.

        `reserve` gets the admission's transaction to store the job in (None: its own).
        `bounded=False` skips the limits (the operator's own terminal).
        """
        if not bounded:
            return await reserve(None)
        if self._shared is not None:
            return await self._admit_shared(request, reserve, self._shared)
        self.check_backlog(request.requester.user_id)
        limits = await self.limits(request.requester.guild_id)
        if not limits.any and _key_budget(request) is None:
            return await reserve(None)  # nothing to race for: no need to queue behind the lock
        async with self._lock:
            await self._check(request, limits)
            return await reserve(None)

    async def readmit(
        self,
        request: VideoRequest,
        replacing: Decimal,
        reserve: Callable[[AsyncConnection | None], Awaitable[_T]],
    ) -> _T:
        """A job moving to its next model (a fallback): its own new reservation, checked
        against every budget in one step, in place of the `replacing` one it had (which is
        given back: that attempt never started, or the provider failed it). The job already
        counts as one video and holds its place in the queue."""
        limits = await self.limits(request.requester.guild_id)
        if not limits.any and _key_budget(request) is None:
            return await reserve(None)
        if self._shared is not None:
            async with self._lock, self._shared.admission() as conn:
                await self._check(request, limits, conn, replacing=replacing)
                return await reserve(conn)
        async with self._lock:
            await self._check(request, limits, replacing=replacing)
            return await reserve(None)

    async def _check(
        self,
        request: VideoRequest,
        limits: EffectiveLimits,
        conn: AsyncConnection | None = None,
        *,
        replacing: Decimal | None = None,
    ) -> None:
        since, resets = day_bounds(self._clock())
        cost = request.estimated_cost - (replacing or Decimal(0))
        new_videos = 0 if replacing is not None else 1
        user = request.requester.user_id
        if limits.user_daily_count is not None:
            mine = await self._usage.usage(since=since, user_id=user, conn=conn)
            if mine.videos + new_videos > limits.user_daily_count:
                # TRANSLATORS: {made} videos made today, of the member's daily limit of {n}.
                raise LimitReached(
                    ngettext(
                        "You have made {made} of your {n} videos for today.",
                        "You have made {made} of your {n} videos for today.",
                        limits.user_daily_count,
                        made=i18n.number(mine.videos),
                    ),
                    resets,
                    limit=Limit.MEMBER_COUNT,
                )
        if limits.user_daily_budget is not None:
            mine = await self._usage.usage(since=since, user_id=user, conn=conn)
            if mine.cost + cost > limits.user_daily_budget:
                raise LimitReached(
                    _(
                        "This video would cost {cost}; you have used {used} of your {budget} "
                        "daily budget.",
                        cost=_money(cost),
                        used=_money(mine.cost),
                        budget=_money(limits.user_daily_budget),
                    ),
                    resets,
                    limit=Limit.MEMBER_BUDGET,
                )
        key = request.requester.key
        if key is not None and key.daily_budget is not None:
            # The key's own member id: its usage is the key's alone.
            used = await self._usage.usage(since=since, user_id=key.member_id, conn=conn)
            if used.cost + cost > key.daily_budget:
                raise LimitReached(
                    # TRANSLATORS: {key} is the name of a team API key.
                    _(
                        "Key {key} has used {used} of its {budget} daily budget; this video "
                        "would cost {cost}.",
                        key=key.name,
                        used=_money(used.cost),
                        budget=_money(key.daily_budget),
                        cost=_money(cost),
                    ),
                    resets,
                    limit=Limit.KEY_BUDGET,
                )
        guild = request.requester.guild_id
        if limits.guild_daily_budget is not None and guild is not None:
            theirs = await self._usage.usage(since=since, guild_id=guild, conn=conn)
            if theirs.cost + cost > limits.guild_daily_budget:
                raise LimitReached(
                    _(
                        "This video would cost {cost}; this server has used {used} of its "
                        "{budget} daily budget.",
                        cost=_money(cost),
                        used=_money(theirs.cost),
                        budget=_money(limits.guild_daily_budget),
                    ),
                    resets,
                    limit=Limit.GUILD_BUDGET,
                )
        if limits.daily_budget is not None:
            everyone = await self._usage.usage(since=since, conn=conn)
            if everyone.cost + cost > limits.daily_budget:
                raise LimitReached(
                    _(
                        "The bot's daily budget is used up ({used} of {budget}).",
                        used=_money(everyone.cost),
                        budget=_money(limits.daily_budget),
                    ),
                    resets,
                    limit=Limit.DAILY_BUDGET,
                )
