"""`/v1/webhook_endpoints`: a key's webhook endpoints, as the OpenAI SDK's `client.webhooks`
manages them (create, list, retrieve, update, delete, `rotate_secret`, `test`), and
`/v1/webhook_event_types`.

Each route answers for the key that calls it: another key's endpoint is a 404, as if it did
not exist. An endpoint's secret is shown when it is made and when it is rotated, never again.
A URL is checked where it leads when it is given (the sender's rule: no private addresses
unless the operator allows them), and again on every delivery.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.domain import WEBHOOK_EVENT_TYPES, ApiKey, WebhookEndpoint
from bot.http.team_requests import ApiError, json_body, list_page, whole_number
from bot.http.webhooks import DeliveryError, WebhookSender
from bot.service import EndpointRefused, WebhookEndpoints

KeyHandler = Callable[[web.Request, ApiKey], Awaitable[web.StreamResponse]]

# What a test event's `data.id` names: no video of the key's, by the bot's id pattern.
TEST_VIDEO_ID = "video_" + "0" * 16


def endpoint_object(endpoint: WebhookEndpoint, *, with_secret: bool = False) -> dict[str, Any]:
    """An endpoint as the SDK's `WebhookEndpoint` (`WebhookEndpointWithSecret`)."""
    shown: dict[str, Any] = {
        "id": endpoint.id,
        "object": "webhook_endpoint",
        "created_at": int(endpoint.created_at),
        "updated_at": int(endpoint.updated_at),
        "name": endpoint.name,
        "url": endpoint.url,
        "event_types": list(endpoint.event_types),
        "signing_secret_hint": endpoint.secret_hint,
    }
    if with_secret:
        shown["signing_secret"] = endpoint.secret
    return shown


def sample_event(event_type: str, created_at: int) -> dict[str, Any]:
    """A sample event in the shape of the real ones, with an id of its own."""
    return {
        "id": f"evt_{secrets.token_hex(16)}",
        "object": "event",
        "type": event_type,
        "created_at": created_at,
        "data": {"id": TEST_VIDEO_ID},
    }


def _refused(error: EndpointRefused) -> ApiError:
    text = str(error)
    return ApiError(400, f"{text[:1].upper()}{text[1:]}.", code=error.code, param=error.param)


def _not_found(endpoint_id: str) -> ApiError:
    return ApiError(
        404,
        f"Webhook endpoint with id '{endpoint_id[:100]}' not found.",
        code="webhook_endpoint_not_found",
        param="webhook_endpoint_id",
    )


