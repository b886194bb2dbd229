"""The OpenAPI document of the bot's own Videos API (`GET /v1/openapi.json`).

The base is OpenAI's own description of the operations the bot serves (`api_spec.json`, a
vendored subset of the official spec, see `API_SPEC_SOURCE.md`); on top of it goes what this
bot really answers: its keys, its extra create fields, the OpenAI error envelope on every
operation, and the sizes, durations and model names of the running catalogue.
"""

from __future__ import annotations

import copy
import json
from importlib import metadata, resources
from typing import Any

from bot.catalogue import Catalogue
from bot.domain import WEBHOOK_EVENT_TYPES

TITLE = "video-bot"
ID_PATTERN = "^video_[0-9a-f]{16}$"
ID_EXAMPLE = "video_0123456789abcdef"
ENDPOINT_ID_PATTERN = "^we_[0-9a-f]{24}$"
ENDPOINT_ID_EXAMPLE = "we_0123456789abcdef01234567"
SERVER = "/v1"

_SCHEMAS = "#/components/schemas/"
_RESPONSES = "#/components/responses/"
# Every error the Videos API answers, in the OpenAI envelope, by status.
_ERRORS: dict[str, tuple[str, str]] = {
    "400": ("BadRequest", "The request is invalid (a field, a combination, the state)."),
    "401": ("Unauthorized", "No key, or a key that is unknown or revoked."),
    "403": ("Forbidden", "The key may not post in the asked `discord_channel_id`."),
    "404": (
        "NotFound",
        "No such video or webhook endpoint for this key, or the video's file is no longer kept.",
    ),
    "409": ("Conflict", "A request with this Idempotency-Key is still being made."),
    "413": ("PayloadTooLarge", "The body or the reference image is too large."),
    "422": ("Unprocessable", "This Idempotency-Key was already used for another request."),
    "429": ("TooManyRequests", "The key's rate limit, or a usage limit or budget."),
}

_cache: dict[tuple[int, str | None], tuple[Catalogue, dict[str, Any]]] = {}
_CACHE_SIZE = 8


def build_openapi(catalogue: Catalogue, *, server_url: str | None = None) -> dict[str, Any]:
    """The document for this catalogue (a fresh copy of a cached one; the caller may edit it).

    Paths are relative to the server (`/v1` by default, as in OpenAI's spec), so an OpenAI
    SDK's `base_url` is the server's URL.
    """
    cache_key = (id(catalogue), server_url)
    cached = _cache.get(cache_key)
    if cached is None or cached[0] is not catalogue:
        if len(_cache) >= _CACHE_SIZE:
            _cache.pop(next(iter(_cache)))
        cached = (catalogue, _build(catalogue, server_url))
        _cache[cache_key] = cached
    return copy.deepcopy(cached[1])


def _version() -> str:
    try:
        return metadata.version("video-bot")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def _load_base() -> dict[str, Any]:
    text = resources.files("bot.http").joinpath("api_spec.json").read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


