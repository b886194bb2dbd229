"""The model catalogue: which providers the bot reaches, which models they serve, their sizes,
durations, prices, retirements and fallbacks.

The defaults reproduce OpenAI's Sora 2 line-up on one provider, `default` (OPENAI_BASE_URL); an
operator with other servers (OpenRouter, Veo behind LiteLLM, Wan on vLLM-Omni, ...) describes them
in a TOML file: `[providers.NAME]` blocks, and `[[models]]` that each name their provider.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot import i18n
from bot.i18n import _, ngettext

_T = TypeVar("_T")

SecondsFormat = Literal["string", "int", "float"]
# How a reference image reaches the server: a multipart file part, or a URL in a JSON body.
ReferenceMode = Literal["upload", "image_url"]

# The wire protocol a provider speaks: "openai" covers every server of the OpenAI Videos protocol
# (with the deviations the client tolerates); "openrouter" is OpenRouter's own video API.
ProviderDialect = Literal["openai", "openrouter"]
# The provider of OPENAI_BASE_URL / OPENAI_API_KEY, used by every model that names none.
DEFAULT_PROVIDER = "default"
_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
# From this many days before a model's `retires_on`, the admin view, doctor and log warn.
RETIREMENT_WARNING = timedelta(days=14)
# Models a catalogue may hold: beyond Discord's 25 choices the option becomes an autocomplete.
MAX_MODELS = 500
_SIZE_PATTERN = re.compile(r"^[1-9][0-9]{1,4}x[1-9][0-9]{1,4}$")
# No video server makes frames larger than this on a side; a bigger "size" is a typo.
MAX_SIDE = 4096
# Discord offers at most 25 choices for an option (and 25 entries in a select menu): more would
# silently be impossible to choose, so the catalogue refuses them.
MAX_CHOICES = 25
# The spec's `seconds` enum for an extension segment; its description allows up to 20.
DEFAULT_EXTENSION_SECONDS = (4, 8, 12)
MAX_EXTENSION_SECONDS = 20


class CatalogueError(ValueError):
    """The catalogue file is missing, unreadable or inconsistent."""


class RequestRejected(ValueError):  # noqa: N818 - a rejection, not a crash
    """A request does not fit the catalogue; the message lists what is allowed."""


class ProviderSpec(BaseModel):
    """One server the bot reaches: its protocol, address and where its secrets are read from.

    Secrets never sit in the file: `api_key_env` and `webhook_secret_env` name environment
    variables (bot/config.py reads them at start-up and refuses one that is unset or empty).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    dialect: ProviderDialect = "openai"
    base_url: str = Field(min_length=1, max_length=2000)
    # Unset: no Authorization header (a self-hosted server without keys).
    api_key_env: str | None = Field(default=None, min_length=1, max_length=200)
    # Set: the provider calls back (POST /provider-webhooks/NAME), signed with this secret.
    webhook_secret_env: str | None = Field(default=None, min_length=1, max_length=200)
    # Connections to this provider at once, within the one HTTP session.
    max_connections: int = Field(default=16, ge=1, le=1000)
    # Retries of a failed read (a create is never retried once it may have left).
    max_retries: int | None = Field(default=None, ge=0, le=20)

    @field_validator("base_url")
    @classmethod
    def _base_url_is_http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        if "@" in value.split("/", 3)[2]:
            raise ValueError("base_url must not contain credentials; name them in api_key_env")
        return value.rstrip("/")


