"""Improving a prompt before spending: an OpenAI-compatible `POST {url}/chat/completions`.

When a member asks (`/video improve:true`), a chat model rewrites their prompt into a richer one
that keeps its subject, its motion and its language, within the length a prompt may have. The
rewrite is only offered: the façade checks it like any prompt and the member chooses what is
sent. Every way the chat server can fail (down, an error, a timeout, an empty or malformed
answer) is one `PromptHelperUnavailable`, after which the member's own prompt is still theirs.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

import aiohttp
from pydantic import SecretStr

from bot.config import Settings
from bot.domain import PromptHelperUnavailable
from bot.service.side_servers import JsonEndpoint, SideServerError

log = logging.getLogger(__name__)

# A member waits for the rewrite (the interaction is deferred; its token lasts 15 minutes).
PROMPT_TIMEOUT = 45.0
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
    """`POST {base_url}/chat/completions` for a rewrite over a JsonEndpoint
    (bot/service/side_servers.py): a timeout, one quick retry of a refused connection or a
    5xx/429, and its own small session unless one is passed in."""

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
        self._endpoint = JsonEndpoint(
            self.url, api_key, timeout=timeout, connect_timeout=connect_timeout, session=session
        )
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
                answer = await self._endpoint.post(body)
            except SideServerError as exc:
                raise PromptHelperUnavailable(exc.reason) from None
            content = answer_text(answer)
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
        await self._endpoint.close()


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