def _build(catalogue: Catalogue, server_url: str | None) -> dict[str, Any]:
    doc = _load_base()
    doc["info"] = {
        "title": TITLE,
        "version": _version(),
        "description": (
            "The Videos API of a video-bot: each video is an ordinary job of the bot, posted "
            "in one of the key's Discord channels. Compatible with the OpenAI Videos API (this "
            "document extends OpenAI's, MIT licence); keys are issued by the bot's operator "
            "with `video-bot api-key create`."
        ),
        "license": {"name": "MIT", "identifier": "MIT"},
    }
    doc["servers"] = [{"url": server_url or SERVER}]
    doc["security"] = [{"BotApiKey": []}]
    components = doc["components"]
    components["securitySchemes"] = {
        "BotApiKey": {
            "type": "http",
            "scheme": "bearer",
            "description": "A key the bot's operator issued (`vbk_...`), as "
            "`Authorization: Bearer vbk_...`.",
        }
    }
    schemas: dict[str, Any] = components["schemas"]
    _catalogue_schemas(schemas, catalogue)
    _request_schemas(schemas)
    _response_schemas(schemas)
    components["responses"] = _error_responses()
    _operations(doc["paths"])
    _webhook_endpoints(doc["paths"], schemas)
    doc["paths"]["/openapi.json"] = {
        "get": {
            "summary": "This document.",
            "operationId": "GetOpenApiDocument",
            "security": [],
            "responses": {
                "200": {
                    "description": "The OpenAPI document of this API.",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    }
    return doc


def _catalogue_schemas(schemas: dict[str, Any], catalogue: Catalogue) -> None:
    schemas["VideoSize"] = {"type": "string", "enum": catalogue.all_sizes()}
    schemas["VideoSeconds"] = {"type": "string", "enum": [str(s) for s in catalogue.all_seconds()]}
    extension_seconds = sorted({s for m in catalogue.models for s in m.extension_seconds})
    schemas["VideoExtensionSeconds"] = {
        "type": "string",
        "enum": [str(s) for s in extension_seconds],
    }
    schemas["VideoModel"] = {
        "anyOf": [{"type": "string"}, {"type": "string", "enum": catalogue.names()}],
        "description": f"One of the bot's models; the default is `{catalogue.default.name}`.",
    }
    schemas["VideoContentVariant"] = {"type": "string", "enum": ["video", "thumbnail"]}


def _request_schemas(schemas: dict[str, Any]) -> None:
    channel = {
        "type": "string",
        "pattern": "^[0-9]{1,20}$",
        "description": "The Discord channel to post the video in: one of the key's channels. "
        "Defaults to the key's first channel.",
    }
    metadata = {
        "type": "object",
        "maxProperties": 16,
        "propertyNames": {"maxLength": 64},
        "additionalProperties": {"type": "string", "maxLength": 512},
        "description": "Your own labels, kept with the job. In multipart, as `metadata[key]` "
        "fields or one JSON `metadata` field.",
    }
    for name in ("CreateVideoJsonBody", "CreateVideoMultipartBody"):
        properties = schemas[name]["properties"]
        properties["discord_channel_id"] = channel
        properties["metadata"] = metadata
    for name in ("CreateVideoExtendJsonBody", "CreateVideoRemixBody"):
        schemas[name]["properties"]["discord_channel_id"] = channel
    schemas["CreateVideoExtendJsonBody"]["properties"]["seconds"] = {
        "$ref": _SCHEMAS + "VideoExtensionSeconds"
    }
    schemas["ImageRefParam-2"] = {
        "type": "object",
        "properties": {
            "image_url": {
                "type": "string",
                "maxLength": 27962032,
                "description": "A base64 data URL (`data:image/png;base64,...`) of at most "
                "20 MiB; the bot fetches no link.",
            }
        },
        "required": ["image_url"],
    }
    schemas["VideoReferenceInputParam"]["properties"]["id"] = {
        "type": "string",
        "pattern": ID_PATTERN,
        "example": ID_EXAMPLE,
        "description": "The identifier of the completed video.",
    }


def _response_schemas(schemas: dict[str, Any]) -> None:
    video = schemas["VideoResource"]["properties"]
    video["id"] = {"type": "string", "pattern": ID_PATTERN, "description": "The video's id."}
    # A job made before the catalogue changed keeps its size: any string.
    video["size"] = {"type": "string", "description": "The resolution of the video."}
    video["model"] = {"type": "string", "description": "The model that made the video."}
    video["remixed_from_video_id"] = {
        "anyOf": [{"type": "string", "pattern": ID_PATTERN}, {"type": "null"}],
        "description": "The source video of a remix.",
    }
    video["progress"] = {"type": "integer", "minimum": 0, "maximum": 100}
    schemas["DeletedVideoResource"]["properties"]["id"] = {"type": "string", "pattern": ID_PATTERN}
    schemas["ErrorResponse"] = {
        "type": "object",
        "title": "Error response",
        "description": "The OpenAI error envelope.",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                    "param": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                    "code": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                },
                "required": ["message", "type", "param", "code"],
            }
        },
        "required": ["error"],
    }


def _error_responses() -> dict[str, Any]:
    """The errors, each in the `ErrorResponse` envelope."""
    retry_after = {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 1},
    }
    responses: dict[str, Any] = {}
    for status, (name, description) in _ERRORS.items():
        response: dict[str, Any] = {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": _SCHEMAS + "ErrorResponse"}}},
        }
        if status == "409":
            response["headers"] = {"Retry-After": {**retry_after, "required": True}}
        elif status == "429":
            response["headers"] = {
                "Retry-After": {
                    **retry_after,
                    "description": "Seconds to wait (on the key's rate limit; usage limits "
                    "and budgets have none).",
                }
            }
        responses[name] = response
    return responses


