"""What the fake server is told to be: its dialect, its key, its timing, its OpenRouter models,
its callbacks and the faults to inject."""

from __future__ import annotations

import random
from collections.abc import Container
from decimal import Decimal
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

Dialect = Literal["openai", "sglang", "vllm_omni", "trtllm", "newapi", "litellm", "openrouter"]
"""Which real server the fake imitates (see dialects.py for what each one does differently)."""

DIALECTS: tuple[Dialect, ...] = (
    "openai",
    "sglang",
    "vllm_omni",
    "trtllm",
    "newapi",
    "litellm",
    "openrouter",
)

# "models" is every discovery endpoint (GET /v1/models, /model_group/info,
# /api/v1/videos/models); only faults aimed at it exactly apply there, never "any".
FaultEndpoint = Literal["create", "retrieve", "content", "list", "delete", "models", "any"]
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


class OpenRouterModel(BaseModel):
    """One model of OpenRouter's video catalogue, as GET /api/v1/videos/models lists it.

    Everything but `billed_skus` and `supports_continuation` is shown as OpenRouter shows it.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    id: str
    name: str
    created: int = 1_760_000_000
    supported_durations: list[int] = Field(min_length=1)
    supported_resolutions: list[str] = Field(min_length=1)
    supported_aspect_ratios: list[str] = Field(min_length=1)
    # Exact "WxH" sizes a create may name; None: only resolution + aspect_ratio.
    supported_sizes: list[str] | None = None
    # Which `frame_images[].frame_type` values it takes; None: no frame images at all.
    supported_frame_images: list[str] | None = None
    generate_audio: bool = False
    seed: bool = False
    # Dollars per video second, as decimal strings: "per-video-second", or per resolution
    # "per-video-second-<resolution>" (which wins for that resolution).
    pricing_skus: dict[str, Decimal]
    # What `usage.cost` actually bills, in the same keys; None: the listed prices. It differs
    # from the listing by default so a test can tell the billed figure from an estimate.
    billed_skus: dict[str, Decimal] | None = None
    allowed_passthrough_parameters: list[str] = Field(default_factory=list)
    # The fake's stand-in for OpenRouter's continuation support (`previous_job_id`), which
    # its listing does not show: listed as `supports_continuation`.
    supports_continuation: bool = False

    @model_validator(mode="after")
    def _priced(self) -> Self:
        for resolution in self.supported_resolutions:
            for skus in (self.pricing_skus, self.billed_skus):
                if skus is not None and price_sku(skus, resolution) is None:
                    raise ValueError(f"{self.id}: no price for {resolution}")
        return self

    def price(self, resolution: str, *, billed: bool) -> Decimal:
        """Dollars per second of video at `resolution`: listed, or as usage bills it."""
        skus = self.billed_skus if billed and self.billed_skus is not None else self.pricing_skus
        sku = price_sku(skus, resolution)
        return Decimal(0) if sku is None else skus[sku]


def price_sku(skus: dict[str, Decimal], resolution: str) -> str | None:
    """The SKU that prices a second of video at `resolution`, if any."""
    for sku in (f"per-video-second-{resolution}", "per-video-second"):
        if sku in skus:
            return sku
    return None


def default_openrouter_models() -> list[OpenRouterModel]:
    """Three models with different shapes: sizes or not, per-resolution prices, continuation."""
    return [
        OpenRouterModel(
            id="alibaba/wan-2.6",
            name="Alibaba: Wan 2.6",
            supported_durations=[5, 10],
            supported_resolutions=["480p", "720p", "1080p"],
            supported_aspect_ratios=["16:9", "9:16"],
            supported_frame_images=["first_frame"],
            pricing_skus={
                "per-video-second-480p": Decimal("0.05"),
                "per-video-second-720p": Decimal("0.10"),
                "per-video-second-1080p": Decimal("0.15"),
            },
            billed_skus={
                "per-video-second-480p": Decimal("0.04"),
                "per-video-second-720p": Decimal("0.09"),
                "per-video-second-1080p": Decimal("0.14"),
            },
        ),
        OpenRouterModel(
            id="google/veo-3.1",
            name="Google: Veo 3.1",
            supported_durations=[4, 6, 8],
            supported_resolutions=["720p", "1080p"],
            supported_aspect_ratios=["16:9", "9:16"],
            supported_sizes=["1280x720", "720x1280", "1920x1080", "1080x1920"],
            supported_frame_images=["first_frame", "last_frame"],
            generate_audio=True,
            seed=True,
            pricing_skus={"per-video-second": Decimal("0.40")},
            billed_skus={"per-video-second": Decimal("0.38")},
            supports_continuation=True,
        ),
        OpenRouterModel(
            id="openai/sora-2",
            name="OpenAI: Sora 2",
            supported_durations=[4, 8, 12],
            supported_resolutions=["720p"],
            supported_aspect_ratios=["16:9", "9:16"],
            supported_sizes=["1280x720", "720x1280"],
            supported_frame_images=["first_frame"],
            generate_audio=True,
            pricing_skus={"per-video-second": Decimal("0.10")},
            billed_skus={"per-video-second": Decimal("0.09")},
        ),
    ]


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
    # The openrouter dialect's video models (GET /api/v1/videos/models, what a create may name).
    openrouter_models: list[OpenRouterModel] = Field(default_factory=default_openrouter_models)
    # Callbacks when a job ends (completed or failed). OpenRouter: to the create's
    # `callback_url`, else here (its workspace default). Every other dialect: OpenAI's webhook
    # events, here only.
    webhook_url: str | None = None
    # OpenRouter: the signing secret (its UTF-8 bytes key X-OpenRouter-Signature). The others:
    # a Standard Webhooks secret "whsec_<base64>". None: callbacks go unsigned.
    webhook_secret: str | None = None
    # Record every callback but send none, as if each one were lost on the way.
    drop_callbacks: bool = False
    # Tries per callback before it is given up (and recorded as failed), and the real seconds
    # before the first retry (doubled for each next one).
    callback_attempts: int = Field(default=3, ge=1)
    callback_retry_delay: float = Field(default=0.05, ge=0)
    # Seconds added to the signatures' timestamps (real Unix time): stale or future-dated ones.
    webhook_timestamp_offset: float = 0.0

    def openrouter_model(self, model_id: str) -> OpenRouterModel | None:
        """An OpenRouter model by id."""
        return next((m for m in self.openrouter_models if m.id == model_id), None)

    def merge(self, patch: dict[str, Any]) -> None:
        """Apply a JSON merge patch in place (lists and sets are replaced, not extended)."""
        # Validate the whole result first so a bad patch changes nothing.
        merged = type(self).model_validate({**self.model_dump(), **patch})
        for name in type(self).model_fields:
            setattr(self, name, getattr(merged, name))

    def take_fault(
        self, endpoint: str, kinds: Container[FaultKind], *, include_any: bool = True
    ) -> Fault | None:
        """Use up one application of the first fault of `kinds` aimed at `endpoint`, or draw a
        random one at `fault_rate`; `include_any=False` ignores the faults aimed at "any"."""
        aimed = {endpoint, "any"} if include_any else {endpoint}
        for fault in self.faults:
            if fault.kind in kinds and fault.endpoint in aimed:
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