class ModelSpec(BaseModel):
    """One model the bot offers, and how to ask the server for it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100)
    # Which `[providers.NAME]` serves it; "default": OPENAI_BASE_URL.
    provider: str = DEFAULT_PROVIDER
    # Other catalogue models tried in order when this one provably never started a job or the
    # provider reports its own failure (never on an unknown outcome, never on a refusal).
    fallbacks: tuple[str, ...] = Field(default=(), max_length=10)
    # The provider retires the model on this day: warned of 14 days before, refused from then.
    retires_on: date | None = None
    successor: str | None = Field(default=None, min_length=1, max_length=100)
    # What goes into the `model` field on the wire; None leaves the field out for servers
    # that serve one model and reject any name (vLLM-Omni) or name deployments (Azure).
    api_model: str | None = None
    send_model: bool = True
    label: str | None = Field(default=None, max_length=100)
    sizes: tuple[str, ...] = Field(min_length=1, max_length=25)
    seconds: tuple[int, ...] = Field(min_length=1, max_length=25)
    default_size: str | None = None
    default_seconds: int | None = None
    seconds_format: SecondsFormat = "string"
    send_size: bool = True
    send_seconds: bool = True
    price_per_second: Decimal = Field(default=Decimal("0"), ge=0, le=1000)
    # The server has a `thumbnail` variant of the content; without one (or when it fails) the
    # bot takes a frame of the video with ffmpeg.
    thumbnail: bool = True
    price_per_second_by_size: dict[str, Decimal] = Field(default_factory=dict)
    # Optional operations the server offers for this model (`video-bot doctor` checks them).
    # `POST /videos/{id}/remix`: a new video from a finished one with a new prompt.
    remix: bool = True
    # `POST /videos/extensions`: a finished video continued by one of `extension_seconds`.
    extensions: bool = True
    extension_seconds: tuple[int, ...] = Field(
        default=DEFAULT_EXTENSION_SECONDS, min_length=1, max_length=MAX_CHOICES
    )
    # OpenRouter: how the size is sent: "size" ("1280x720"), or "resolution" ("720p" with
    # an `aspect_ratio` of "16:9") for models whose listing names no exact sizes.
    size_field: Literal["size", "resolution"] = "size"
    # "upload": the reference image as a multipart file part (works everywhere);
    # "image_url": its URL as `input_reference: {image_url}` in a JSON body.
    reference: ReferenceMode = "upload"
    # `DELETE /videos/{id}`: the server deletes a finished video's assets.
    delete: bool = True

    @field_validator("sizes")
    @classmethod
    def _sizes_look_like_sizes(cls, sizes: tuple[str, ...]) -> tuple[str, ...]:
        for size in sizes:
            if not _SIZE_PATTERN.match(size):
                raise ValueError(f"size {size!r} is not WIDTHxHEIGHT, e.g. 1280x720")
            width, _, height = size.partition("x")
            if int(width) > MAX_SIDE or int(height) > MAX_SIDE:
                raise ValueError(f"size {size!r} is larger than {MAX_SIDE} pixels on a side")
        return sizes

    @field_validator("price_per_second_by_size")
    @classmethod
    def _prices_not_negative(cls, prices: dict[str, Decimal]) -> dict[str, Decimal]:
        for size, price in prices.items():
            if price < 0 or price > 1000:
                raise ValueError(f"the price for {size} must be between 0 and 1000 per second")
        return prices

    @field_validator("seconds")
    @classmethod
    def _seconds_positive(cls, seconds: tuple[int, ...]) -> tuple[int, ...]:
        if any(s <= 0 or s > 600 for s in seconds):
            raise ValueError("seconds must be between 1 and 600")
        return seconds

    @field_validator("extension_seconds")
    @classmethod
    def _extension_seconds_in_range(cls, seconds: tuple[int, ...]) -> tuple[int, ...]:
        if any(s <= 0 or s > MAX_EXTENSION_SECONDS for s in seconds):
            raise ValueError(f"extension_seconds must be between 1 and {MAX_EXTENSION_SECONDS}")
        if len(set(seconds)) != len(seconds):
            raise ValueError("extension_seconds must not repeat a value")
        return seconds

    @model_validator(mode="after")
    def _defaults_are_offered(self) -> ModelSpec:
        if self.default_size is not None and self.default_size not in self.sizes:
            raise ValueError(f"default_size {self.default_size} is not one of its sizes")
        if self.default_seconds is not None and self.default_seconds not in self.seconds:
            raise ValueError(f"default_seconds {self.default_seconds} is not one of its seconds")
        return self

    @property
    def wire_model(self) -> str | None:
        """The `model` value to send, or None to leave the field out."""
        if not self.send_model:
            return None
        return self.api_model or self.name

    @property
    def display_name(self) -> str:
        return self.label or self.name

    @property
    def size_default(self) -> str:
        return self.default_size or self.sizes[0]

    @property
    def seconds_default(self) -> int:
        return self.default_seconds or self.seconds[0]

    def retires_within(self, today: date) -> int | None:
        """Days until the model retires when that is within the warning window (0: retired)."""
        if self.retires_on is None or today < self.retires_on - RETIREMENT_WARNING:
            return None
        return max(0, (self.retires_on - today).days)

    def is_retired(self, today: date) -> bool:
        return self.retires_on is not None and today >= self.retires_on

    def retirement_note(self, today: date) -> str | None:
        """ "veo-3.1-preview retires on 2026-10-22 (in 5 days); its successor is veo-3.1." """
        days = self.retires_within(today)
        if days is None or self.retires_on is None:
            return None
        words = {"model": self.display_name, "date": self.retires_on.isoformat()}
        if days == 0 and self.successor:
            # TRANSLATORS: {model} and {successor} are model names, {date} a date (2026-10-22).
            return _(
                "{model} retired on {date}; its successor is {successor}",
                successor=self.successor,
                **words,
            )
        if days == 0:
            return _("{model} retired on {date}", **words)
        if self.successor:
            return ngettext(
                "{model} retires on {date} (in {n} day); its successor is {successor}",
                "{model} retires on {date} (in {n} days); its successor is {successor}",
                days,
                successor=self.successor,
                **words,
            )
        return ngettext(
            "{model} retires on {date} (in {n} day)",
            "{model} retires on {date} (in {n} days)",
            days,
            **words,
        )

    def price_per_second_for(self, size: str) -> Decimal:
        return self.price_per_second_by_size.get(size, self.price_per_second)

    def estimated_cost(self, size: str, seconds: int) -> Decimal:
        return self.price_per_second_for(size) * seconds

    def seconds_on_wire(self, seconds: int) -> str:
        """Text of the `seconds` form field in the format this server parses."""
        if self.seconds_format == "float":
            return f"{float(seconds)}"
        return str(seconds)


class Catalogue(BaseModel):
    """The ordered set of models on offer, with the default one first."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default_model: str | None = None
    providers: dict[str, ProviderSpec] = Field(default_factory=dict)
    # Empty only while a new catalogue waits for `video-bot models discover --write` to fill it
    # (every other command refuses it: bot/config.py).
    models: tuple[ModelSpec, ...] = Field(default=(), max_length=MAX_MODELS)

    @model_validator(mode="after")
    def _consistent(self) -> Catalogue:
        names = [m.name for m in self.models]
        if len(set(names)) != len(names):
            raise ValueError("model names must be unique")
        if self.default_model is not None and self.default_model not in names:
            raise ValueError(f"default_model {self.default_model} is not in models")
        for provider in self.providers:
            if provider == DEFAULT_PROVIDER:
                raise ValueError(
                    "providers.default is the provider of OPENAI_BASE_URL and OPENAI_API_KEY; "
                    "give this block another name"
                )
            if not _NAME_PATTERN.match(provider):
                raise ValueError(
                    f"provider name {provider!r}: use lower-case letters, digits, - and _"
                )
        for model in self.models:
            if model.provider != DEFAULT_PROVIDER and model.provider not in self.providers:
                raise ValueError(
                    f"model {model.name} names provider {model.provider!r}, which has no "
                    f"[providers.{model.provider}] block"
                )
            for fallback in model.fallbacks:
                if fallback == model.name:
                    raise ValueError(f"model {model.name} names itself as a fallback")
                if fallback not in names:
                    raise ValueError(
                        f"model {model.name} names fallback {fallback!r}, which is not a model"
                    )
        # Frozen, but still being built: the OpenRouter defaults go in before anyone reads it.
        object.__setattr__(self, "models", tuple(self._dialect_defaults(m) for m in self.models))
        return self

    def _dialect_defaults(self, model: ModelSpec) -> ModelSpec:
        """OpenRouter has no thumbnails, deletes or remix/extension routes: a model continues
        a video (`previous_job_id`) only where the catalogue says it may."""
        provider = self.providers.get(model.provider)
        if provider is None or provider.dialect != "openrouter":
            return model
        unset = {"remix", "extensions", "delete", "thumbnail"} - model.model_fields_set
        if not unset:
            return model
        return model.model_copy(update=dict.fromkeys(unset, False))

    def provider_names(self) -> list[str]:
        """The providers some model uses, `default` first when it is one of them."""
        used = _unique(m.provider for m in self.models)
        return sorted(used, key=lambda name: name != DEFAULT_PROVIDER)

    def provider(self, name: str) -> ProviderSpec | None:
        """A `[providers.NAME]` block; None for `default` (built from settings)."""
        return self.providers.get(name)

    def retiring(self, today: date) -> list[tuple[ModelSpec, int]]:
        """Models that retire within the warning window or have retired, with days left."""
        found = [(m, m.retires_within(today)) for m in self.models]
        return [(m, days) for m, days in found if days is not None]

    @property
    def default(self) -> ModelSpec:
        return self.get(self.default_model) if self.default_model else self.models[0]

    def names(self) -> list[str]:
        return [m.name for m in self.models]

    def get(self, name: str) -> ModelSpec:
        for spec in self.models:
            if spec.name == name:
                return spec
        # TRANSLATORS: {name} is the model asked for, quoted; {models} lists model names.
        raise RequestRejected(
            _(
                "Unknown model {name}. Available: {models}.",
                name=repr(name),
                models=_listed(self.names()),
            )
        )

    def all_sizes(self) -> list[str]:
        return _unique(size for m in self.models for size in m.sizes)

    def all_seconds(self) -> list[int]:
        return sorted(_unique(s for m in self.models for s in m.seconds))

    def resolve(
        self,
        model: str | None,
        size: str | None,
        seconds: int | None,
        *,
        today: date | None = None,
    ) -> tuple[ModelSpec, str, int]:
        """Fill defaults and check the combination; raises RequestRejected naming what fits.

        With `today`, a model past its `retires_on` is refused, naming its successor.
        """
        spec = self.get(model) if model else self.default
        if today is not None and spec.is_retired(today):
            words = {"model": spec.display_name, "date": str(spec.retires_on)}
            if spec.successor:
                # TRANSLATORS: {model} and {successor} are model names, {date} a date.
                raise RequestRejected(
                    _(
                        "{model} was retired by its provider on {date}. Use {successor} instead.",
                        successor=spec.successor,
                        **words,
                    )
                )
            raise RequestRejected(_("{model} was retired by its provider on {date}.", **words))
        chosen_size = size or spec.size_default
        chosen_seconds = seconds if seconds is not None else spec.seconds_default
        if chosen_size not in spec.sizes:
            # TRANSLATORS: {size} is a size (1280x720); {sizes} lists the model's sizes.
            refusal = _(
                "{model} cannot make {size} videos. Sizes for {model}: {sizes}.",
                model=spec.display_name,
                size=chosen_size,
                sizes=", ".join(spec.sizes),
            )
            raise RequestRejected(
                _also(refusal, self, lambda m: chosen_size in m.sizes, chosen_size)
            )
        if chosen_seconds not in spec.seconds:
            # TRANSLATORS: {durations} lists the model's lengths ("4 s, 8 s, 12 s").
            refusal = _(
                "{model} cannot make {seconds}-second videos. Durations for {model}: {durations}.",
                model=spec.display_name,
                seconds=i18n.number(chosen_seconds),
                durations=", ".join(_seconds(s) for s in spec.seconds),
            )
            raise RequestRejected(
                _also(
                    refusal,
                    self,
                    lambda m: chosen_seconds in m.seconds,
                    _seconds(chosen_seconds),
                )
            )
        return spec, chosen_size, chosen_seconds


