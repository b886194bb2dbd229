"""`video-bot models discover`: ask a provider which video models it serves, show them, and
optionally refresh the catalogue file with them.

What a provider can say depends on what it is:
- OpenRouter (`dialect = "openrouter"`): `GET /videos/models` has sizes (or resolutions and
  aspect ratios), durations and prices per second.
- A LiteLLM proxy (it answers `GET /model_group/info`): the video model groups, their price per
  second and their retirement (`deprecation_date`, `successor_model`); `GET /models` is read
  as a cross-check.
- Any other server: `GET /models` has ids only; sizes and durations are the Sora line-up's,
  marked as guesses to check.

Read-only: nothing is created at the provider. Its key is sent as the bot sends it and never
shown; an error is one line, without the server's words (which could echo the key).
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import aiohttp

from bot.catalogue import (
    DEFAULT_PROVIDER,
    MAX_CHOICES,
    MAX_SIDE,
    Catalogue,
    CatalogueError,
    ModelSpec,
    default_catalogue,
    load_catalogue,
)
from bot.config import Provider, Settings
from bot.observability.redaction import default_redactor, redact, strip_url_credentials
from bot.terminal.catalogue_writer import Entry, Found, WriteError, merge, write_catalogue
from bot.terminal.unreachable import why_unreachable

PROG = "video-bot models discover"
# No listing is this large; a bigger answer is not a listing.
MAX_ANSWER = 16 * 1024 * 1024
# What a server without a listing of sizes and durations is assumed to take: the Sora line-up.
_SORA = default_catalogue().default
_SIZE = re.compile(r"^[1-9][0-9]{1,4}x[1-9][0-9]{1,4}$")
_RATIO = re.compile(r"^([1-9][0-9]{0,2}):([1-9][0-9]{0,2})$")
_RESOLUTION = re.compile(r"^([1-9][0-9]{2,3})p$")
_NAMED_RESOLUTIONS = {"2k": 1440, "4k": 2160}
# A resolution inside a price key: "per-video-second-1080p", "output_cost_per_second_4k".
_RESOLUTION_IN_KEY = re.compile(r"(?<![a-z0-9])(?:([1-9][0-9]{2,3})p|([24])k)(?![a-z0-9])")
# What the provider is, by the listing that answered.
Source = Literal["openrouter", "litellm", "models"]
_SOURCES: Mapping[Source, str] = {
    "openrouter": "OpenRouter's GET /videos/models",
    "litellm": "the LiteLLM proxy's GET /model_group/info",
    "models": "GET /models (ids only)",
}


class DiscoverError(Exception):
    """Discovery failed; the message is one line and never holds the key."""


@dataclass(frozen=True)
class DiscoverOptions:
    """What `video-bot models discover` was asked."""

    provider: str = DEFAULT_PROVIDER
    write: Path | None = None
    quiet: bool = False


@dataclass
class Discovery:
    """The video models one provider lists, and what was noticed on the way."""

    provider: str
    source: Source
    models: list[Found]
    notes: list[str] = field(default_factory=list)


def run_discover(settings: Settings, options: DiscoverOptions) -> int:
    """The command: the table on stdout, warnings and the one-line error on stderr."""
    try:
        lines, warnings = asyncio.run(_discover(settings, options))
    except DiscoverError as exc:
        print(f"{PROG}: {redact(str(exc))}", file=sys.stderr)
        return 2
    if not options.quiet:
        print("\n".join(lines))
    for warning in warnings:
        print(f"{PROG}: warning: {redact(warning)}", file=sys.stderr)
    return 0


async def _discover(settings: Settings, options: DiscoverOptions) -> tuple[list[str], list[str]]:
    catalogue = settings.catalogue()
    provider = provider_for(settings, catalogue, options.provider)
    discovery = await discover(provider, key_hint(catalogue, provider.name), settings)
    target = options.write or settings.catalogue_file
    document = _document(target) if target is not None else {}
    spec = catalogue.provider(provider.name)
    block = None if spec is None else spec.model_dump(mode="json", exclude_defaults=True)
    today = datetime.now(UTC).date()
    # A bare GET /models lists every model of the server, chat models too: its ids are added
    # on the first discovery only, so that what the operator pruned stays pruned.
    first = not any(
        m.get("provider", DEFAULT_PROVIDER) == provider.name for m in document.get("models", [])
    )
    add_new = discovery.source != "models" or first
    merged = merge(document, provider.name, block, discovery.models, today=today, add_new=add_new)
    warnings = [*discovery.notes, *merged.notes]
    if merged.unlisted:
        warnings.append(
            f"{provider.name} no longer lists {', '.join(merged.unlisted)}: kept in the "
            "catalogue; remove them by hand when they are gone for good"
        )
    lines = table(discovery, merged.entries)
    if merged.not_added:
        lines.append(
            f"also listed, not added (GET /models does not say which models make videos): "
            f"{', '.join(merged.not_added)}"
        )
    if options.write is not None:
        try:
            changed = write_catalogue(options.write, merged.document)
        except WriteError as exc:
            raise DiscoverError(str(exc)) from None
        new = sum(entry.status == "new" for entry in merged.entries)
        refreshed = len(merged.entries) - new
        lines.append(
            f"wrote {options.write}: {new} new, {refreshed} refreshed"
            if changed
            else f"{options.write} is up to date"
        )
    return lines, warnings


def provider_for(settings: Settings, catalogue: Catalogue, name: str) -> Provider:
    """The provider called `name`, its key read as the bot reads it."""
    if name != DEFAULT_PROVIDER and catalogue.provider(name) is None:
        known = ", ".join([DEFAULT_PROVIDER, *sorted(catalogue.providers)])
        raise DiscoverError(f"unknown provider {name!r}; the catalogue has: {known}")
    spec = catalogue.provider(name)
    # Settings.providers() reads the secrets of the providers models use; a provider that
    # serves no model yet (the first discovery) is read through a catalogue of one model.
    probe = Catalogue(
        providers={} if spec is None else {name: spec},
        models=(ModelSpec(name="discover", provider=name, sizes=_SORA.sizes, seconds=(4,)),),
    )
    provider = settings.providers(probe)[name]
    if provider.api_key is not None:
        default_redactor.register(provider.api_key.get_secret_value())
    return provider


def key_hint(catalogue: Catalogue, name: str) -> str:
    """Where the provider's key comes from, for the message of a refused one."""
    spec = catalogue.provider(name)
    if spec is None:
        return "check OPENAI_API_KEY"
    if spec.api_key_env is None:
        return f"[providers.{name}] names no api_key_env: add the variable that holds its key"
    return f"check {spec.api_key_env}"


