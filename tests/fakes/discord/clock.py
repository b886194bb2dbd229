"""The fake's controllable clock and snowflake ids."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Iterator
from unittest import mock

DISCORD_EPOCH_MS = 1_420_070_400_000


class FakeClock:
    """Real time plus an offset that only grows (``advance``).

    ``now()`` (monotonic seconds) drives every timing rule (3 s to acknowledge, 15 min token
    life, rate-limit windows); ``wall()`` / ``utcnow()`` are the same instant as Unix time and
    aware UTC datetime, used for snowflakes and timestamps.
    """

    def __init__(self) -> None:
        self._offset = 0.0

    @property
    def offset(self) -> float:
        return self._offset

    def now(self) -> float:
        return time.monotonic() + self._offset

    def wall(self) -> float:
        return time.time() + self._offset

    def utcnow(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.wall(), dt.UTC)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the fake clock cannot go back")
        self._offset += seconds

    def iso(self) -> str:
        """Discord's timestamp format, e.g. ``2026-01-01T00:00:00.000000+00:00``."""
        return self.utcnow().isoformat(timespec="microseconds")

    @contextlib.contextmanager
    def patch_discord_utcnow(self) -> Iterator[None]:
        """Make ``discord.utils.utcnow`` follow this clock (a time seam).

        discord.py decides ``Interaction.is_expired()`` (and ``expires_at`` comparisons in
        user code) with ``discord.utils.utcnow()`` against the interaction id's snowflake
        time; inside this context both come from the fake clock, so ``advance(900)`` makes
        the interaction expired for the bot too.
        """
        import discord.utils

        with mock.patch.object(discord.utils, "utcnow", self.utcnow):
            yield


class Snowflakes:
    """Unique, increasing snowflakes whose timestamp is the fake clock's wall time."""

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self._increment = 0
        self._last = 0
        self._issued: set[int] = set()

    def next(self) -> int:
        ms = int(self._clock.wall() * 1000) - DISCORD_EPOCH_MS
        value = (ms << 22) | (1 << 17) | (self._increment & 0xFFF)
        self._increment += 1
        value = max(value, self._last + 1)
        while value in self._issued:
            value += 1
        self._last = value
        self._issued.add(value)
        return value

    def on_shard(self, shard_id: int, num_shards: int) -> int:
        """A unique snowflake (a guild id) on shard ``shard_id`` of ``num_shards``: its
        timestamp is the latest millisecond up to now with ``ms % num_shards == shard_id``."""
        if not 0 <= shard_id < num_shards:
            raise ValueError(f"shard {shard_id} does not exist among {num_shards}")
        now = int(self._clock.wall() * 1000) - DISCORD_EPOCH_MS
        ms = now - (now - shard_id) % num_shards
        value = (ms << 22) | (1 << 17) | (self._increment & 0xFFF)
        self._increment += 1
        while value in self._issued:
            value += 1
        self._issued.add(value)
        return value

    def at(self, wall: float) -> int:
        """A unique snowflake whose timestamp is ``wall`` (Unix seconds), e.g. in the past.

        Not ordered after the ones ``next()`` gave: for an event that happened before the
        fake reports it (``FakeDiscord.submit_modal(at_age=...)``).
        """
        ms = int(wall * 1000) - DISCORD_EPOCH_MS
        value = (ms << 22) | (1 << 17) | (self._increment & 0xFFF)
        self._increment += 1
        while value in self._issued:
            value += 1
        self._issued.add(value)
        return value


def snowflake_time(snowflake: int) -> float:
    """Unix seconds encoded in a snowflake."""
    return ((snowflake >> 22) + DISCORD_EPOCH_MS) / 1000
