"""What a create sends: the request the engine builds and the client puts on the wire."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import aiohttp


@dataclass(frozen=True)
class ReferenceImage:
    """The image sent as `input_reference`: already fitted to the requested size."""

    data: bytes
    content_type: str
    filename: str = "reference.png"


@dataclass(frozen=True)
class CreateRequest:
    """Exactly the fields to send; None leaves a field out (strict servers reject extras).

    A `reference` image goes up as a multipart file part; a `reference_url` instead makes the
    create a JSON body with `input_reference: {"image_url": ...}` (servers fetch it themselves;
    some, LiteLLM among them, do not take that form). At most one of the two.
    In the openrouter dialect the create is always JSON: the reference becomes the first of
    `frame_images` (the URL, or the image as a data URL), and `callback_url` is sent when set
    (the openai dialect never sends it: the protocol has no such field).
    """

    prompt: str
    model: str | None = None
    size: str | None = None
    seconds: str | None = None
    reference: ReferenceImage | None = None
    reference_url: str | None = None
    callback_url: str | None = None
    # OpenRouter: the size as "WxH" (`size`), or as `resolution` + `aspect_ratio`.
    size_as: Literal["size", "resolution"] = "size"

    def __post_init__(self) -> None:
        if self.reference is not None and self.reference_url is not None:
            raise ValueError("a create takes a reference image or a reference URL, not both")
        if self.reference_url is not None and not self.reference_url.strip():
            raise ValueError("the reference URL is empty")
        if self.callback_url is not None and not self.callback_url.strip():
            raise ValueError("the callback URL is empty")

    @property
    def is_json(self) -> bool:
        """Whether the create goes out as JSON (a reference by URL) rather than multipart."""
        return self.reference_url is not None

    def json_body(self) -> dict[str, Any]:
        """The JSON body (CreateVideoJsonBody in the spec): only the fields that are set."""
        body: dict[str, Any] = {"prompt": self.prompt}
        if self.model is not None:
            body["model"] = self.model
        if self.size is not None:
            body["size"] = self.size
        if self.seconds is not None:
            body["seconds"] = self.seconds
        if self.reference_url is not None:
            body["input_reference"] = {"image_url": self.reference_url}
        return body

    def form(self) -> aiohttp.FormData:
        # Multipart even without a file: some servers accept nothing else, the spec allows it.
        form = aiohttp.FormData(default_to_multipart=True)
        form.add_field("prompt", self.prompt)
        if self.model is not None:
            form.add_field("model", self.model)
        if self.size is not None:
            form.add_field("size", self.size)
        if self.seconds is not None:
            form.add_field("seconds", self.seconds)
        if self.reference is not None:
            form.add_field(
                "input_reference",
                self.reference.data,
                content_type=self.reference.content_type,
                filename=self.reference.filename,
            )
        return form
