"""One redaction layer: secrets never reach a log line, a stored error or a public reply.

A `Redactor` knows the configured secrets (the OpenAI key, the Discord token, credentials in
the base URL), secrets registered while running (interaction tokens; a bounded set) and the
generic shapes of credentials (`Bearer ...`, `sk-...`, `user:pass@` in URLs, a Discord bot
token, the token in a Discord interaction or webhook route, a `"token": "..."` field, ...), and
replaces all of them with `[redacted]`.

`default_redactor` is the process's instance: the CLI configures it from the settings at
start-up (`install_log_redaction`), which also puts a `RedactingFilter` on every logging
handler, so records of libraries' loggers (aiohttp, sqlalchemy, discord, aiosqlite) are
covered as well as ours. A filter on a *logger* would not see records propagated from child
loggers; a filter on a *handler* sees everything that handler writes.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from pydantic import SecretStr

if TYPE_CHECKING:
    from bot.config import Settings

REDACTED = "[redacted]"
MIN_SECRET_LENGTH = 6  # shorter values would redact ordinary words
MAX_REGISTERED = 4096

# (pattern, replacement): the replacement keeps the harmless part so a line stays readable.
_SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization header values.
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}"), rf"\1 {REDACTED}"),
    # Provider keys: OpenAI-style, ours, webhook signing secrets.
    (re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"), REDACTED),
    (re.compile(r"\bvbk_[A-Za-z0-9_-]{8,}"), REDACTED),
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=_-]{8,}"), REDACTED),
    # Credentials in a URL: scheme://user:pass@host or scheme://token@host.
    (re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@?#]+@"), rf"\1{REDACTED}@"),
    # A Discord bot token: base64 id . timestamp . HMAC (JWTs have the same look: also hidden).
    (re.compile(r"\b[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{27,}"), REDACTED),
    # An interaction or webhook token in a Discord route: whatever follows the id in
    # `/interactions/<id>/<token>/callback` and `/webhooks/<application id>/<token>/...` is the
    # token, whatever its length. discord.py logs these URLs at DEBUG (percent-encoded: `%`),
    # the first callback's before the bot has even seen, let alone registered, the token.
    (
        re.compile(r"(/(?:interactions|webhooks)/\d+/)[A-Za-z0-9._~%:+=-]+"),
        rf"\1{REDACTED}",
    ),
    # A field named like a secret in a logged dict or JSON: discord.py logs every gateway event
    # at DEBUG, and INTERACTION_CREATE carries `'token': '...'`.
    (
        re.compile(r"""(?i)(['"][A-Za-z_]*(?:token|secret|password)['"]\s*:\s*['"])[^'"]+"""),
        rf"\1{REDACTED}",
    ),
)


def _secret_value(value: SecretStr | str | None) -> str | None:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return value


def url_credentials(url: str | None, *, password_only: bool = False) -> list[str]:
    """The user name and password written into a URL, as written and percent-decoded."""
    if not url:
        return []
    try:
        parts = urlsplit(url)
        found = [parts.password] if password_only else [parts.username, parts.password]
    except ValueError:
        return []
    values: list[str] = []
    for each in found:
        if each:
            values.extend({each, unquote(each)})
    return values


def strip_url_credentials(url: str) -> str:
    """The URL without its `user:pass@` part, for showing."""
    return _SHAPES[4][0].sub(r"\1", url)


