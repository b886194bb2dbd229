"""The fake moderation server: one route, OpenAI's rules, recorded calls, switchable outages."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Self

from aiohttp import web

# omni-moderation's categories, in the order OpenAI lists them; the image-capable ones read
# images too (the others are text only).
CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)
IMAGE_CATEGORIES = frozenset(
    {
        "self-harm",
        "self-harm/intent",
        "self-harm/instructions",
        "sexual",
        "violence",
        "violence/graphic",
    }
)
MODELS = frozenset({"omni-moderation-latest", "omni-moderation-2024-09-26"})
_MARKER = re.compile(r"\[flag=([a-z/,\- ]+)\]")

Outage = Literal["500", "close", "slow", "garbage"]


@dataclass
class ModerationCall:
    """One request the fake received, and what it answered."""

    body: Any
    authorization: str | None
    status: int = 0
    texts: list[str] = field(default_factory=list)
    images: list[bytes] = field(default_factory=list)
    image_types: list[str] = field(default_factory=list)
    flagged: list[str] = field(default_factory=list)


class _Refused(Exception):  # noqa: N818 - an answer, not a crash
    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code

    def response(self) -> web.Response:
        kind = "invalid_request_error" if self.status < 500 else "server_error"
        body = {"error": {"message": str(self), "type": kind, "param": None, "code": self.code}}
        return web.json_response(body, status=self.status)


class FakeModeration:
    """`POST /v1/moderations` on 127.0.0.1, a free port."""

    def __init__(
        self,
        *,
        key: str | None = None,
        words: Mapping[str, str] | None = None,
        image_flags: frozenset[str] = frozenset(),
        models: frozenset[str] = MODELS,
        slow_seconds: float = 30.0,
    ) -> None:
        self.key = key
        self.words = dict(words or {})
        self.image_flags = image_flags
        self.models = models
        self.slow_seconds = slow_seconds
        self.down: Outage | None = None
        self.calls: list[ModerationCall] = []
        self.host = "127.0.0.1"
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    async def __aenter__(self) -> Self:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_post("/v1/moderations", self._moderations)
        # A "slow" answer still being held back does not hold up the end of a test.
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=0.5
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- the route ------------------------------------------------------------------------------

    async def _moderations(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = None
        call = ModerationCall(body, request.headers.get("Authorization"))
        self.calls.append(call)
        response = await self._answer(request, call)
        call.status = response.status
        return response

    async def _answer(self, request: web.Request, call: ModerationCall) -> web.StreamResponse:
        if self.down == "close":
            assert request.transport is not None
            request.transport.close()  # the connection drops without an answer
            return web.Response(status=599)
        if self.down == "500":
            return _Refused(500, "The server had an error processing your request.").response()
        if self.down == "slow":
            await asyncio.sleep(self.slow_seconds)
        if self.down == "garbage":
            return web.Response(text="<html>Bad gateway</html>", content_type="text/html")
        try:
            self._authorize(call.authorization)
            model = self._model(call.body)
            self._read_input(call)
        except _Refused as exc:
            return exc.response()
        return web.json_response(self._result(call, model))

    def _authorize(self, header: str | None) -> None:
        if self.key is None:
            return
        if header != f"Bearer {self.key}":
            shown = (header or "").removeprefix("Bearer ")
            masked = f"{shown[:3]}***{shown[-2:]}" if len(shown) > 5 else "***"
            message = f"Incorrect API key provided: {masked}."
            raise _Refused(401, message, "invalid_api_key")

    def _model(self, body: Any) -> str:
        if not isinstance(body, dict):
            raise _Refused(400, "We could not parse the JSON body of your request.")
        model = body.get("model", "omni-moderation-latest")
        if not isinstance(model, str) or model not in self.models:
            raise _Refused(400, f"The model `{model}` does not exist.", "model_not_found")
        unknown = set(body) - {"model", "input"}
        if unknown:
            raise _Refused(400, f"Unrecognized request argument supplied: {sorted(unknown)[0]}")
        return model

    def _read_input(self, call: ModerationCall) -> None:
        given = call.body.get("input")
        if isinstance(given, str):
            call.texts.append(given)
            return
        if not isinstance(given, list) or not given:
            raise _Refused(400, "'input' must be a string, an array of strings or of objects.")
        if all(isinstance(item, str) for item in given):
            call.texts.extend(given)
            return
        for item in given:
            if not isinstance(item, dict):
                raise _Refused(400, "Every item of a multimodal 'input' must be an object.")
            kind = item.get("type")
            if kind == "text" and isinstance(item.get("text"), str):
                call.texts.append(item["text"])
            elif kind == "image_url":
                self._read_image(item.get("image_url"), call)
            else:
                raise _Refused(400, f"Invalid input item of type {kind!r}.")
        if len(call.images) > 1:
            raise _Refused(400, "At most one image per request.")

    def _read_image(self, part: Any, call: ModerationCall) -> None:
        url = part.get("url") if isinstance(part, dict) else None
        if not isinstance(url, str):
            raise _Refused(400, "'image_url' must be an object with a 'url'.")
        if url.startswith(("https://", "http://")):
            call.images.append(b"")  # a link: the fake fetches nothing
            call.image_types.append("url")
            return
        header, _, encoded = url.partition(",")
        if not header.startswith("data:image/") or not header.endswith(";base64"):
            raise _Refused(400, "The image must be a URL or a base64 data URL of an image.")
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise _Refused(400, "The image's base64 data is invalid.") from None
        call.images.append(data)
        call.image_types.append(header.removeprefix("data:").removesuffix(";base64"))

    # -- the verdict ----------------------------------------------------------------------------

    def _flags(self, text: str) -> dict[str, str]:
        found: dict[str, str] = {}
        for marker in _MARKER.findall(text):
            for name in marker.replace(" ", "").split(","):
                if name in CATEGORIES:
                    found[name] = "text"
        lowered = text.lower()
        for word, category in self.words.items():
            if re.search(rf"\b{re.escape(word.lower())}\b", lowered):
                found[category] = "text"
        return found

    def _result(self, call: ModerationCall, model: str) -> dict[str, Any]:
        multimodal = isinstance(call.body.get("input"), list) and any(
            isinstance(item, dict) for item in call.body["input"]
        )
        # One result per string of a list of strings; one for a multimodal input.
        groups = [" ".join(call.texts)] if multimodal else call.texts
        results = []
        for index, text in enumerate(groups):
            applied: dict[str, list[str]] = {c: [] for c in CATEGORIES}
            for category in self._flags(text):
                applied[category].append("text")
            if index == 0 and call.images:
                for category in self.image_flags & IMAGE_CATEGORIES:
                    applied[category].append("image")
            flagged = [c for c in CATEGORIES if applied[c]]
            call.flagged.extend(c for c in flagged if c not in call.flagged)
            results.append(
                {
                    "flagged": bool(flagged),
                    "categories": {c: bool(applied[c]) for c in CATEGORIES},
                    "category_scores": {c: 0.93 if applied[c] else 0.0004 for c in CATEGORIES},
                    "category_applied_input_types": {
                        c: applied[c]
                        or (
                            ["text", "image"] if call.images and c in IMAGE_CATEGORIES else ["text"]
                        )
                        for c in CATEGORIES
                    },
                }
            )
        return {"id": f"modr-{secrets.token_hex(12)}", "model": model, "results": results}
