"""The fake chat server: one route, OpenAI's rules, recorded calls, switchable outages."""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass
from typing import Any, Literal, Self

from aiohttp import web

MODELS = frozenset({"gpt-4o-mini", "llama3.1"})
ROLES = frozenset({"system", "developer", "user", "assistant"})
# What the fake adds to a prompt when no answer is scripted: the prompt itself stays whole, so
# a test can see that the subject was kept.
DETAIL = ", filmed as a slow dolly-in at golden hour, soft warm light, shallow depth of field."

Outage = Literal["500", "close", "slow", "garbage", "empty", "401"]


@dataclass
class ChatCall:
    """One request the fake received, and what it answered."""

    body: Any
    authorization: str | None
    status: int = 0
    system: str = ""
    user: str = ""
    answer: str | None = None


class _Refused(Exception):  # noqa: N818 - an answer, not a crash
    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code

    def response(self) -> web.Response:
        kind = "invalid_request_error" if self.status < 500 else "server_error"
        body = {"error": {"message": str(self), "type": kind, "param": None, "code": self.code}}
        return web.json_response(body, status=self.status)


class FakeChat:
    """`POST /v1/chat/completions` on 127.0.0.1, a free port."""

    def __init__(
        self,
        *,
        key: str | None = None,
        models: frozenset[str] = MODELS,
        slow_seconds: float = 30.0,
    ) -> None:
        self.key = key
        self.models = models
        self.slow_seconds = slow_seconds
        self.down: Outage | None = None
        # Set: the content of every answer, as written (else the prompt with DETAIL added).
        self.answer: str | None = None
        self.calls: list[ChatCall] = []
        self.host = "127.0.0.1"
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    async def __aenter__(self) -> Self:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._completions)
        app.router.add_get("/v1/models", self._models)
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

    @staticmethod
    def improved(prompt: str) -> str:
        """What the fake answers for `prompt` when no answer is scripted."""
        return prompt.rstrip(". ") + DETAIL

    # -- the routes -----------------------------------------------------------------------------

    async def _models(self, request: web.Request) -> web.StreamResponse:
        """OpenAI's free listing (`video-bot doctor` reads it; no completion is made)."""
        try:
            self._authorize(request.headers.get("Authorization"))
        except _Refused as exc:
            return exc.response()
        listed = [
            {"id": model, "object": "model", "created": 1_700_000_000, "owned_by": "fake"}
            for model in sorted(self.models)
        ]
        return web.json_response({"object": "list", "data": listed})

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = None
        call = ChatCall(body, request.headers.get("Authorization"))
        self.calls.append(call)
        response = await self._answer(request, call)
        call.status = response.status
        return response

    async def _answer(self, request: web.Request, call: ChatCall) -> web.StreamResponse:
        if self.down == "close":
            assert request.transport is not None
            request.transport.close()  # the connection drops without an answer
            return web.Response(status=599)
        if self.down == "500":
            return _Refused(500, "The server had an error processing your request.").response()
        if self.down == "401":
            return _Refused(401, "Incorrect API key provided.", "invalid_api_key").response()
        if self.down == "slow":
            await asyncio.sleep(self.slow_seconds)
        if self.down == "garbage":
            return web.Response(text="<html>Bad gateway</html>", content_type="text/html")
        try:
            self._authorize(call.authorization)
            model = self._read(call)
        except _Refused as exc:
            return exc.response()
        content = "" if self.down == "empty" else (self.answer or self.improved(call.user))
        call.answer = content
        return web.json_response(
            {
                "id": f"chatcmpl-{secrets.token_hex(12)}",
                "object": "chat.completion",
                "created": 1_790_000_000,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 50, "completion_tokens": 40, "total_tokens": 90},
            }
        )

    def _authorize(self, header: str | None) -> None:
        if self.key is None:
            return
        if header != f"Bearer {self.key}":
            raise _Refused(401, "Incorrect API key provided.", "invalid_api_key")

    def _read(self, call: ChatCall) -> str:
        body = call.body
        if not isinstance(body, dict):
            raise _Refused(400, "We could not parse the JSON body of your request.")
        model = body.get("model")
        if not isinstance(model, str) or model not in self.models:
            raise _Refused(404, f"The model `{model}` does not exist.", "model_not_found")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _Refused(400, "'messages' must be a non-empty array.")
        for message in messages:
            if not isinstance(message, dict) or message.get("role") not in ROLES:
                raise _Refused(400, "Every message needs a valid 'role'.")
            if not isinstance(message.get("content"), str):
                raise _Refused(400, "Every message needs 'content'.")
            if message["role"] in ("system", "developer"):
                call.system += message["content"]
            elif message["role"] == "user":
                call.user = message["content"]
        if not call.user:
            raise _Refused(400, "The conversation has no user message.")
        return model
