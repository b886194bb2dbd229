"""What the fake server is told to be: its dialect, its key, its timing and the faults to inject."""

from __future__ import annotations

import random
from collections.abc import Container
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

Dialect = Literal["openai", "sglang", "vllm_omni", "trtllm", "newapi", "litellm"]
"""Which real server the fake imitates (see dialects.py for what each one does differently)."""

DIALECTS: tuple[Dialect, ...] = ("openai", "sglang", "vllm_omni", "trtllm", "newapi", "litellm")

FaultEndpoint = Literal["create", "retrieve", "content", "list", "delete", "any"]
FaultKind = Literal[
    "404",  # on content: a video marked completed whose file is not ready yet
    "409",
    "429",
    "429-no-retry-after",
    "500",
    "502",
    "503",
    "reset",
    "slow",
    "create-then-reset",
    "create-then-hang",
    # Hostile answers (a broken or malicious provider); see app.py for exactly what each sends.
    "huge-body",  # 200 JSON video object padded to `size` bytes, streamed
    "absurd-numbers",  # the video object with Infinity/NaN, 1e400 and year > 9999 numbers
    "wrong-types",  # every field but `id` of the video object of the wrong type
    "no-id",  # the video object without its `id`
    "echo-key",  # errors (a failed job on retrieve) echo the Authorization header back
    "html-as-mp4",  # content: an HTML page labelled video/mp4
    "redirect",  # content: 302 to `location`, or to the fake's own copy of the video
    "redirect-link-local",  # content: 302 to the cloud metadata address 169.254.169.254
    "redirect-html",  # content: 302 to an HTML page on the fake labelled video/mp4
    "redirect-loop",  # content: 302 to a URL that redirects to itself forever
]
OptionalEndpoint = Literal["list", "delete", "remix", "extensions"]


class Fault(BaseModel):
    """One injected failure, applied to the next `count` matching requests and then used up."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    endpoint: FaultEndpoint = "any"
    kind: FaultKind
    count: int = Field(default=1, ge=1)
    # Seconds; a 429 sends it as Retry-After (rounded up, HTTP wants whole seconds) and exactly
    # as retry-after-ms, which OpenAI's clients prefer.
    retry_after: float = Field(default=1.0, ge=0)
    # Seconds a "slow" request waits before answering, or a "create-then-hang" create holds on.
    delay: float = Field(default=5.0, ge=0)
    # Bytes of a "huge-body" answer.
    size: int = Field(default=300 * 1024 * 1024, ge=0)
    # Where a "redirect" sends the client; `{video_id}` is filled in. None: the fake's own copy.
    location: str | None = None


# What a random fault may be, per endpoint: the everyday trouble of a real server ...
# and the hostile kind: absurd numbers, wrong types, the key echoed back, a page posing as the
# video, a redirect to a cloud metadata address.
RANDOM_FAULTS: dict[str, tuple[FaultKind, ...]] = {
    "create": ("429", "500", "503", "reset", "create-then-reset"),
    "retrieve": ("429", "500", "503", "reset", "absurd-numbers", "wrong-types", "echo-key"),
    "content": ("404", "429", "500", "503", "reset", "html-as-mp4", "redirect-link-local"),
    "list": ("429", "500", "503"),
}


class FakeSettings(BaseModel):
    """Live configuration of a fake server; tests and PATCH /_fake/settings change it in place."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    dialect: Dialect = "openai"
    # None: no authentication. Otherwise the dialects that authenticate want `Bearer <api_key>`.
    api_key: str | None = None
    # Seconds of fake time a job takes unless its prompt says `[duration=N]`.
    default_duration: float = Field(default=6.0, ge=0)
    # The one model a single-model server (vLLM-Omni, SGLang, TRT-LLM) serves.
    served_model: str = "Wan2.2-T2V-A14B"
    # When set, retrieve answers carry `openai-poll-after-ms`, the official SDK's polling hint.
    poll_after_ms: int | None = Field(default=None, ge=0)
    # When set, every served MP4 is padded to this many bytes (a prompt's `[bytes=N]` wins).
    video_bytes: int | None = Field(default=None, ge=0)
    faults: list[Fault] = Field(default_factory=list)
    # A share of requests (0..1) faulted at random, beyond the scripted `faults`: the kinds come
    # from RANDOM_FAULTS for the request's endpoint; `fault_seed` makes a run repeatable.
    fault_rate: float = Field(default=0.0, ge=0, le=1)
    fault_seed: int = 0
    # Optional endpoints answered 404 whatever the dialect, as servers without them do.
    disabled_endpoints: set[OptionalEndpoint] = Field(default_factory=set)
    # Seconds of fake time a completed video's content stays downloadable: `expires_at` says
    # when, and after it content answers 410 (404 on the self-hosted servers) and the video can
    # no longer be remixed or extended. None: kept forever (`expires_at` shows one hour).
    expire_after: float | None = Field(default=None, ge=0)

    def merge(self, patch: dict[str, Any]) -> None:
        """Apply a JSON merge patch in place (lists and sets are replaced, not extended)."""
        # Validate the whole result first so a bad patch changes nothing.
        merged = type(self).model_validate({**self.model_dump(), **patch})
        for name in type(self).model_fields:
            setattr(self, name, getattr(merged, name))

    def take_fault(self, endpoint: str, kinds: Container[FaultKind]) -> Fault | None:
        """Use up one application of the first fault of `kinds` aimed at `endpoint`, or draw a
        random one at `fault_rate`."""
        for fault in self.faults:
            if fault.kind in kinds and fault.endpoint in {endpoint, "any"}:
                if fault.count <= 1:
                    self.faults.remove(fault)
                else:
                    fault.count -= 1
                return fault
        if self.fault_rate <= 0:
            return None
        if self._rng is None:
            self._rng = random.Random(self.fault_seed)
        candidates = [k for k in RANDOM_FAULTS.get(endpoint, ()) if k in kinds]
        if not candidates or self._rng.random() >= self.fault_rate:
            return None
        return Fault(endpoint=endpoint, kind=self._rng.choice(candidates), retry_after=0.2)

    _rng: random.Random | None = PrivateAttr(default=None)
