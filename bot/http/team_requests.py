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
import logging
import re
import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, MultipartReader, hdrs, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler

from bot.domain import Upload
from bot.media.images import MAX_REFERENCE_BYTES

log = logging.getLogger(__name__)

# A 20 MiB reference image as a base64 data URL.
MAX_DATA_URL = MAX_REFERENCE_BYTES * 4 // 3 + 4
# A whole request: the reference (uploaded, or as base64 in JSON) and room for the rest.
MAX_BODY = MAX_DATA_URL + 1024 * 1024
MAX_IDEMPOTENCY_KEY = 255  # as the store keeps them
# The spec's `metadata`: at most 16 pairs, keys of at most 64 characters, values of 512.
MAX_METADATA_PAIRS = 16
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 512
# A Discord id is a 64-bit number: at most 20 digits. Other numbers (seconds, a page size)
# are small; 9 digits bound them well below anything `int` or the store would choke on.
_MAX_ID_DIGITS = 20
_MAX_DIGITS = 9
# ASCII only: `str.isdigit` also takes "²" (which `int` refuses) and "٨" (which it reads as 8).
_DIGITS = re.compile(r"[0-9]+")
_CHUNK = 64 * 1024


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


def _is_api(path: str) -> bool:
    return path == "/v1" or path.startswith("/v1/")


@web.middleware
async def api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error under /v1 in the OpenAI envelope with a JSON content type: the API's own,
    the web server's (no such route or method, a body over its limit) and unexpected ones."""
    if not _is_api(request.path):
        return await handler(request)
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        kept = {k: v for k, v in exc.headers.items() if k in (hdrs.ALLOW, hdrs.RETRY_AFTER)}
        where = f"{request.method} {request.path[:200]}"
        kind = "server_error" if exc.status >= 500 else "invalid_request_error"
        return ApiError(exc.status, f"{exc.reason} ({where}).", kind=kind, headers=kept).response()
    except Exception:
        reference = secrets.token_hex(4)
        log.exception(
            "team API: %s %s failed (reference %s)", request.method, request.path, reference
        )
        return ApiError(
            500,
            f"The bot could not answer this request (reference {reference}); try again later.",
            kind="server_error",
        ).response()


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


# -- fields -----------------------------------------------------------------------------------


def list_page(data: list[dict[str, Any]], *, has_more: bool) -> web.Response:
    """A page of a list as the OpenAI SDK pages it (`after=` the last id, while `has_more`)."""
    return web.json_response(
        {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": has_more,
        }
    )


def text_field(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (str, int)):
        return str(value)
    raise ApiError(400, "Expected a string.")


def whole_number(text: str, *, param: str, max_digits: int = _MAX_DIGITS) -> int:
    """A number as a client wrote it: 1 to `max_digits` ASCII digits, nothing else (no sign,
    space, underscore or other script's digits, all of which `int` would take)."""
    if len(text) > max_digits or _DIGITS.fullmatch(text) is None:
        raise ApiError(
            400,
            f"`{param}` must be a whole number of at most {max_digits} digits (0-9), "
            f"not {text[:20]!r}.",
            param=param,
        )
    return int(text)


def seconds_field(value: Any) -> int | None:
    """`seconds` from JSON (a string or a number) or a form; None when not given."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ApiError(400, "`seconds` must be a whole number of seconds.", param="seconds")
    return whole_number(str(value), param="seconds")


def channel_id(text: str) -> int:
    """A Discord channel id as a client wrote it: 1 to 20 ASCII digits."""
    if len(text) > _MAX_ID_DIGITS or _DIGITS.fullmatch(text) is None:
        raise ApiError(
            400,
            "`discord_channel_id` must be a channel id (1 to 20 digits, 0-9).",
            param="discord_channel_id",
        )
    return int(text)


def metadata_field(value: object) -> dict[str, str]:
    """`metadata` as the spec has it: an object of at most 16 strings, keys of at most 64
    characters and values of at most 512. Refused whole, never cut to fit."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ApiError(400, "`metadata` must be an object of strings.", param="metadata")
    _check_metadata(value)
    return dict(value)


def _check_metadata(pairs: Mapping[str, str]) -> None:
    if len(pairs) > MAX_METADATA_PAIRS:
        raise ApiError(
            400,
            f"`metadata` holds at most {MAX_METADATA_PAIRS} pairs, not {len(pairs)}.",
            param="metadata",
        )
    for key, value in pairs.items():
        if len(key) > MAX_METADATA_KEY:
            raise ApiError(
                400,
                f"`metadata` keys are at most {MAX_METADATA_KEY} characters: "
                f"{key[:20]!r}... has {len(key)}.",
                param="metadata",
            )
        if len(value) > MAX_METADATA_VALUE:
            raise ApiError(
                400,
                f"`metadata` values are at most {MAX_METADATA_VALUE} characters: "
                f"{key!r} has {len(value)}.",
                param="metadata",
            )