class WebhookRoutes:
    """The handlers, each given the key that called (authenticated and rate-limited by the
    team API)."""

    def __init__(self, endpoints: WebhookEndpoints, sender: WebhookSender) -> None:
        self._endpoints = endpoints
        self._sender = sender

    def routes(self) -> list[tuple[str, str, KeyHandler]]:
        """(method, path, handler) of every route."""
        one = "/v1/webhook_endpoints/{webhook_endpoint_id}"
        return [
            ("POST", "/v1/webhook_endpoints", self._create),
            ("GET", "/v1/webhook_endpoints", self._list),
            ("GET", one, self._retrieve),
            ("POST", one, self._update),
            ("DELETE", one, self._delete),
            ("POST", f"{one}/rotate_secret", self._rotate),
            ("POST", f"{one}/test", self._test),
            ("GET", "/v1/webhook_event_types", self._event_types),
        ]

    # -- helpers ----------------------------------------------------------------------------------

    async def _own(self, key: ApiKey, request: web.Request) -> WebhookEndpoint:
        endpoint_id = request.match_info["webhook_endpoint_id"]
        endpoint = await self._endpoints.get(key.id, endpoint_id)
        if endpoint is None:
            raise _not_found(endpoint_id)
        return endpoint

    async def _vet(self, url: object) -> None:
        """Refuse a URL whose host is (or resolves to) an address webhooks may not reach."""
        try:
            checked = self._endpoints.check_url(url)
        except EndpointRefused as exc:
            raise _refused(exc) from None
        reason = await self._sender.refusal(checked)
        if reason is not None:
            raise ApiError(400, reason, code="invalid_url", param="url")

    # -- routes -----------------------------------------------------------------------------------

    async def _create(self, request: web.Request, key: ApiKey) -> web.StreamResponse:
        body = await json_body(request)
        for field in ("name", "url", "event_types"):
            if body.get(field) is None:
                raise ApiError(400, f"`{field}` is required.", param=field)
        await self._vet(body["url"])
        try:
            endpoint = await self._endpoints.create(
                key.id, name=body["name"], url=body["url"], event_types=body["event_types"]
            )
        except EndpointRefused as exc:
            raise _refused(exc) from None
        return web.json_response(endpoint_object(endpoint, with_secret=True))

    async def _list(self, request: web.Request, key: ApiKey) -> web.StreamResponse:
        query = request.query
        limit = max(1, min(100, whole_number(query.get("limit", "20"), param="limit")))
        after = None
        if query.get("after"):
            after = await self._endpoints.get(key.id, query["after"])
            if after is None:
                raise _not_found(query["after"])
        found, more = await self._endpoints.page(key.id, after=after, limit=limit)
        data = [endpoint_object(e) for e in found]
        return list_page(data, has_more=more)

    async def _retrieve(self, request: web.Request, key: ApiKey) -> web.StreamResponse:
        return web.json_response(endpoint_object(await self._own(key, request)))

    async def _update(self, request: web.Request, key: ApiKey) -> web.StreamResponse:
        endpoint = await self._own(key, request)
        body = await json_body(request)
        if body.get("url") is not None:
            await self._vet(body["url"])
        try:
            changed = await self._endpoints.update(
                key.id,
                endpoint.id,
                name=body.get("name"),
                url=body.get("url"),
                event_types=body.get("event_types"),
            )
        except EndpointRefused as exc:
            raise _refused(exc) from None
        if changed is None:  # deleted meanwhile
            raise _not_found(endpoint.id)
        return web.json_response(endpoint_object(changed))

    async def _delete(self, request: web.Request, key: ApiKey) -> web.StreamResponse:
        endpoint_id = request.match_info["webhook_endpoint_id"]
        if not await self._endpoints.delete(key.id, endpoint_id):
            raise _not_found(endpoint_id)
        return web.json_response(
            {"id": endpoint_id, "object": "webhook_endpoint.deleted", "deleted": True}
        )

    async def _rotate(self, request: web.Request, key: ApiKey) -> web.StreamResponse:
        endpoint = await self._own(key, request)
        # The SDK sends `{}` when the option is left out; curl may send nothing at all.
        body = await json_body(request) if request.can_read_body else {}
        keep = body.get("keep_old_secret_active_for_24_hours", False)
        if not isinstance(keep, bool):
            raise ApiError(
                400,
                "`keep_old_secret_active_for_24_hours` must be true or false.",
                param="keep_old_secret_active_for_24_hours",
            )
        rotated = await self._endpoints.rotate(key.id, endpoint.id, keep_old=keep)
        if rotated is None:
            raise _not_found(endpoint.id)
        return web.json_response(endpoint_object(rotated, with_secret=True))

    async def _test(self, request: web.Request, key: ApiKey) -> web.StreamResponse:
        endpoint = await self._own(key, request)
        body = await json_body(request)
        event_type = body.get("event_type")
        if event_type not in WEBHOOK_EVENT_TYPES:
            raise ApiError(
                400,
                f"`event_type` must be one of the events the bot sends: "
                f"{', '.join(WEBHOOK_EVENT_TYPES)}.",
                code="invalid_event_types",
                param="event_type",
            )
        now = self._endpoints.now()
        event = sample_event(str(event_type), int(now))
        try:
            status = await self._sender.test(endpoint.url, endpoint.signing_secrets(now), event)
        except DeliveryError as exc:
            raise ApiError(
                400,
                f"The test event could not be delivered: {exc}.",
                code="webhook_delivery_failed",
            ) from None
        return web.json_response(
            {
                "object": "webhook_endpoint.test",
                "webhook_endpoint_id": endpoint.id,
                "event_type": event_type,
                "status_code": status,
                "success": True,
            }
        )

    async def _event_types(self, request: web.Request, key: ApiKey) -> web.StreamResponse:
        return web.json_response({"object": "list", "data": list(WEBHOOK_EVENT_TYPES)})
