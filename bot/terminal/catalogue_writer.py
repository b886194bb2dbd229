"""The catalogue file as `video-bot models discover --write` rewrites it: the operator's file
kept, one provider's models refreshed, the result checked with the bot's own loader and put in
place atomically.

The operator owns the file; discovery owns only what a provider can know. Another provider's
models, the `[providers.*]` blocks and `default_model` pass through untouched; a model of the
refreshed provider keeps its name, label, prices, fallbacks and every other key the operator
set, and only its sizes, durations and retirement follow the provider.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import tomli_w

from bot.catalogue import DEFAULT_PROVIDER, CatalogueError, load_catalogue

# Discord's limit on a choice value, which a model name becomes.
MAX_NAME = 100
HEADER = (
    "# The bot's model catalogue. `video-bot models discover --write` rewrites this file:\n"
    "# keep notes in the models' `label`s, comments are not kept.\n\n"
)
_NOT_IN_A_NAME = re.compile(r"[^a-z0-9.-]+")
_REPEATS = re.compile(r"([.-])[.-]+")


class WriteError(Exception):
    """The catalogue file could not be written, or the result would not load."""


@dataclass(frozen=True)
class Found:
    """A video model as the provider lists it, ready to become a `[[models]]` entry."""

    api_model: str
    sizes: tuple[str, ...]
    seconds: tuple[int, ...]
    label: str | None = None
    # False: the provider does not say, and these are the Sora line-up's, to be checked.
    sizes_listed: bool = True
    seconds_listed: bool = True
    # None: the provider lists no price.
    price_per_second: Decimal | None = None
    price_per_second_by_size: Mapping[str, Decimal] = field(default_factory=dict)
    retires_on: date | None = None
    # The provider's id of the model that replaces this one.
    successor: str | None = None
    # Capability keys the provider's listing settles for a new model (OpenRouter: no delete).
    capabilities: Mapping[str, bool | str] = field(default_factory=dict)


Status = Literal["new", "refreshed"]


@dataclass(frozen=True)
class Entry:
    """One model of the provider as the file will hold it, and what discovery did to it."""

    model: dict[str, Any]
    found: Found
    status: Status


@dataclass
class Merged:
    """The whole new document, this provider's entries, and what the operator should know."""

    document: dict[str, Any]
    entries: list[Entry]
    # Names of the provider's models in the file that it no longer lists (kept).
    unlisted: list[str]
    notes: list[str]
    # Ids the provider lists that were not added (`add_new` off).
    not_added: list[str] = field(default_factory=list)


def choice_name(api_model: str, taken: Collection[str]) -> str:
    """A model name that is a safe Discord choice value and not yet taken.

    "alibaba/wan-2.6" is "wan-2.6"; when that is taken, "alibaba-wan-2.6"; then the whole path;
    then a number is added.
    """
    parts = [part for part in api_model.split("/") if part.strip()]
    candidates = [_slug(parts[-1])] if parts else []
    if len(parts) > 1:
        candidates.append(_slug(f"{parts[-2]}-{parts[-1]}"))
        candidates.append(_slug("-".join(parts)))
    candidates = [c for c in candidates if c] or ["model"]
    for candidate in candidates:
        if candidate not in taken:
            return candidate
    base = candidates[-1]
    number = 2
    while True:
        suffix = f"-{number}"
        name = base[: MAX_NAME - len(suffix)].rstrip(".-") + suffix
        if name not in taken:
            return name
        number += 1


def _slug(text: str) -> str:
    """Lower-case letters, digits, `-` and `.`, without runs or ends of punctuation."""
    slug = _REPEATS.sub(r"\1", _NOT_IN_A_NAME.sub("-", text.strip().lower())).strip(".-")
    return slug[:MAX_NAME].rstrip(".-")


def wire_model(model: Mapping[str, Any]) -> str:
    """What a model of the file sends as `model`: its api_model, else its name."""
    return str(model.get("api_model") or model.get("name", ""))