# -- asking the provider --------------------------------------------------------------------


async def discover(provider: Provider, key_hint: str, settings: Settings) -> Discovery:
    """The provider's video models, by the listing it has."""
    headers = {"Accept": "application/json"}
    if provider.api_key is not None:
        headers["Authorization"] = f"Bearer {provider.api_key.get_secret_value()}"
    timeout = aiohttp.ClientTimeout(
        total=settings.request_timeout, sock_connect=settings.connect_timeout
    )
    async with aiohttp.ClientSession(headers=headers, timeout=timeout) as session:
        reader = _Reader(session, key_hint, settings.request_timeout)
        base = provider.base_url
        if provider.dialect == "openrouter":
            payload = await reader.json(f"{base}/videos/models")
            models, notes = openrouter_models(payload)
            return Discovery(provider.name, "openrouter", models, notes)
        root = base.removesuffix("/v1")
        groups = await reader.json(f"{root}/model_group/info", probing=True)
        if isinstance(groups, dict) and isinstance(groups.get("data"), list):
            models, notes = litellm_models(groups)
            try:
                listed = model_ids(await reader.json(f"{base}/models"))
            except DiscoverError as exc:
                notes.append(f"could not cross-check with GET /models: {exc}")
            else:
                notes.extend(
                    f"{m.api_model} is a model group but GET /models does not list it: this "
                    "key may not reach it"
                    for m in models
                    if m.api_model not in listed
                )
            return Discovery(provider.name, "litellm", models, notes)
        ids = model_ids(await reader.json(f"{base}/models"))
        models = [
            Found(i, _SORA.sizes, _SORA.seconds, sizes_listed=False, seconds_listed=False)
            for i in ids
        ]
        return Discovery(provider.name, "models", models)