def _json(data: str | bytes, message: str, param: str | None = None) -> Any:
    try:
        return json.loads(data)
    except RecursionError:
        raise ApiError(400, f"{message} (it is nested too deeply).", param=param) from None
    except ValueError:  # UnicodeDecodeError among them
        raise ApiError(400, message, param=param) from None


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
    if ";base64" not in header or len(encoded) > MAX_DATA_URL:
        raise ApiError(
            400, "The data URL must be base64 and at most 20 MiB.", param="input_reference"
        )
    try:
        return base64.b64decode(encoded, validate=True), content_type
    except (binascii.Error, ValueError):
        raise ApiError(400, "The data URL is not valid base64.", param="input_reference") from None


# -- bodies -----------------------------------------------------------------------------------


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:  # over the web server's client_max_size
        raise ApiError(413, f"The JSON body is too large ({exc.text}).") from None
    body = _json(raw, "The body must be JSON")
    if not isinstance(body, dict):
        raise ApiError(400, "The body must be a JSON object.")
    return body


class _Form:
    """A multipart/form-data body read part by part, never more than MAX_BODY in all: a body
    sent chunked has no Content-Length to refuse it by, and aiohttp's own limit answers in
    plain text."""

    def __init__(self, reader: MultipartReader) -> None:
        self._reader = reader
        self._left = MAX_BODY

    async def parts(self) -> AsyncIterator[tuple[str, BodyPartReader]]:
        """The named fields (nested multiparts and unnamed parts are skipped)."""
        while (part := await self._reader.next()) is not None:
            if isinstance(part, BodyPartReader) and part.name is not None:
                yield part.name, part

    async def read(
        self, name: str, part: BodyPartReader, limit: int = MAX_BODY, too_large: str = ""
    ) -> bytes:
        """The part's bytes as sent; 413 past `limit`, or past what the body has left."""
        data = bytearray()
        while not part.at_eof():
            data.extend(await part.read_chunk(_CHUNK))
            if len(data) > limit:
                message = too_large or f"The form field `{name}` is too large."
                raise ApiError(413, message, param=name)
            if len(data) > self._left:
                raise ApiError(413, "The request is too large (20 MiB reference at most).")
        self._left -= len(data)
        return bytes(data)

    async def text(self, name: str, part: BodyPartReader) -> str:
        """A text field, undone from a Content-Transfer-Encoding (RFC 7578 deprecates them,
        but base64 and quoted-printable are still met)."""
        data = await self.read(name, part)
        encoding = part.headers.get(hdrs.CONTENT_TRANSFER_ENCODING, "binary").strip().lower()
        try:
            if encoding == "base64":
                data = base64.b64decode(data)
            elif encoding == "quoted-printable":
                data = binascii.a2b_qp(data)
            elif encoding not in ("binary", "8bit", "7bit"):
                raise ApiError(
                    400, f"The form field `{name}` has an unknown transfer encoding.", param=name
                )
        except (binascii.Error, ValueError):
            raise ApiError(
                400, f"The form field `{name}` is not valid {encoding}.", param=name
            ) from None
        return data.decode("utf-8", "replace")


async def form_or_json(request: web.Request) -> dict[str, Any]:
    """A follow-up's body: JSON, or the form the SDKs send (`video[id]` for `{"video": {"id"}}`)."""
    if request.content_type != "multipart/form-data":
        return await json_body(request)
    body: dict[str, Any] = {}
    try:
        form = _Form(await request.multipart())
        async for name, part in form.parts():
            if name == "video[id]":
                body["video"] = {"id": await form.text(name, part)}
            elif name in ("prompt", "seconds", "discord_channel_id"):
                body[name] = await form.text(name, part)
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
    form = _Form(await request.multipart())
    async for name, part in form.parts():
        if name == "input_reference" and part.filename is not None:
            create.reference = await form.read(
                name, part, MAX_REFERENCE_BYTES, "The reference image is larger than 20 MiB."
            )
            create.reference_type = part.headers.get(hdrs.CONTENT_TYPE)
            create.reference_name = part.filename
            continue
        _set_field(create, name, await form.text(name, part))
    if not create.prompt:
        raise ApiError(400, "`prompt` is required.", param="prompt")
    _check_metadata(create.metadata)
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
        message = "`input_reference` must be a file or {image_url}"
        parsed = _json(value, message, "input_reference")
        if not isinstance(parsed, dict) or not isinstance(parsed.get("image_url"), str):
            raise ApiError(400, f"{message}.", param="input_reference")
        create.image_url = parsed["image_url"]
    elif name.startswith("metadata[") and name.endswith("]"):
        create.metadata[name[9:-1]] = value
    elif name == "metadata":
        parsed = _json(value, "`metadata` must be a JSON object", "metadata")
        create.metadata.update(metadata_field(parsed))


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
    create.metadata = metadata_field(body.get("metadata"))
    return create
