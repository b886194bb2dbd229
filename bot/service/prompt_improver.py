"""Improving a prompt before spending: an OpenAI-compatible `POST {url}/chat/completions`.

When a member asks (`/video improve:true`), a chat model rewrites their prompt into a richer one
that keeps its subject, its motion and its language, within the length a prompt may have. The
rewrite is only offered: the façade checks it like any prompt and the member chooses what is
sent. Every way the chat server can fail (down, an error, a timeout, an empty or malformed
answer) is one `PromptHelperUnavailable`, after which the member's own prompt is still theirs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Mapping
from typing import Any

import aiohttp
from pydantic import SecretStr

from bot.config import Settings
from bot.domain import PromptHelperUnavailable

log = logging.getLogger(__name__)

# A member waits for the rewrite (the interaction is deferred; its token lasts 15 minutes).
PROMPT_TIMEOUT = 45.0
_MAX_ANSWER = 1024 * 1024
_RETRY_AFTER = 0.25
# Some models think aloud before they answer (`<think>…</think>`): never part of the prompt.
_THINKING = re.compile(r"^\s*<think>.*?</think>\s*", re.DOTALL)
_FENCE = re.compile(r"^```[^\n]*\n(.*?)\n?```$", re.DOTALL)
_QUOTES = ('"', "'", "“", "”", "«", "»", "「", "」")  # quotes of many languages
# A sentence's end: Latin punctuation before a space, or a full-width one anywhere.
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)|[。！？]")  # noqa: RUF001 - full-width ends

SYSTEM_PROMPT = """\
You improve prompts for a text-to-video model. Rewrite the user's prompt into one richer \
prompt for a single video of about {seconds} seconds.
- Keep its subject, its action and motion, and everything it names exactly; change nothing \
that happens.
- Add concrete visual detail: the setting, the light, the camera's framing and movement, the \
style.
- Write in the same language as the user's prompt.
- Answer with the prompt text only: no title, no quotes, no explanation, no list, no markdown.
- At most {limit} characters."""


def fit(text: str, limit: int) -> str:
    """`text` within `limit` characters: cut after its last whole sentence that fits, else at
    its last space, else where the limit falls."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    ends = [m.end() for m in _SENTENCE_END.finditer(head)]
    if ends and ends[-1] >= limit // 2:
        return head[: ends[-1]].rstrip()
    space = head.rfind(" ")
    return (head[:space] if space >= limit // 2 else head).rstrip()


def plain_prompt(content: str) -> str:
    """The prompt in a chat answer: without thinking, a code fence or surrounding quotes."""
    text = _THINKING.sub("", content).strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1).strip()
    for label in ("Prompt:", "Improved prompt:"):
        if text.lower().startswith(label.lower()):
            text = text[len(label) :].strip()
    if len(text) >= 2 and text[0] in _QUOTES and text[-1] in _QUOTES:
        text = text[1:-1].strip()
    return text


def answer_text(answer: object) -> str:
    """The first choice's message content (a string, or text parts); raises
    PromptHelperUnavailable when the answer is not a chat completion or holds no text."""
    choices = answer.get("choices") if isinstance(answer, Mapping) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        raise PromptHelperUnavailable("the answer has no choices")
    first = choices[0]
    if first.get("finish_reason") == "content_filter":
        raise PromptHelperUnavailable("the chat server filtered its answer")
    message = first.get("message")
    content = message.get("content") if isinstance(message, Mapping) else None
    if isinstance(content, list):  # content parts
        content = "".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, Mapping) and part.get("type") == "text"
        )
    if not isinstance(content, str) or not content.strip():
        raise PromptHelperUnavailable("the answer has no text")
    return content