def _seconds(seconds: int) -> str:
    # TRANSLATORS: a length of video, "8 s".
    return _("{seconds} s", seconds=i18n.number(seconds))


def _also(refusal: str, catalogue: Catalogue, fits: Callable[[ModelSpec], bool], what: str) -> str:
    """The refusal, then the models that would make `what` where there are any."""
    others = [m.display_name for m in catalogue.models if fits(m)]
    if not others:
        return refusal
    # TRANSLATORS: {what} is a size or a length ("1792x1024", "12 s"); {models} lists models.
    also = _("{what} is available with: {models}.", what=what, models=_listed(others))
    return f"{refusal} {also}"


# A refusal names at most this many models: a catalogue of hundreds would flood the message.
_LISTED = 10


def _listed(names: list[str]) -> str:
    """The names joined, or the first ten and "… and N more"."""
    if len(names) <= _LISTED:
        return ", ".join(names)
    more = len(names) - _LISTED
    # TRANSLATORS: {names} is a list of the first ten model names.
    return ngettext(
        "{names} … and {n} more", "{names} … and {n} more", more, names=", ".join(names[:_LISTED])
    )


def _unique(items: Iterable[_T]) -> list[_T]:
    return list(dict.fromkeys(items))


_SORA_720 = ("720x1280", "1280x720")
_SORA_ALL = ("720x1280", "1280x720", "1024x1792", "1792x1024")
_SORA_SECONDS = (4, 8, 12)


