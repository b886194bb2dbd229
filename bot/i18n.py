"""Every word the bot writes, in the reader's language: gettext catalogues and Babel formats.

The English text is the message id (`_("Your video is ready.")`), so code reads naturally and
an untranslated message still says something. The catalogues are `bot/locales/<code>/
LC_MESSAGES/bot.po` (edited by translators) compiled to `.mo` (shipped with the package);
`python -m scripts.catalogues` extracts the messages from the code, updates every catalogue and
compiles them. Placeholders are named, in braces (`{seconds}`), filled after translation so a
language may move them; a literal brace is doubled.

Who is read to is a context variable: a Discord interaction sets the member's language before
its handler runs, a public card sets the server's, and everything else (the terminal, the team
API, the logs of the engine) stays in English. Engine messages written with `_()` are therefore
translated when the service raises them for a member. This module imports no layer.
"""

from __future__ import annotations

import datetime
import functools
import gettext
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from decimal import Decimal
from pathlib import Path
from typing import Literal

from babel import Locale
from babel.dates import format_timedelta
from babel.numbers import format_currency, format_decimal
from babel.support import Translations

DOMAIN = "bot"
CATALOGUES = Path(__file__).parent / "locales"
ENGLISH = "en"
CURRENCY = "USD"  # what providers bill in

# Discord's locale codes (interaction.locale, guild_locale, the command payload's localisation
# keys) → the catalogue that speaks them. A locale not listed reads English.
DISCORD_LOCALES: dict[str, str] = {
    "en-US": ENGLISH,
    "en-GB": ENGLISH,
    "de": "de",
    "fr": "fr",
    "es-ES": "es",
    "es-419": "es",
    "pt-BR": "pt_BR",
    "ru": "ru",
    "pl": "pl",
    "tr": "tr",
    "ja": "ja",
    "ko": "ko",
    "zh-CN": "zh_Hans",
}
# The catalogues shipped besides English, in the order docs list them.
SHIPPED: tuple[str, ...] = ("de", "fr", "es", "pt_BR", "ru", "pl", "tr", "ja", "ko", "zh_Hans")
# What `/video-admin language` offers: "auto" (the server's own Discord language) or one of these.
CHOICES: dict[str, str] = {
    "en-US": "English",
    "de": "Deutsch",
    "fr": "Français",
    "es-ES": "Español",
    "pt-BR": "Português do Brasil",
    "ru": "Русский",
    "pl": "Polski",
    "tr": "Türkçe",
    "ja": "日本語",
    "ko": "한국어",
    "zh-CN": "简体中文",
}

_reading: ContextVar[str] = ContextVar("video_bot_language", default=ENGLISH)


def catalogue_of(locale: object) -> str:
    """The catalogue for a Discord locale (a `discord.Locale`, its value, or a catalogue code);
    English for None or anything not shipped."""
    code = str(getattr(locale, "value", locale) or "")
    if code in DISCORD_LOCALES:
        return DISCORD_LOCALES[code]
    if code in SHIPPED or code == ENGLISH:
        return code
    return ENGLISH


def read_in(locale: object) -> None:
    """Speak `locale` for the rest of the current task (an interaction handler's first step)."""
    _reading.set(catalogue_of(locale))


@contextmanager
def reading(locale: object) -> Iterator[str]:
    """Speak `locale` inside the block (a public card rendered for the whole server)."""
    token = _reading.set(catalogue_of(locale))
    try:
        yield token.var.get()
    finally:
        _reading.reset(token)


def current() -> str:
    """The catalogue being spoken now."""
    return _reading.get()


@functools.cache
def translations(code: str) -> gettext.NullTranslations:
    """A compiled catalogue, loaded once; English (and a missing file) translate to the id."""
    if code == ENGLISH:
        return gettext.NullTranslations()
    return Translations.load(str(CATALOGUES), [code], DOMAIN)


@functools.cache
def babel_locale(code: str) -> Locale:
    return Locale.parse(code)


def _(message: str, /, **params: object) -> str:
    """`message` in the current language, its `{placeholders}` filled from `params`."""
    return translations(current()).gettext(message).format(**params)


def ngettext(singular: str, plural: str, n: int, /, **params: object) -> str:
    """The plural form for `n` in the current language; `{n}` is `n` formatted for it."""
    text = translations(current()).ngettext(singular, plural, n)
    return text.format(n=number(n), **params)


def N_(message: str, /) -> str:  # noqa: N802 (the gettext convention, known to the extractor)
    """Marks a message for the catalogues where it is defined; `_()` translates it where used."""
    return message


def translation_of(message: str, locale: object) -> str | None:
    """`message` in `locale`'s catalogue, or None when that catalogue lacks it (or is English):
    what the command tree's translator needs."""
    code = catalogue_of(locale)
    if code == ENGLISH:
        return None
    text = translations(code).gettext(message)
    return None if text == message else text


# -- numbers, money and durations, per locale -----------------------------------------------------


def number(value: float | Decimal) -> str:
    return format_decimal(value, locale=babel_locale(current()))


def money(amount: Decimal | float) -> str:
    """An amount in the providers' currency: "$0.40", "0,40 $", "0,40 US$"…"""
    return format_currency(amount, CURRENCY, locale=babel_locale(current()))


def duration(
    seconds: float,
    *,
    format: Literal["narrow", "short", "medium", "long"] = "short",
) -> str:
    """A length of time, rounded as people say it: "8 sec.", "3 Min.", "2分"."""
    delta = datetime.timedelta(seconds=seconds)
    return format_timedelta(delta, locale=babel_locale(current()), format=format, threshold=1.0)
