"""Outgoing webhooks: `video.completed` / `video.failed` events, signed by Standard Webhooks.

An API key may have webhook endpoints, URLs that hear about its videos. Each event is POSTed
as JSON in OpenAI's webhook event shape and signed with the `standardwebhooks` scheme
(`webhook-id`, `webhook-timestamp`, `webhook-signature` headers; a `whsec_...` secret), so
receivers can check it with the `standardwebhooks` package or the OpenAI SDK's
`client.webhooks.unwrap`. An endpoint whose old secret is kept for a while after a rotation
gets one signature by each secret in the header; a receiver accepts either.

Delivery is at-least-once: a 2xx answer is delivered; anything else, a timeout or a network
error is retried after the backoff delays, always with the same `webhook-id` (the event id, for
the receiver to deduplicate) and a fresh timestamp and signature. Redirects are not followed.

The URL is chosen by a team, not the operator, so it must not reach the bot's own network
(SSRF): unless `allow_private`, a host that is or resolves to a loopback, private, link-local,
multicast, reserved or unspecified address is refused, when an endpoint is made or changed
(`refusal`) and again on every try. The request then goes to the address that was checked (the
`Host` header and TLS name stay the URL's), so a second DNS answer cannot slip in another one.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import json
import logging
import socket
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import aiohttp
from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook
from yarl import URL

from bot.background import spawn

log = logging.getLogger(__name__)

EventKind = Literal["video.completed", "video.failed"]
DEFAULT_BACKOFF: tuple[float, ...] = (1, 5, 30, 120, 600)

_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class _RefusedError(Exception):
    """The URL may not be called; the message says why (without the URL's path or query)."""


class DeliveryError(Exception):
    """A test event got no answer: the message says why (without the URL's path or query)."""


def event_payload(kind: EventKind, video_id: str, *, created_at: int) -> dict[str, Any]:
    """An event in OpenAI's webhook shape. Its `evt_...` id is derived from the video and the
    event: should two processes both announce one job's end (a stop racing its completion),
    the receiver sees the same `webhook-id` twice and drops the second."""
    digest = hashlib.sha256(f"{kind}:{video_id}".encode()).hexdigest()[:32]
    return {
        "id": f"evt_{digest}",
        "object": "event",
        "type": kind,
        "created_at": created_at,
        "data": {"id": video_id},
    }


def forbidden_address(ip: _IPAddress) -> str | None:
    """Why a webhook may not go to `ip` (e.g. "loopback"), or None for a public address.

    IPv4 addresses embedded in IPv6 ones (IPv4-mapped, 6to4, NAT64) are judged as IPv4.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        embedded: ipaddress.IPv4Address | None = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return forbidden_address(embedded)
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
        ("not global", not ip.is_global),
    )
    for reason, hit in checks:
        if hit:
            return reason
    return None


def _origin(url: URL) -> str:
    """scheme://host[:port] of a URL: what a log line may show of it."""
    return f"{url.scheme}://{url.host_port_subcomponent}"


def _parse(url: str) -> URL | None:
    """The URL, when it is an http(s) URL naming a host."""
    try:
        parsed = URL(url)
    except ValueError:
        return None
    if parsed.scheme not in ("http", "https") or not parsed.raw_host:
        return None
    return parsed


def _signers(secret: str | Sequence[str]) -> list[Webhook] | None:
    """A signer per secret (the current one first), or None when one is malformed."""
    try:
        return [Webhook(s) for s in ((secret,) if isinstance(secret, str) else secret)]
    except (ValueError, EmptyWebhookSecretError):
        return None


class WebhookSender:
    """Delivers signed webhook events with retries; never raises for the receiver's trouble."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        allow_private: bool,
        backoff: Sequence[float] = DEFAULT_BACKOFF,
        clock: Callable[[], float] = time.time,
        timeout: float = 10.0,
    ) -> None:
        self._session = session
        self._allow_private = allow_private
        self._backoff = tuple(backoff)
        self._clock = clock
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._tasks: set[asyncio.Task[bool]] = set()

    def start(
        self, url: str, secret: str | Sequence[str], event: dict[str, Any]
    ) -> asyncio.Task[bool]:
        """Run `send` in the background; the sender keeps the task until it ends."""
        task = spawn(self.send(url, secret, event), name=f"webhook {event.get('id')}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def idle(self) -> None:
        """Wait until every delivery started so far (retries included) has ended."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def close(self) -> None:
        """Cancel deliveries still pending and wait for them to end."""
        tasks = list(self._tasks)
        if tasks:
            log.warning("shutting down: %d webhook event(s) not delivered", len(tasks))
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def refusal(self, url: str) -> str | None:
        """Why events may not go to `url` (a sentence naming the host's address, never the
        path or query), or None: the check an endpoint's URL passes when it is made or
        changed. A host that cannot be resolved now is refused too."""
        parsed = _parse(url)
        if parsed is None:
            return "The webhook URL must start with http:// or https:// and name a host."
        try:
            async with asyncio.timeout(self._timeout.total):
                await self._addresses(parsed)
        except _RefusedError as exc:
            return f"Webhooks are not sent to this URL: {exc}."
        except (OSError, TimeoutError):
            return f"The webhook URL's host ({parsed.raw_host}) cannot be resolved."
        return None

    async def test(self, url: str, secret: str | Sequence[str], event: dict[str, Any]) -> int:
        """POST `event` once (no retries) and return the status the receiver answered;
        DeliveryError when it got no answer or may not be called."""
        parsed = _parse(url)
        if parsed is None:
            raise DeliveryError("the URL is not an http:// or https:// URL")
        signers = _signers(secret)
        if signers is None:
            raise DeliveryError("the signing secret is malformed")
        body = json.dumps(event, separators=(",", ":"))
        try:
            outcome = await self._attempt(parsed, signers, str(event["id"]), body)
        except _RefusedError as exc:
            raise DeliveryError(str(exc)) from None
        if isinstance(outcome, str):
            raise DeliveryError(outcome)
        return outcome

    async def send(self, url: str, secret: str | Sequence[str], event: dict[str, Any]) -> bool:
        """POST `event` to `url`, signed with `secret` (or each of several); True once a try
        got a 2xx answer."""
        event_id = str(event["id"])
        what = f"webhook {event_id} ({event.get('type')})"
        parsed = _parse(url)
        if parsed is None:
            log.warning("%s refused: not an http:// or https:// URL", what)
            return False
        signers = _signers(secret)
        if signers is None:  # bad base64 or empty; never shown
            log.warning("%s to %s not sent: the signing secret is malformed", what, _origin(parsed))
            return False

        body = json.dumps(event, separators=(",", ":"))
        tries = len(self._backoff) + 1
        for attempt in range(1, tries + 1):
            try:
                answer = await self._attempt(parsed, signers, event_id, body)
            except _RefusedError as exc:
                log.warning("%s to %s refused: %s", what, _origin(parsed), exc)
                return False
            if isinstance(answer, int) and 200 <= answer < 300:
                return True
            outcome = answer if isinstance(answer, str) else f"HTTP {answer}"
            if attempt == tries:
                log.warning(
                    "%s to %s failed (try %d of %d: %s); giving up",
                    what,
                    _origin(parsed),
                    attempt,
                    tries,
                    outcome,
                )
                return False
            delay = self._backoff[attempt - 1]
            log.warning(
                "%s to %s failed (try %d of %d: %s); retrying in %gs",
                what,
                _origin(parsed),
                attempt,
                tries,
                outcome,
                delay,
            )
            await asyncio.sleep(delay)
        return False  # pragma: no cover - the loop always returns

    async def _attempt(
        self, url: URL, signers: Sequence[Webhook], event_id: str, body: str
    ) -> int | str:
        """One try: the status the receiver answered, else what went wrong; raises
        _RefusedError."""
        try:
            addresses = await self._addresses(url)
        except OSError as exc:
            return f"cannot resolve the host ({type(exc).__name__})"
        timestamp = int(self._clock())
        signed_at = datetime.fromtimestamp(timestamp, tz=UTC)
        signature = " ".join(s.sign(event_id, signed_at, body) for s in signers)
        headers = {
            "Content-Type": "application/json",
            "Host": url.host_port_subcomponent or "",
            "webhook-id": event_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature,
        }
        extra: dict[str, Any] = {}
        if url.scheme == "https":
            extra["server_hostname"] = url.raw_host
        outcome = "no address"
        for ip in addresses:
            try:
                pinned = url.with_host(str(ip))
            except ValueError:
                outcome = "unusable address"
                continue
            try:
                async with self._session.post(
                    pinned,
                    data=body.encode(),
                    headers=headers,
                    allow_redirects=False,
                    timeout=self._timeout,
                    **extra,
                ) as response:
                    return response.status
            except aiohttp.ClientConnectorError as exc:
                # Nothing was sent: the next address may answer.
                outcome = f"{type(exc).__name__}"
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                return type(exc).__name__
        return outcome

    async def _addresses(self, url: URL) -> list[_IPAddress]:
        """The addresses to call, each checked; raises _RefusedError, or OSError if unresolvable."""
        host = url.raw_host or ""
        try:
            found: list[_IPAddress] = [ipaddress.ip_address(host)]
        except ValueError:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, url.port, type=socket.SOCK_STREAM
            )
            found = []
            for info in infos:
                ip = ipaddress.ip_address(str(info[4][0]))
                if ip not in found:
                    found.append(ip)
            if not found:
                raise OSError("no address") from None
        if not self._allow_private:
            for ip in found:
                reason = forbidden_address(ip)
                if reason is not None:
                    where = "is" if str(ip) == host else "resolves to"
                    raise _RefusedError(f"the host {where} a {reason} address ({ip})")
        return found
