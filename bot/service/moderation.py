"""The prompt check before spending: an OpenAI-compatible `POST {url}/moderations`.

Every request a member makes (and its reference image) is shown to the moderation server after
the free checks and before anything is reserved or sent to a video provider. A flagged prompt
is refused (`PromptFlagged`), unless every category it was flagged in is one the operator puts
behind a spoiler instead (`VIDEO_BOT_MODERATION_SPOILER_ONLY`); a server may turn the check off
or make it strict (`GuildPolicy.moderation`). When the moderation server cannot answer, the
operator's `VIDEO_BOT_MODERATION_FAIL` decides: refuse (`ModerationUnavailable`) or go on
unchecked.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from pydantic import SecretStr

from bot.config import Settings
from bot.domain import ModerationUnavailable, PromptFlagged
from bot.service.side_servers import JsonEndpoint, SideServerError

log = logging.getLogger(__name__)

# A moderation answer is small and quick; a member is waiting for it.
MODERATION_TIMEOUT = 20.0
# A category a server reports flagged without naming one (some compatible servers do).
UNNAMED = "unspecified"


class ModerationError(Exception):
    """The moderation server gave no usable answer (down, an error, a timeout, nonsense);
    `str()` is for the log."""


@dataclass(frozen=True)
class Verdict:
    """What the moderation server said: the categories flagged, in its own names and order."""

    categories: tuple[str, ...] = ()

    @property
    def flagged(self) -> bool:
        return bool(self.categories)


def moderation_input(prompt: str, image: bytes | None) -> list[dict[str, Any]]:
    """The multimodal input: the prompt, and the fitted reference image (always a JPEG) as a
    data URL, so the moderation server fetches nothing."""
    parts: list[dict[str, Any]] = [{"type": "text", "text": prompt}]
    if image is not None:
        encoded = base64.b64encode(image).decode("ascii")
        url = f"data:image/jpeg;base64,{encoded}"
        parts.append({"type": "image_url", "image_url": {"url": url}})
    return parts


def verdict_of(answer: object) -> Verdict:
    """The flagged categories of every result (a server may split the input into several);
    raises ModerationError when the answer is not a moderation answer."""
    results = answer.get("results") if isinstance(answer, Mapping) else None
    if not isinstance(results, list) or not results:
        raise ModerationError("the answer has no results")
    found: dict[str, None] = {}
    for result in results:
        if not isinstance(result, Mapping) or not isinstance(result.get("flagged"), bool):
            raise ModerationError("a result has no `flagged`")
        categories = result.get("categories")
        named = [
            str(name)
            for name, value in (categories.items() if isinstance(categories, Mapping) else ())
            if value is True
        ]
        found.update(dict.fromkeys(named))
        if result["flagged"] and not named:
            found[UNNAMED] = None
    return Verdict(tuple(found))


class ModerationClient:
    """`POST {base_url}/moderations` over a JsonEndpoint (bot/service/side_servers.py): a
    timeout, one quick retry of a refused connection or a 5xx/429, and its own small session
    unless one is passed in."""

    def __init__(
        self,
        base_url: str,
        api_key: SecretStr | None,
        model: str,
        *,
        timeout: float = MODERATION_TIMEOUT,
        connect_timeout: float | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.url = f"{base_url.rstrip('/')}/moderations"
        self.model = model
        self._endpoint = JsonEndpoint(
            self.url, api_key, timeout=timeout, connect_timeout=connect_timeout, session=session
        )

    def __repr__(self) -> str:  # the key never
        return f"ModerationClient(url={self.url!r}, model={self.model!r})"

    async def check(self, prompt: str, image: bytes | None = None) -> Verdict:
        """The verdict on a prompt and its reference image; raises ModerationError."""
        body = {"model": self.model, "input": moderation_input(prompt, image)}
        try:
            answer = await self._endpoint.post(body)
        except SideServerError as exc:
            raise ModerationError(exc.reason) from None
        return verdict_of(answer)

    async def close(self) -> None:
        await self._endpoint.close()


class Moderation:
    """The operator's moderation rules over a client: which verdicts refuse, which put the
    result behind a spoiler, and what happens when the check cannot be made."""

    def __init__(
        self, client: ModerationClient, *, spoiler_only: Collection[str], fail_open: bool
    ) -> None:
        self.client = client
        self.spoiler_only = frozenset(spoiler_only)
        self.fail_open = fail_open
        self._down = False  # in an outage: told once, when it starts and when it ends

    async def screen(self, prompt: str, image: bytes | None, *, mode: str) -> str | None:
        """Check a request under a server's moderation `mode` ("operator", "strict", "off").

        Returns None (clean, unchecked, or the check is off) or the spoiler-only category the
        result goes behind. Raises PromptFlagged when a category refuses it (every category in
        "strict"), ModerationUnavailable when the check failed and the operator fails closed.
        """
        if mode == "off":
            return None
        try:
            verdict = await self.client.check(prompt, image)
        except ModerationError as exc:
            self._outage(str(exc))
            if self.fail_open:
                return None
            raise ModerationUnavailable from None
        if self._down:
            self._down = False
            log.info("the moderation server answers again")
        if not verdict.flagged:
            return None
        spoilers = [self._spoiler_only(c) for c in verdict.categories]
        if mode == "strict" or any(s is None for s in spoilers):
            raise PromptFlagged(verdict.categories)
        return next(s for s in spoilers if s is not None)

    def _spoiler_only(self, category: str) -> str | None:
        """The operator's spoiler-only entry that covers `category` ("violence" covers
        "violence/graphic"), or None."""
        if category in self.spoiler_only:
            return category
        main = category.partition("/")[0]
        return main if main in self.spoiler_only else None

    def _outage(self, reason: str) -> None:
        if self._down:
            log.debug("the moderation server still cannot answer: %s", reason)
            return
        self._down = True
        outcome = "go through unchecked" if self.fail_open else "are refused"
        log.warning(
            "the moderation server %s cannot answer: %s; requests %s until it does",
            self.client.url,
            reason,
            outcome,
        )

    async def close(self) -> None:
        await self.client.close()


def make_moderation(
    settings: Settings, session: aiohttp.ClientSession | None = None
) -> Moderation | None:
    """The check the settings ask for, or None when `VIDEO_BOT_MODERATION_URL` is unset."""
    if settings.moderation_url is None:
        return None
    client = ModerationClient(
        settings.moderation_url,
        settings.moderation_key or settings.openai_api_key,
        settings.moderation_model,
        timeout=min(MODERATION_TIMEOUT, settings.request_timeout),
        connect_timeout=settings.connect_timeout,
        session=session,
    )
    return Moderation(
        client,
        spoiler_only=settings.moderation_spoiler_categories,
        fail_open=settings.moderation_fail == "open",
    )