_NOT_THERE = frozenset({404, 405, 501})


class _Reader:
    """GETs that answer JSON or raise a DiscoverError in the operator's words."""

    def __init__(self, session: aiohttp.ClientSession, key_hint: str, seconds: float) -> None:
        self._session = session
        self._key_hint = key_hint
        self._seconds = seconds

    async def json(self, url: str, *, probing: bool = False) -> Any:
        """The answer to GET url; with `probing`, None when the server has no such route
        (or answers it with something other than JSON)."""
        shown = strip_url_credentials(url)
        try:
            # Redirects are not followed: they would carry the key to wherever they point.
            async with self._session.get(url, allow_redirects=False) as response:
                status = response.status
                if status in (401, 403):
                    raise DiscoverError(
                        f"GET {shown} refused the key (HTTP {status}): {self._key_hint}"
                    )
                if probing and status in _NOT_THERE:
                    return None
                if status in _NOT_THERE:
                    raise DiscoverError(
                        f"GET {shown} answered HTTP {status}: the server has no such listing; "
                        "check the provider's base_url, or write its models by hand"
                    )
                if not 200 <= status < 300:
                    raise DiscoverError(f"GET {shown} answered HTTP {status}")
                kind = response.content_type
                body = await _body(response, shown)
        except aiohttp.ClientConnectorError as exc:
            raise DiscoverError(f"cannot reach {shown} ({why_unreachable(exc)})") from None
        except TimeoutError:
            raise DiscoverError(f"GET {shown}: no answer within {self._seconds:g} s") from None
        except aiohttp.ClientError as exc:
            raise DiscoverError(f"GET {shown} failed ({type(exc).__name__})") from None
        try:
            return json.loads(body, parse_float=Decimal, parse_constant=_not_a_number)
        except (ValueError, RecursionError):
            if probing:
                return None
            raise DiscoverError(
                f"GET {shown} answered {kind or 'something'} that is not JSON; is the "
                "provider's base_url right?"
            ) from None


async def _body(response: aiohttp.ClientResponse, shown: str) -> bytes:
    body = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > MAX_ANSWER:
            raise DiscoverError(f"GET {shown} answered more than {MAX_ANSWER >> 20} MiB")
    return bytes(body)


def _not_a_number(word: str) -> Any:
    raise ValueError(f"{word} is not a JSON number")


def _data(payload: Any, what: str) -> list[Any]:
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
        raise DiscoverError(f"{what} answered JSON without a `data` list")
    data: list[Any] = payload["data"]
    return data


def model_ids(payload: Any) -> list[str]:
    """The ids of a `GET /models` answer, in its order, each once."""
    ids = (e.get("id") for e in _data(payload, "GET /models") if isinstance(e, dict))
    return list(dict.fromkeys(i.strip() for i in ids if isinstance(i, str) and i.strip()))


# -- reading the listings -------------------------------------------------------------------


def openrouter_models(payload: Any) -> tuple[list[Found], list[str]]:
    """OpenRouter's video models, with the sizes, durations and prices it lists."""
    models: list[Found] = []
    notes: list[str] = []
    seen: set[str] = set()
    for entry in _data(payload, "GET /videos/models"):
        model_id = _text(entry.get("id")) if isinstance(entry, dict) else None
        if model_id is None or model_id in seen:
            continue
        seen.add(model_id)
        exact = _sizes(entry.get("supported_sizes"))
        sizes = exact or derive_sizes(
            _texts(entry.get("supported_resolutions")), _texts(entry.get("supported_aspect_ratios"))
        )
        seconds = _durations(entry.get("supported_durations"))
        if not sizes or not seconds:
            lacking = "size written as WIDTHxHEIGHT" if not sizes else "whole-second duration"
            notes.append(f"{model_id} skipped: it lists no {lacking}")
            continue
        price, by_size = per_second(_prices(entry.get("pricing_skus")), sizes)
        # Without exact sizes the model takes a resolution and an aspect ratio instead.
        size_field: dict[str, bool | str] = {} if exact else {"size_field": "resolution"}
        # The listing does not show continuation (`previous_job_id`, which remix and extend
        # use); OpenRouter has no delete and no thumbnail variant.
        continues = entry.get("supports_continuation") is True
        models.append(
            Found(
                model_id,
                sizes,
                seconds,
                label=_label(entry.get("name")),
                price_per_second=price,
                price_per_second_by_size=by_size,
                capabilities={
                    "thumbnail": False,
                    "delete": False,
                    "remix": continues,
                    "extensions": continues,
                    **size_field,
                },
            )
        )
    return models, notes


