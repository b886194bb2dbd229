"""What `/video` offers for its model, size and seconds options (pure: no I/O).

Up to Discord's 25 values an option carries them as fixed choices; beyond that it becomes an
autocomplete, answered here from what the member has typed, what the server allows and what
has not retired. Autocomplete only suggests: whatever the member sends is still checked by the
service, which refuses an unknown value in its own words.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TypeVar

from discord import app_commands
from discord.app_commands import locale_str

from bot import i18n
from bot.catalogue import Catalogue, ModelSpec
from bot.discord_adapter.render import SECONDS, seconds_text

# Discord's limit for an option's choices, and for the suggestions of an autocomplete.
MAX_CHOICES = 25

_T = TypeVar("_T")


def needs_autocomplete(values: Sequence[object]) -> bool:
    """More values than Discord lets an option list as choices."""
    return len(values) > MAX_CHOICES


@dataclass(frozen=True)
class Offer:
    """What a member of one server may choose from today."""

    catalogue: Catalogue
    today: date
    allowed: frozenset[str] = field(default_factory=frozenset)  # empty: every model
    max_seconds: int | None = None  # the server's longest video

    def models(self) -> list[ModelSpec]:
        """The catalogue's models the server allows that have not retired, in its order."""
        return [
            spec
            for spec in self.catalogue.models
            if (not self.allowed or spec.name in self.allowed) and not spec.is_retired(self.today)
        ]

    def chosen(self, model: object) -> list[ModelSpec]:
        """The model already given in the command (when it is one on offer), else all of them:
        its sizes and seconds are what fits."""
        offered = self.models()
        if isinstance(model, str):
            picked = [spec for spec in offered if spec.name == model]
            if picked:
                return picked
        return offered


def _ranked(items: Iterable[_T], typed: object, keys: Callable[[_T], Iterable[str]]) -> list[_T]:
    """Items whose keys start with what was typed, then those that contain it (case-insensitive),
    each in their own order; at most 25."""
    text = str(typed or "").strip().lower()
    starts: list[_T] = []
    contains: list[_T] = []
    for item in items:
        words = [key.lower() for key in keys(item)]
        if any(word.startswith(text) for word in words):
            starts.append(item)
        elif any(text in word for word in words):
            contains.append(item)
    return (starts + contains)[:MAX_CHOICES]


def model_choice(spec: ModelSpec) -> app_commands.Choice[str]:
    return app_commands.Choice(name=spec.display_name, value=spec.name)


def seconds_choice(seconds: int) -> app_commands.Choice[int]:
    """A length as a choice: in the member's language when suggested while they type."""
    return app_commands.Choice(name=seconds_text(seconds), value=seconds)


def declared_seconds_choice(seconds: int) -> app_commands.Choice[int]:
    """A length as a choice declared with the command: English in the payload, every other
    language's from the catalogue (the tree's translator fills the template again)."""
    with i18n.reading(i18n.ENGLISH):
        english = seconds_text(seconds)
    name = locale_str(english, template=SECONDS, params={"seconds": seconds})
    return app_commands.Choice(name=name, value=seconds)


def model_choices(offer: Offer, typed: object) -> list[app_commands.Choice[str]]:
    """Models on offer matching their name or label."""
    found = _ranked(offer.models(), typed, lambda spec: (spec.name, spec.display_name))
    return [model_choice(spec) for spec in found]


def size_choices(offer: Offer, typed: object, model: object) -> list[app_commands.Choice[str]]:
    """Sizes of the chosen model (or of every model on offer) matching what was typed."""
    sizes = list(dict.fromkeys(size for spec in offer.chosen(model) for size in spec.sizes))
    return [app_commands.Choice(name=s, value=s) for s in _ranked(sizes, typed, lambda s: (s,))]


def seconds_choices(offer: Offer, typed: object, model: object) -> list[app_commands.Choice[int]]:
    """Durations of the chosen model (or of every model on offer) within the server's longest,
    shortest first."""
    limit = offer.max_seconds
    seconds = sorted(
        {s for spec in offer.chosen(model) for s in spec.seconds if limit is None or s <= limit}
    )
    return [seconds_choice(s) for s in _ranked(seconds, typed, lambda s: (str(s),))]