def _operations(paths: dict[str, Any]) -> None:
    video_id = {
        "type": "string",
        "pattern": ID_PATTERN,
        "example": ID_EXAMPLE,
    }
    for item in paths.values():
        for operation in item.values():
            operation.pop("deprecated", None)
            if "requestBody" in operation:
                operation["requestBody"]["required"] = True  # the bot needs one
            for parameter in operation.get("parameters", []):
                if parameter["name"] in ("video_id", "after"):
                    parameter["schema"] = {**video_id}
            operation["responses"].update(
                {status: {"$ref": _RESPONSES + name} for status, (name, _) in _ERRORS.items()}
            )
    create = paths["/videos"]["post"]
    create["parameters"] = [
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": "Retrying with the same key answers the first video again.",
            "schema": {"type": "string", "minLength": 1, "maxLength": 255},
        }
    ]
    # The bot takes remixes and extensions as JSON.
    for path in ("/videos/extensions", "/videos/{video_id}/remix"):
        paths[path]["post"]["requestBody"]["content"].pop("multipart/form-data", None)
    content = paths["/videos/{video_id}/content"]["get"]["responses"]["200"]["content"]
    binary = {"schema": {"type": "string", "format": "binary"}}
    content.clear()
    content.update({"video/mp4": binary, "image/webp": binary, "image/jpeg": binary})