def litellm_models(payload: Any) -> tuple[list[Found], list[str]]:
    """The video model groups of a LiteLLM proxy, with prices and retirements."""
    models: list[Found] = []
    notes: list[str] = []
    seen: set[str] = set()
    for entry in _data(payload, "GET /model_group/info"):
        if not isinstance(entry, dict) or "video" not in str(entry.get("mode") or "").lower():
            continue
        group = _text(entry.get("model_group"))
        if group is None or group in seen:
            continue
        seen.add(group)
        sizes = _sizes(entry.get("supported_sizes")) or derive_sizes(
            _texts(entry.get("supported_resolutions")), _texts(entry.get("supported_aspect_ratios"))
        )
        seconds = _durations(entry.get("supported_durations") or entry.get("supported_seconds"))
        skus = {
            key: value
            for key, value in entry.items()
            if key.startswith("output_cost_per") and "audio" not in key and "token" not in key
        }
        price, by_size = per_second(_prices(skus), sizes or _SORA.sizes)
        models.append(
            Found(
                group,
                sizes or _SORA.sizes,
                seconds or _SORA.seconds,
                sizes_listed=bool(sizes),
                seconds_listed=bool(seconds),
                price_per_second=price,
                price_per_second_by_size=by_size,
                retires_on=_day(entry.get("deprecation_date")),
                successor=_label(entry.get("successor_model")),
            )
        )
    return models, notes


def derive_sizes(resolutions: Sequence[str], ratios: Sequence[str]) -> tuple[str, ...]:
    """WIDTHxHEIGHT from resolution and aspect ratio: 720p 16:9 is 1280x720, 480p 16:9 is
    854x480 (the long side rounded to an even number, as encoders want). What cannot be
    derived is left out."""
    shapes = [(int(m[1]), int(m[2])) for r in ratios if (m := _RATIO.match(r.strip()))]
    sizes: list[str] = []
    for resolution in resolutions:
        written = resolution.strip().lower()
        if _is_size(written):
            sizes.append(written)
            continue
        match = _RESOLUTION.match(written)
        short = int(match[1]) if match else _NAMED_RESOLUTIONS.get(written)
        if short is None:
            continue
        for across, down in shapes or [(16, 9), (9, 16)]:
            long = _even(Fraction(short * max(across, down), min(across, down)))
            width, height = (long, short) if across > down else (short, long)
            if _is_size(f"{width}x{height}"):
                sizes.append(f"{width}x{height}")
    return tuple(dict.fromkeys(sizes))[:MAX_CHOICES]


def per_second(
    prices: Mapping[str, Decimal], sizes: Sequence[str]
) -> tuple[Decimal | None, dict[str, Decimal]]:
    """The price per second and the sizes priced otherwise, from price keys that mention a
    second ("per-video-second", "per-video-second-1080p", "output_cost_per_second_720p").

    A key naming a resolution prices the sizes of that height. Where keys disagree (with and
    without audio, several upstreams) the highest wins: an estimate must not fall short.
    """
    flat: list[Decimal] = []
    by_short: dict[int, Decimal] = {}
    for key, value in prices.items():
        lowered = key.lower()
        if "second" not in lowered or "input" in lowered:
            continue
        match = _RESOLUTION_IN_KEY.search(lowered)
        if match is None:
            flat.append(value)
            continue
        short = int(match[1]) if match[1] else _NAMED_RESOLUTIONS[f"{match[2]}k"]
        by_short[short] = max(value, by_short.get(short, value))
    price = max(flat) if flat else None
    by_size = {s: by_short[_short_side(s)] for s in sizes if _short_side(s) in by_short}
    if price is None and by_size:
        price = max(by_size.values())
    return price, {s: p for s, p in by_size.items() if p != price}