def default_catalogue() -> Catalogue:
    """The seed's Sora 2 catalogue with OpenAI's published prices.

    Every optional capability (thumbnail, remix, extensions by 4/8/12 s, delete) is on, and
    references go up as files: that is what OpenAI served.
    """
    sora = {"sizes": _SORA_720, "seconds": _SORA_SECONDS, "price_per_second": Decimal("0.10")}
    pro = {
        "sizes": _SORA_ALL,
        "seconds": _SORA_SECONDS,
        "price_per_second": Decimal("0.30"),
        "price_per_second_by_size": {"1024x1792": Decimal("0.50"), "1792x1024": Decimal("0.50")},
    }
    return Catalogue.model_validate(
        {
            "default_model": "sora-2",
            "models": [
                {"name": "sora-2", **sora},
                {"name": "sora-2-pro", **pro},
                {"name": "sora-2-2025-10-06", **sora},
                {"name": "sora-2-2025-12-08", **sora},
                {"name": "sora-2-pro-2025-10-06", **pro},
            ],
        }
    )


def load_catalogue(path: Path | None) -> Catalogue:
    """Read the operator's TOML catalogue, or the defaults when no file is named."""
    if path is None:
        return default_catalogue()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogueError(f"catalogue file {path} does not exist") from None
    except OSError as exc:
        raise CatalogueError(f"catalogue file {path} cannot be read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"catalogue file {path} is not valid TOML: {exc}") from None
    try:
        return Catalogue.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise CatalogueError(f"catalogue file {path}: {where}: {first['msg']}") from None
