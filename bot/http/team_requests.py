"""The team API's requests as they arrive: JSON or multipart bodies read into plain fields,
and its errors in the OpenAI envelope.

Everything here is about the wire (sizes, encodings, field shapes); what a request may ask for
(models, sizes, seconds, limits) is the service's to decide.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from bot.media.images import MAX_REFERENCE_BYTES
from bot.service import Upload

MAX_BODY = MAX_REFERENCE_BYTES + 1024 * 1024
MAX_IDEMPOTENCY_KEY = 255  # as the store keeps them


class ApiError(Exception):
    """An answer in the OpenAI error envelope."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.code = code
        self.param = param
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        body = {
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        }
        return web.json_response(body, status=self.status, headers=self.headers)


@dataclass
class CreateFields:
    """A create request as parsed from JSON or multipart."""

    prompt: str = ""
    model: str | None = None
    size: str | None = None
    seconds: str | None = None
    channel: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    reference: bytes | None = None
    reference_type: str | None = None
    reference_name: str = "input_reference"
    image_url: str | None = None

    def fingerprint(self) -> str:
        """What makes two creates the same request (an Idempotency-Key's retry)."""
        digest = hashlib.sha256()
        parts = [self.prompt, self.model, self.size, self.seconds, self.channel, self.image_url]
        digest.update(json.dumps([parts, sorted(self.metadata.items())]).encode())
        digest.update(hashlib.sha256(self.reference or b"").digest())
        return digest.hexdigest()


def text_field(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (str, int)):
        return str(value)
    raise ApiError(400, "Expected a string.")


def seconds_field(value: Any) -> int | None:
    if value is None or value == "":
        return None
    text = str(value)
    if not text.isdigit():
        raise ApiError(
            400, f"`seconds` must be a whole number of seconds, not {text[:20]!r}.", param="seconds"
        )
    return int(text)


def reference_upload(create: CreateFields) -> Upload | None:
    data, content_type = create.reference, create.reference_type
    if create.image_url is not None:
        data, content_type = _data_url(create.image_url)
    if data is None:
        return None
    payload = data

    async def read() -> bytes:
        return payload

    return Upload(content_type, len(payload), create.reference_name, read)


def _data_url(url: str) -> tuple[bytes, str]:
    """A `data:image/...;base64,` reference; the bot fetches no URL on a script's behalf."""
    if not url.startswith("data:"):
        raise ApiError(
            400,
            "This bot takes `input_reference` as an uploaded file or a base64 data URL, not a "
            "link it would have to fetch.",
            param="input_reference",
        )
    header, _, encoded = url.partition(",")
    content_type = header.removeprefix("data:").split(";")[0].strip().lower()
    if ";base64" not in header or len(encoded) > MAX_REFERENCE_BYTES * 4 // 3 + 4:
        raise ApiError(
            400, "The data URL must be base64 and at most 20 MiB.", param="input_reference"
        )
    try:
        return base64.b64decode(encoded, validate=True), content_type
    except (binascii.Error, ValueError):
        raise ApiError(400, "The data URL is not valid base64.", param="input_reference") from None


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "The body must be JSON.") from None
    except web.HTTPRequestEntityTooLarge as exc:  # over the web server's client_max_size
        raise ApiError(413, f"The JSON body is too large ({exc.text}).") from None
    if not isinstance(body, dict):
        raise ApiError(400, "The body must be a JSON object.")
    return body


async def form_or_json(request: web.Request) -> dict[str, Any]:
    """A follow-up's body: JSON, or the form the SDKs send (`video[id]` for `{"video": {"id"}}`)."""
    if request.content_type != "multipart/form-data":
        return await json_body(request)
    body: dict[str, Any] = {}
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or part.name is None:
                continue
            value = (await part.read(decode=True)).decode("utf-8", "replace")
            if part.name == "video[id]":
                body["video"] = {"id": value}
            elif part.name in ("prompt", "seconds", "discord_channel_id"):
                body[part.name] = value
    except (ValueError, HttpProcessingError):
        raise ApiError(400, "The multipart/form-data body is malformed.") from None
    return body


async def parse_create(request: web.Request) -> CreateFields:
    """The create's fields from JSON or multipart (the SDKs send multipart, with extra fields
    as form fields: `metadata[k]`, `input_reference[image_url]`)."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise ApiError(413, "The request is too large (20 MiB reference at most).")
    if request.content_type == "application/json":
        return _create_from_json(await json_body(request))
    if request.content_type != "multipart/form-data":
        raise ApiError(400, "Send multipart/form-data or application/json.")
    try:
        return await _read_multipart(request)
    except (HttpProcessingError, ValueError):
        # A part aiohttp cannot parse (a header with raw control bytes, a broken boundary).
        raise ApiError(400, "The multipart/form-data body is malformed.") from None


async def _read_multipart(request: web.Request) -> CreateFields:
    create = CreateFields()
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader) or part.name is None:
            continue
        name = part.name
        if name == "input_reference" and part.filename is not None:
            data = await part.read(decode=False)
            if len(data) > MAX_REFERENCE_BYTES:
                raise ApiError(413, "The reference image is larger than 20 MiB.", param=name)
            create.reference = bytes(data)
            create.reference_type = part.headers.get("Content-Type")
            create.reference_name = part.filename
            continue
        value = (await part.read(decode=True)).decode("utf-8", "replace")
        _set_field(create, name, value)
    if not create.prompt:
        raise ApiError(400, "`prompt` is required.", param="prompt")
    return create


def _set_field(create: CreateFields, name: str, value: str) -> None:
    if name == "prompt":
        create.prompt = value
    elif name in ("model", "size", "seconds"):
        setattr(create, name, value or None)
    elif name == "discord_channel_id":
        create.channel = value or None
    elif name == "input_reference[image_url]":
        create.image_url = value
    elif name == "input_reference":  # a JSON text part
        try:
            parsed = json.loads(value)
        except ValueError:
            raise ApiError(400, "`input_reference` must be a file or {image_url}.") from None
        if isinstance(parsed, dict) and isinstance(parsed.get("image_url"), str):
            create.image_url = parsed["image_url"]
    elif name.startswith("metadata[") and name.endswith("]"):
        create.metadata[name[9:-1][:64]] = value[:512]
    elif name == "metadata":
        try:
            parsed = json.loads(value)
        except ValueError:
            raise ApiError(400, "`metadata` must be a JSON object.", param="metadata") from None
        if isinstance(parsed, dict):
            create.metadata.update({str(k)[:64]: str(v)[:512] for k, v in parsed.items()})


def _create_from_json(body: Mapping[str, Any]) -> CreateFields:
    create = CreateFields()
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        raise ApiError(400, "`prompt` is required.", param="prompt")
    create.prompt = prompt
    create.model = text_field(body.get("model"))
    create.size = text_field(body.get("size"))
    create.seconds = text_field(body.get("seconds"))
    create.channel = text_field(body.get("discord_channel_id"))
    reference = body.get("input_reference")
    if isinstance(reference, dict) and isinstance(reference.get("image_url"), str):
        create.image_url = reference["image_url"]
    elif reference is not None:
        raise ApiError(400, "`input_reference` must be {image_url}.", param="input_reference")
    metadata = body.get("metadata")
    if isinstance(metadata, dict):
        create.metadata = {str(k)[:64]: str(v)[:512] for k, v in metadata.items()}
    return create