class PromptImprover:
    """`POST {base_url}/chat/completions` for a rewrite, with a timeout, one quick retry of a
    refused connection or a 5xx/429, and its own small session (opened on first use, closed by
    `close`)."""

    def __init__(
        self,
        base_url: str,
        api_key: SecretStr | None,
        model: str,
        *,
        timeout: float = PROMPT_TIMEOUT,
        connect_timeout: float | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.url = f"{base_url.rstrip('/')}/chat/completions"
        self.model = model
        self._api_key = api_key
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=connect_timeout)
        self._session = session
        self._own_session = session is None
        self._down = False  # in an outage: logged once, when it starts and when it ends

    def __repr__(self) -> str:  # the key never
        return f"PromptImprover(url={self.url!r}, model={self.model!r})"

    async def improve(self, prompt: str, *, seconds: int, limit: int) -> str:
        """A richer prompt of at most `limit` characters; raises PromptHelperUnavailable."""
        body = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT.format(seconds=seconds, limit=limit)},
                {"role": "user", "content": prompt},
            ],
        }
        try:
            try:
                content = await self._post(body)
            except _Passing:
                await asyncio.sleep(_RETRY_AFTER)
                content = await self._post(body)
        except PromptHelperUnavailable as exc:
            self._outage(str(exc))
            raise
        if self._down:
            self._down = False
            log.info("the prompt helper answers again")
        rewrite = fit(plain_prompt(content), limit)
        if not rewrite:
            raise PromptHelperUnavailable("the answer holds no prompt")
        return rewrite

    async def _post(self, body: dict[str, Any]) -> str:
        headers = {"Accept": "application/json"}
        if self._api_key is not None:
            headers["Authorization"] = f"Bearer {self._api_key.get_secret_value()}"
        try:
            async with self._open().post(
                self.url, json=body, headers=headers, timeout=self._timeout
            ) as resp:
                data = await _read_bounded(resp)
                status = resp.status
        except TimeoutError:
            raise PromptHelperUnavailable("no answer in time") from None
        except aiohttp.ClientConnectionError as exc:
            raise _Passing(f"no connection ({type(exc).__name__})") from None
        except aiohttp.ClientError as exc:
            raise PromptHelperUnavailable(f"the request failed ({type(exc).__name__})") from None
        if status >= 400:
            error = _error_code(data)
            message = f"it answered {status}{f' ({error})' if error else ''}"
            if status >= 500 or status == 429:
                raise _Passing(message)
            raise PromptHelperUnavailable(message)
        if len(data) > _MAX_ANSWER:
            raise PromptHelperUnavailable("the answer is too large")
        try:
            answer = json.loads(data)
        except ValueError:
            raise PromptHelperUnavailable("the answer is not JSON") from None
        return answer_text(answer)

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=20, ttl_dns_cache=300),
                raise_for_status=False,
            )
            self._own_session = True
        return self._session

    def _outage(self, reason: str) -> None:
        if self._down:
            log.debug("the prompt helper still cannot answer: %s", reason)
            return
        self._down = True
        log.warning(
            "the prompt helper %s cannot answer: %s; members are offered their own prompt",
            self.url,
            reason,
        )

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
        self._session = None


class _Passing(PromptHelperUnavailable):
    """A failure worth one more try at once: a refused connection, a 5xx, a 429."""


async def _read_bounded(resp: aiohttp.ClientResponse) -> bytes:
    """The body, or its first bytes past _MAX_ANSWER (then refused as too large)."""
    data = bytearray()
    async for chunk in resp.content.iter_chunked(64 * 1024):
        data.extend(chunk)
        if len(data) > _MAX_ANSWER:
            break
    return bytes(data)


def _error_code(data: bytes) -> str:
    """The error's code or type from an OpenAI error envelope; never its message, which may
    quote the key it was sent."""
    try:
        error = json.loads(data).get("error")
    except (ValueError, AttributeError):
        return ""
    if not isinstance(error, Mapping):
        return ""
    found = error.get("code") or error.get("type")
    return str(found)[:60] if isinstance(found, (str, int)) else ""


def make_prompt_improver(
    settings: Settings, session: aiohttp.ClientSession | None = None
) -> PromptImprover | None:
    """The helper the settings ask for, or None when `VIDEO_BOT_PROMPT_URL` (or its model) is
    unset: `/video` then has no `improve` option."""
    if settings.prompt_url is None or settings.prompt_model is None:
        return None
    return PromptImprover(
        settings.prompt_url,
        settings.prompt_key,
        settings.prompt_model,
        timeout=min(PROMPT_TIMEOUT, settings.request_timeout),
        connect_timeout=settings.connect_timeout,
        session=session,
    )