def merge(
    document: Mapping[str, Any],
    provider: str,
    block: Mapping[str, Any] | None,
    found: Sequence[Found],
    *,
    today: date,
    add_new: bool = True,
) -> Merged:
    """The file's document with `provider`'s models refreshed from `found`, and the ones it
    does not have yet added (unless `add_new` is off).

    A model of the provider is the same model as a found one when it sends the same `model`;
    a model that sends none (`send_model = false`, a single-model server) is the one the
    server lists when each side has exactly one left over.
    """
    models: list[dict[str, Any]] = [dict(m) for m in document.get("models", [])]
    mine = [i for i, m in enumerate(models) if m.get("provider", DEFAULT_PROVIDER) == provider]
    by_wire: dict[str, list[int]] = {}
    for index in mine:
        by_wire.setdefault(wire_model(models[index]), []).append(index)
    matched: dict[int, Found] = {}
    fresh: list[Found] = []
    for model in found:
        indices = by_wire.get(model.api_model, [])
        matched.update((index, model) for index in indices)
        if not indices:
            fresh.append(model)
    silent = [i for i in mine if i not in matched and models[i].get("send_model") is False]
    if len(fresh) == 1 and len(silent) == 1:
        matched[silent[0]] = fresh.pop()
    not_added = [] if add_new else [m.api_model for m in fresh]
    fresh = fresh if add_new else []

    notes: list[str] = []
    entries: list[Entry] = []
    for index, model in matched.items():
        models[index] = _refreshed(models[index], model, notes)
    taken = {str(m.get("name")) for m in models}
    added: list[dict[str, Any]] = []
    for model in fresh:
        if model.retires_on is not None and model.retires_on <= today:
            notes.append(
                f"{model.api_model} was retired on {model.retires_on.isoformat()}: not added"
            )
            continue
        new = _new(model, choice_name(model.api_model, taken), provider)
        taken.add(new["name"])
        added.append(new)
    where = mine[-1] + 1 if mine else len(models)
    models[where:where] = added

    for index in sorted(matched):
        entries.append(Entry(models[index], matched[index], "refreshed"))
    by_id = {m.api_model: m for m in fresh}
    entries.extend(Entry(m, by_id[m["api_model"]], "new") for m in added)
    # The provider names a successor by its id: written as the catalogue's name for that model
    # when the catalogue has it, else as the id (the retirement note shows it either way).
    names = {wire_model(m): str(m["name"]) for m in models}
    for entry in entries:
        successor = entry.found.successor
        if successor is not None:
            entry.model["successor"] = names.get(successor, successor)
    unlisted = [str(models[i].get("name")) for i in mine if i not in matched]

    result: dict[str, Any] = {}
    if "default_model" in document:
        result["default_model"] = document["default_model"]
    providers = dict(document.get("providers", {}))
    if block is not None and provider not in providers:
        providers[provider] = dict(block)
    if providers:
        result["providers"] = providers
    result["models"] = models
    return Merged(result, entries, unlisted, notes, not_added)


def _refreshed(model: dict[str, Any], found: Found, notes: list[str]) -> dict[str, Any]:
    """An existing model with what the provider says now: sizes, durations, retirement (and
    prices, only when the operator set none)."""
    name = model.get("name")
    if found.sizes_listed:
        model["sizes"] = list(found.sizes)
        if model.get("default_size") not in (None, *found.sizes):
            notes.append(f"{name}: default_size {model.pop('default_size')} is no longer offered")
    if found.seconds_listed:
        model["seconds"] = list(found.seconds)
        if model.get("default_seconds") not in (None, *found.seconds):
            notes.append(
                f"{name}: default_seconds {model.pop('default_seconds')} is no longer offered"
            )
    if "price_per_second" not in model and "price_per_second_by_size" not in model:
        _set_prices(model, found)
    if found.retires_on is not None:
        model["retires_on"] = found.retires_on
    if found.successor is not None:
        model["successor"] = found.successor
    return model


def _new(found: Found, name: str, provider: str) -> dict[str, Any]:
    model: dict[str, Any] = {"name": name}
    if found.label:
        model["label"] = found.label
    if provider != DEFAULT_PROVIDER:
        model["provider"] = provider
    model["api_model"] = found.api_model
    model["sizes"] = list(found.sizes)
    model["seconds"] = list(found.seconds)
    _set_prices(model, found)
    if found.retires_on is not None:
        model["retires_on"] = found.retires_on
    if found.successor is not None:
        model["successor"] = found.successor
    model.update(found.capabilities)
    return model


def _set_prices(model: dict[str, Any], found: Found) -> None:
    # No price listed: none written, so a later discovery that finds one may still fill it in.
    if found.price_per_second is not None:
        model["price_per_second"] = found.price_per_second
    if found.price_per_second_by_size:
        model["price_per_second_by_size"] = dict(found.price_per_second_by_size)


def render(document: Mapping[str, Any]) -> str:
    """The document as the file's text."""
    return HEADER + tomli_w.dumps(_floats(document))


def _floats(value: Any) -> Any:
    """Decimals as the floats the file reads back as, so that a second run writes the same
    text ("0.10" would come back as 0.1)."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Mapping):
        return {key: _floats(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_floats(item) for item in value]
    return value


def write_catalogue(path: Path, document: Mapping[str, Any]) -> bool:
    """Replace `path` with the document, checked with the bot's own loader first; never a
    half-written file. False when the file already says exactly this."""
    text = render(document)
    with contextlib.suppress(OSError):
        if path.read_text(encoding="utf-8") == text:
            return False
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = 0o644
    except OSError as exc:
        raise WriteError(f"cannot read {path}: {exc.strerror}") from None
    try:
        handle, name = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", text=True
        )
    except OSError as exc:
        raise WriteError(f"cannot write in {path.parent}: {exc.strerror}") from None
    temporary = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        temporary.chmod(mode)
        try:
            load_catalogue(temporary)
        except CatalogueError as exc:
            shown = str(exc).replace(str(temporary), str(path))
            raise WriteError(f"not written, the result would not load: {shown}") from None
        temporary.replace(path)
    except OSError as exc:
        raise WriteError(f"cannot write {path}: {exc.strerror}") from None
    finally:
        temporary.unlink(missing_ok=True)
    return True