def _prices(raw: Any) -> dict[str, Decimal]:
    if not isinstance(raw, dict):
        return {}
    prices: dict[str, Decimal] = {}
    for key, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            continue
        try:
            price = Decimal(str(value).strip())
        except InvalidOperation:
            continue
        if price.is_finite() and 0 <= price <= 1000:
            prices[str(key)] = price
    return prices


def _sizes(raw: Any) -> tuple[str, ...]:
    sizes = (s.strip().lower() for s in _texts(raw))
    return tuple(dict.fromkeys(s for s in sizes if _is_size(s)))[:MAX_CHOICES]


def _durations(raw: Any) -> tuple[int, ...]:
    found: list[int] = []
    for value in raw if isinstance(raw, list) else []:
        number = int(value) if isinstance(value, str) and value.strip().isdigit() else value
        if isinstance(number, int) and not isinstance(number, bool) and 1 <= number <= 600:
            found.append(number)
    return tuple(dict.fromkeys(found))[:MAX_CHOICES]


def _is_size(text: str) -> bool:
    if not _SIZE.match(text):
        return False
    width, _, height = text.partition("x")
    return int(width) <= MAX_SIDE and int(height) <= MAX_SIDE


def _short_side(size: str) -> int:
    width, _, height = size.partition("x")
    return min(int(width), int(height))


def _even(value: Fraction) -> int:
    return round(value / 2) * 2


def _texts(raw: Any) -> list[str]:
    return [v for v in raw if isinstance(v, str)] if isinstance(raw, list) else []


def _text(raw: Any) -> str | None:
    return raw.strip() if isinstance(raw, str) and raw.strip() else None


def _label(raw: Any) -> str | None:
    text = _text(raw)
    return None if text is None else text[:100].rstrip()


def _day(raw: Any) -> date | None:
    text = _text(raw)
    try:
        return None if text is None else date.fromisoformat(text[:10])
    except ValueError:
        return None


# -- the table ------------------------------------------------------------------------------


def table(discovery: Discovery, entries: Iterable[Entry]) -> list[str]:
    """The provider's video models as the catalogue will hold them, one line each."""
    heading = f"{discovery.provider}: video models from {_SOURCES[discovery.source]}"
    rows = [_row(entry) for entry in entries]
    if not rows:
        return [heading, "(none)"]
    header = ("name", "api_model", "sizes", "durations", "price/s", "retires_on → successor")
    lines = [heading, *_columns([header, *rows])]
    if any(mark for row in rows for mark in (row[2], row[3]) if mark.endswith(" *")):
        lines.append(
            "* a guess (the Sora line-up): the provider does not list these; check them and "
            "correct them in the catalogue"
        )
    return lines


def _row(entry: Entry) -> tuple[str, ...]:
    model, found = entry.model, entry.found
    # A guess is marked where it is shown; a refreshed model keeps the operator's values.
    new = entry.status == "new"
    sizes = ",".join(model["sizes"]) + (" *" if new and not found.sizes_listed else "")
    seconds = ",".join(str(s) for s in model["seconds"]) + " s"
    seconds += " *" if new and not found.seconds_listed else ""
    return (
        str(model["name"]),
        found.api_model,
        sizes,
        seconds,
        _price(model, found),
        _retirement(model),
    )


def _price(model: Mapping[str, Any], found: Found) -> str:
    prices = [Decimal(str(model.get("price_per_second", 0)))]
    prices.extend(Decimal(str(p)) for p in dict(model.get("price_per_second_by_size", {})).values())
    low, high = min(prices), max(prices)
    if found.price_per_second is None and high == 0:
        return "0 (not listed)"
    return f"{low}" if low == high else f"{low}-{high} by size"


def _retirement(model: Mapping[str, Any]) -> str:
    retires = model.get("retires_on")
    if retires is None:
        return "-"
    successor = model.get("successor")
    return f"{retires} → {successor}" if successor else f"{retires}"


def _columns(rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _document(path: Path) -> dict[str, Any]:
    """The catalogue file as the operator wrote it, checked; {} when there is none yet."""
    if not path.exists():
        return {}
    try:
        load_catalogue(path)
        parsed: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except CatalogueError as exc:
        raise DiscoverError(f"{exc}; fix it before discovering into it") from None
    except OSError as exc:
        raise DiscoverError(f"cannot read {path}: {exc.strerror}") from None
    return parsed
