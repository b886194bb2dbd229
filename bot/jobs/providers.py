"""The providers the engine reaches: one Videos client each, over the one HTTP session.

Each provider keeps its own connection limit, retry budget and circuit breaker (inside its
client), and says whether it calls back (then its jobs are polled only as a safety net).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from bot.domain import ProviderHealth
from bot.videos import VideosClient


@dataclass(frozen=True)
class ProviderLink:
    """One provider as the workflow uses it."""

    name: str
    client: VideosClient
    dialect: str = "openai"
    calls_back: bool = False


class UnknownProviderError(LookupError):
    """A job names a provider the catalogue no longer has."""


class Providers:
    """Every provider some model of the catalogue uses, by name."""

    def __init__(
        self, links: Mapping[str, ProviderLink], *, wall_clock: Callable[[], float] = time.time
    ) -> None:
        self._links = dict(links)
        self._wall = wall_clock

    @classmethod
    def single(cls, client: VideosClient, name: str = "default") -> Providers:
        """One provider: the whole engine of the tests and tools that need no other."""
        return cls({name: ProviderLink(name, client)})

    def __iter__(self) -> Iterator[ProviderLink]:
        return iter(self._links.values())

    def __contains__(self, name: object) -> bool:
        return name in self._links

    def names(self) -> list[str]:
        return list(self._links)

    def get(self, name: str) -> ProviderLink:
        link = self._links.get(name)
        if link is None:
            raise UnknownProviderError(name)
        return link

    def client(self, name: str) -> VideosClient:
        return self.get(name).client

    def is_down(self, name: str) -> bool:
        """The provider's circuit is open: its creates are refused without being sent."""
        link = self._links.get(name)
        breaker = None if link is None else link.client.breaker
        return breaker is not None and breaker.is_open

    def health(self) -> list[ProviderHealth]:
        """Each provider's state for /healthz and doctor (breaker times as wall-clock)."""
        found = []
        for link in self._links.values():
            breaker = link.client.breaker
            down_until = None
            failures = 0
            if breaker is not None:
                failures = breaker.consecutive_failures
                if breaker.is_open and breaker.opened_until is not None:
                    # The breaker counts on the monotonic clock; shown as a wall-clock time.
                    left = max(0.0, breaker.opened_until - time.monotonic())
                    down_until = self._wall() + left
            found.append(
                ProviderHealth(
                    name=link.name,
                    dialect=link.dialect,
                    base_url=link.client.base_url,
                    down_until=down_until,
                    consecutive_failures=failures,
                    calls_back=link.calls_back,
                )
            )
        return found