def _webhook_endpoints(paths: dict[str, Any], schemas: dict[str, Any]) -> None:
    """`/webhook_endpoints` (the SDK's `client.webhooks`) and `/webhook_event_types`, in the
    shapes the SDK sends and reads."""
    event_type = {"$ref": _SCHEMAS + "WebhookEventType"}
    name = {"type": "string", "minLength": 1, "maxLength": 100}
    url = {
        "type": "string",
        "pattern": "^https?://",
        "maxLength": 2000,
        "description": "Where events are POSTed. A host that is or resolves to a private, "
        "loopback or link-local address is refused unless the operator allows it.",
    }
    event_types = {"type": "array", "minItems": 1, "items": event_type}
    endpoint_id = {"type": "string", "pattern": ENDPOINT_ID_PATTERN}
    timestamp = {"type": "integer", "description": "Unix seconds."}
    endpoint: dict[str, Any] = {
        "type": "object",
        "properties": {
            "id": endpoint_id,
            "object": {"type": "string", "enum": ["webhook_endpoint"]},
            "created_at": timestamp,
            "updated_at": timestamp,
            "name": {"type": "string"},
            "url": {"type": "string"},
            "event_types": {"type": "array", "items": event_type},
            "signing_secret_hint": {"type": "string"},
        },
        "required": [
            "id",
            "object",
            "created_at",
            "updated_at",
            "name",
            "url",
            "event_types",
            "signing_secret_hint",
        ],
    }
    with_secret = copy.deepcopy(endpoint)
    with_secret["properties"]["signing_secret"] = {
        "type": "string",
        "pattern": "^whsec_",
        "description": "The signing secret: shown only here, when the endpoint is made or its "
        "secret rotated.",
    }
    with_secret["required"].append("signing_secret")
    nullable_id = {"anyOf": [endpoint_id, {"type": "null"}]}
    schemas.update(
        {
            "WebhookEventType": {"type": "string", "enum": list(WEBHOOK_EVENT_TYPES)},
            "WebhookEndpoint": endpoint,
            "WebhookEndpointWithSecret": with_secret,
            "WebhookEndpointList": {
                "type": "object",
                "properties": {
                    "object": {"type": "string", "enum": ["list"]},
                    "data": {"type": "array", "items": {"$ref": _SCHEMAS + "WebhookEndpoint"}},
                    "first_id": nullable_id,
                    "last_id": nullable_id,
                    "has_more": {"type": "boolean"},
                },
                "required": ["object", "data", "first_id", "last_id", "has_more"],
            },
            "DeletedWebhookEndpoint": {
                "type": "object",
                "properties": {
                    "id": endpoint_id,
                    "object": {"type": "string", "enum": ["webhook_endpoint.deleted"]},
                    "deleted": {"type": "boolean"},
                },
                "required": ["id", "object", "deleted"],
            },
            "WebhookEndpointTestResult": {
                "type": "object",
                "properties": {
                    "object": {"type": "string", "enum": ["webhook_endpoint.test"]},
                    "webhook_endpoint_id": endpoint_id,
                    "event_type": event_type,
                    "status_code": {
                        "type": "integer",
                        "description": "The HTTP status the endpoint answered.",
                    },
                    "success": {"type": "boolean", "enum": [True]},
                },
                "required": [
                    "object",
                    "webhook_endpoint_id",
                    "event_type",
                    "status_code",
                    "success",
                ],
            },
            "WebhookEventTypeList": {
                "type": "object",
                "properties": {
                    "object": {"type": "string", "enum": ["list"]},
                    "data": {"type": "array", "items": event_type},
                },
                "required": ["object", "data"],
            },
        }
    )
    errors = {
        status: {"$ref": _RESPONSES + _ERRORS[status][0]}
        for status in ("400", "401", "404", "413", "429")
    }

    def operation(
        operation_id: str,
        summary: str,
        answer: str,
        *,
        body: dict[str, Any] | None = None,
        body_required: bool = True,
        parameters: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        described: dict[str, Any] = {
            "tags": ["Webhooks"],
            "summary": summary,
            "operationId": operation_id,
            "responses": {
                "200": {
                    "description": "Success",
                    "content": {"application/json": {"schema": {"$ref": _SCHEMAS + answer}}},
                },
                **errors,
            },
        }
        if parameters:
            described["parameters"] = parameters
        if body is not None:
            described["requestBody"] = {
                "required": body_required,
                "content": {"application/json": {"schema": {"type": "object", **body}}},
            }
        return described

    in_path = [
        {
            "name": "webhook_endpoint_id",
            "in": "path",
            "required": True,
            "description": "The endpoint's id.",
            "schema": {**endpoint_id, "example": ENDPOINT_ID_EXAMPLE},
        }
    ]
    page = [
        {
            "name": "after",
            "in": "query",
            "required": False,
            "description": "The id of the last endpoint of the previous page.",
            "schema": endpoint_id,
        },
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "description": "How many endpoints to answer (default 20).",
            "schema": {"type": "integer", "minimum": 1, "maximum": 100},
        },
    ]
    fields = {"name": name, "url": url, "event_types": event_types}
    paths["/webhook_endpoints"] = {
        "post": operation(
            "CreateWebhookEndpoint",
            "Make a webhook endpoint for the key; its signing secret is shown only now.",
            "WebhookEndpointWithSecret",
            body={"properties": fields, "required": list(fields)},
        ),
        "get": operation(
            "ListWebhookEndpoints",
            "The key's webhook endpoints, newest first.",
            "WebhookEndpointList",
            parameters=page,
        ),
    }
    paths["/webhook_endpoints/{webhook_endpoint_id}"] = {
        "get": operation(
            "GetWebhookEndpoint",
            "One of the key's webhook endpoints.",
            "WebhookEndpoint",
            parameters=in_path,
        ),
        "post": operation(
            "UpdateWebhookEndpoint",
            "Change an endpoint's name, URL or event types (the fields given).",
            "WebhookEndpoint",
            body={"properties": fields},
            parameters=in_path,
        ),
        "delete": operation(
            "DeleteWebhookEndpoint",
            "Delete an endpoint: it is sent nothing more.",
            "DeletedWebhookEndpoint",
            parameters=in_path,
        ),
    }
    paths["/webhook_endpoints/{webhook_endpoint_id}/rotate_secret"] = {
        "post": operation(
            "RotateWebhookEndpointSecret",
            "A new signing secret; the old one stops signing now, or in 24 hours if asked.",
            "WebhookEndpointWithSecret",
            body={"properties": {"keep_old_secret_active_for_24_hours": {"type": "boolean"}}},
            body_required=False,
            parameters=in_path,
        ),
    }
    paths["/webhook_endpoints/{webhook_endpoint_id}/test"] = {
        "post": operation(
            "TestWebhookEndpoint",
            "Send a sample event to the endpoint once; its answer's status is returned.",
            "WebhookEndpointTestResult",
            body={"properties": {"event_type": event_type}, "required": ["event_type"]},
            parameters=in_path,
        ),
    }
    paths["/webhook_event_types"] = {
        "get": operation(
            "ListWebhookEventTypes",
            "The events the bot sends to webhook endpoints.",
            "WebhookEventTypeList",
        ),
    }
