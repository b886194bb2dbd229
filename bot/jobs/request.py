"""A validated request for one video: what was asked, by whom, and what it should cost."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from bot.catalogue import Catalogue, ModelSpec, RequestRejected
from bot.videos import CreateRequest, ReferenceImage

MAX_PROMPT = 32000


@dataclass(frozen=True)
class Requester:
    """Who asked, and where the answer goes (ids are Discord snowflakes, kept as ints)."""

    user_id: int
    guild_id: int | None
    channel_id: int


@dataclass(frozen=True)
class VideoRequest:
    """A request that passed validation: safe to send to the provider."""

    prompt: str
    spec: ModelSpec
    size: str
    seconds: int
    requester: Requester
    reference: ReferenceImage | None = None

    @property
    def model(self) -> str:
        return self.spec.name

    @property
    def estimated_cost(self) -> Decimal:
        return self.spec.estimated_cost(self.size, self.seconds)

    def with_reference(self, reference: ReferenceImage) -> VideoRequest:
        return VideoRequest(
            self.prompt, self.spec, self.size, self.seconds, self.requester, reference
        )

    def create_request(self) -> CreateRequest:
        """Exactly the fields the operator's catalogue says this server takes."""
        return CreateRequest(
            prompt=self.prompt,
            model=self.spec.wire_model,
            size=self.size if self.spec.send_size else None,
            seconds=self.spec.seconds_on_wire(self.seconds) if self.spec.send_seconds else None,
            reference=self.reference,
        )


def validate_request(
    catalogue: Catalogue,
    requester: Requester,
    prompt: str,
    *,
    model: str | None = None,
    size: str | None = None,
    seconds: int | None = None,
) -> VideoRequest:
    """Check everything that can be checked without the provider; raise RequestRejected."""
    text = prompt.strip()
    if not text:
        raise RequestRejected("The prompt is empty. Describe the video you want.")
    if len(text) > MAX_PROMPT:
        raise RequestRejected(f"The prompt is too long ({len(text)} characters; {MAX_PROMPT} max).")
    spec, chosen_size, chosen_seconds = catalogue.resolve(model, size, seconds)
    return VideoRequest(text, spec, chosen_size, chosen_seconds, requester)