class Redactor:
    """Replaces known secrets and credential-shaped text with `[redacted]`; thread-safe."""

    def __init__(self, *, max_registered: int = MAX_REGISTERED) -> None:
        self._max_registered = max_registered
        self._lock = threading.Lock()
        self._configured: set[str] = set()
        self._registered: OrderedDict[str, None] = OrderedDict()
        self._known: tuple[str, ...] = ()  # longest first, rebuilt on change

    def configure(
        self,
        *,
        openai_api_key: SecretStr | str | None = None,
        discord_token: SecretStr | str | None = None,
        openai_base_url: str | None = None,
        extra: Iterable[str | None] = (),
    ) -> None:
        """Add the configured secrets (kept for the life of the process)."""
        values = [_secret_value(openai_api_key), _secret_value(discord_token), *extra]
        values.extend(url_credentials(openai_base_url))
        with self._lock:
            self._configured.update(v for v in values if v and len(v) >= MIN_SECRET_LENGTH)
            self._rebuild()

    def configure_from_settings(self, settings: Settings) -> None:
        # Every provider's key and webhook secret, read from the variables the catalogue names.
        try:
            providers = list(settings.providers().values())
        except Exception:  # noqa: BLE001 - a bad catalogue is reported by whoever loads it
            providers = []
        provider_secrets = [
            secret.get_secret_value()
            for provider in providers
            for secret in (provider.api_key, provider.webhook_secret)
            if secret is not None
        ]
        self.configure(
            openai_api_key=settings.openai_api_key,
            discord_token=settings.discord_token,
            openai_base_url=settings.openai_base_url,
            # The password only: a user name is no secret, and the common `postgres` one would
            # turn every "postgresql" in the logs into "[redacted]ql".
            extra=[
                *url_credentials(settings.database_url, password_only=True),
                _secret_value(settings.openai_webhook_secret),
                _secret_value(settings.prompt_key),
                *provider_secrets,
            ],
        )

    def register(self, secret: str | None) -> None:
        """Add a secret learned while running (an interaction token); the oldest go first."""
        if not secret or len(secret) < MIN_SECRET_LENGTH:
            return
        with self._lock:
            if secret in self._registered:
                self._registered.move_to_end(secret)
                return
            self._registered[secret] = None
            while len(self._registered) > self._max_registered:
                self._registered.popitem(last=False)
            self._rebuild()

    def forget(self, secret: str | None) -> None:
        """Drop a registered secret that has no use any more."""
        with self._lock:
            if secret is not None and self._registered.pop(secret, 0) is None:
                self._rebuild()

    def reset(self) -> None:
        """Forget every configured and registered secret (for tests)."""
        with self._lock:
            self._configured.clear()
            self._registered.clear()
            self._rebuild()

    def _rebuild(self) -> None:
        known = self._configured.union(self._registered)
        self._known = tuple(sorted(known, key=len, reverse=True))

    def redact(self, text: str) -> str:
        for secret in self._known:  # a snapshot: safe against a concurrent register
            if secret in text:
                text = text.replace(secret, REDACTED)
        for pattern, replacement in _SHAPES:
            text = pattern.sub(replacement, text)
        return text


default_redactor = Redactor()


def redact(text: str) -> str:
    """Redact with the process's default redactor."""
    return default_redactor.redact(text)


class RedactingFilter(logging.Filter):
    """Formats a record's message, redacts it and its exception text; never drops a record."""

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self._redactor = redactor

    @property
    def redactor(self) -> Redactor:
        return self._redactor or default_redactor

    def filter(self, record: logging.LogRecord) -> bool:
        redactor = self.redactor
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a formatting mistake must not hide the record
            message = f"{record.msg} {record.args!r}"
        record.msg = redactor.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redactor.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redactor.redact(record.stack_info)
        return True


def _all_handlers() -> list[logging.Handler]:
    handlers = list(logging.getLogger().handlers)
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            handlers.extend(logger.handlers)
    if logging.lastResort is not None:
        handlers.append(logging.lastResort)
    return handlers


def install_log_redaction(settings: Settings | None = None) -> None:
    """Configure the default redactor and put a redacting filter on every handler there is.

    Call it after the handlers are set up (`logging.basicConfig`); calling again (once the
    settings are loaded, or after a library added a handler) is harmless.
    """
    if settings is not None:
        default_redactor.configure_from_settings(settings)
    for handler in _all_handlers():
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
