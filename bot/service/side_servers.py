"""An OpenAI-compatible server the service asks beside the video provider: the moderation
server (bot/service/moderation.py) and the prompt helper's chat server
(bot/service/prompt_improver.py).

Both are one `JsonEndpoint`: a small JSON body POSTed with the operator's bearer key, a small
JSON answer read within a size limit, every failure one `SideServerError` whose reason is safe
to log, and one quick retry when the failure is likely to pass. Each caller turns that error
into its own verdict (refuse or go on unchecked; offer the member their own prompt).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import aiohttp
from pydantic import SecretStr

_MAX_ANSWER = 1024 * 1024
# A member is waiting: a refused connection or a 5xx/429 gets one more try at once, not a backoff.
_RETRY_AFTER = 0.25


class SideServerError(Exception):
    """The server gave no usable answer (down, an error status, a timeout, too large, not JSON).

    `reason` is for the log: it never holds the key nor the server's own message.
    `passing`: worth one more try at once (a refused connection, a 5xx, a 429)."""

    def __init__(self, reason: str, *, passing: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.passing = passing


class JsonEndpoint:
    """`POST url` with a JSON body, with a timeout, one quick retry of a passing failure, and
    its own small session (opened on first use, closed by `close`); a session passed in is the
    caller's and is never closed here."""

    def __init__(
        self,
        url: str,
        api_key: SecretStr | None,
        *,
        timeout: float,
        connect_timeout: float | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.url = url
        self._api_key = api_key
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=connect_timeout)
        self._session = session
        self._own_session = session is None

    def __repr__(self) -> str:  # the key never
        return f"JsonEndpoint(url={self.url!r})"

    async def post(self, body: Mapping[str, Any]) -> Any:
        """The decoded JSON answer; raises SideServerError."""
        try:
            return await self._post(body)
        except SideServerError as exc:
            if not exc.passing:
                raise
        await asyncio.sleep(_RETRY_AFTER)
        return await self._post(body)

    async def _post(self, body: Mapping[str, Any]) -> Any:
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
            raise SideServerError("no answer in time") from None
        except aiohttp.ClientConnectionError as exc:
            reason = f"no connection ({type(exc).__name__})"
            raise SideServerError(reason, passing=True) from None
        except aiohttp.ClientError as exc:
            raise SideServerError(f"the request failed ({type(exc).__name__})") from None
        if status >= 400:
            error = _error_code(data)
            message = f"it answered {status}{f' ({error})' if error else ''}"
            raise SideServerError(message, passing=status >= 500 or status == 429)
        if len(data) > _MAX_ANSWER:
            raise SideServerError("the answer is too large")
        try:
            return json.loads(data)
        except ValueError:
            raise SideServerError("the answer is not JSON") from None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=20, ttl_dns_cache=300),
                raise_for_status=False,
            )
            self._own_session = True
        return self._session

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
        self._session = None


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
