"""Settings from the environment and `.env`, checked once at start-up.

The OpenAI variables keep the ecosystem's own names so an operator's existing `.env` works;
everything that is ours carries the `VIDEO_BOT_` prefix.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.catalogue import Catalogue, CatalogueError, load_catalogue
from bot.domain import OperatorLimits
from bot.observability.redaction import strip_url_credentials, url_credentials

OPENAI_RETIRED_HOST = "api.openai.com"
_CREDENTIALS_IN_URL = "must not contain credentials; put the key in OPENAI_API_KEY"
_SECRET_FIELDS = frozenset({"openai_api_key", "discord_token", "database_url"})


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""


class Settings(BaseSettings):
    """Every setting the bot reads; see `.env.example` for the documented list."""

    model_config = SettingsConfigDict(
        env_prefix="VIDEO_BOT_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        # `KEY=` lines in a copied .env.example mean "not set", not "the empty string".
        env_ignore_empty=True,
    )

    discord_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("DISCORD_TOKEN", "discord_token")
    )
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_API_KEY", "openai_api_key")
    )
    openai_base_url: str = Field(
        default="https://api.openai.com/v1",
        validation_alias=AliasChoices("OPENAI_BASE_URL", "openai_base_url"),
    )
    catalogue_file: Path | None = None
    data_dir: Path = Path("data")
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "database_url")
    )

    connect_timeout: float = Field(default=10.0, gt=0, le=300)
    request_timeout: float = Field(default=60.0, gt=0, le=3600)
    download_timeout: float = Field(default=900.0, gt=0, le=86400)
    max_retries: int = Field(default=4, ge=0, le=20)
    max_download_bytes: int = Field(default=1024 * 1024 * 1024, gt=0)

    poll_min_interval: float = Field(default=0.5, gt=0, le=600)
    poll_max_interval: float = Field(default=30.0, gt=0, le=3600)
    poll_fixed_interval: float = Field(default=5.0, gt=0, le=3600)
    job_deadline: float = Field(default=3600.0, gt=0, le=7 * 86400)
    # How long a finished video's file may stay unavailable (404/409, 5xx) before giving up.
    content_wait: float = Field(default=300.0, gt=0, le=86400)
    # Originals of delivered videos (served by the web server's links) and files of videos that
    # could not be delivered are kept this long, and the originals within KEEP_MAX_GB.
    keep_days: float = Field(default=7.0, ge=0, le=365)
    keep_max_gb: float = Field(default=5.0, ge=0, le=100_000)

    edit_interval: float = Field(default=3.0, ge=0.5, le=300)
    # Re-encoding videos over a reply's upload limit: the ffmpeg to use (default: the system's,
    # else the one the imageio-ffmpeg package ships) and how many encodes run at once.
    ffmpeg: str | None = None
    # The bot's own web server (health, metrics, links to originals): off unless a port is
    # set. The Docker image sets 8080 on 0.0.0.0. Links need the address members reach.
    web_port: int | None = Field(default=None, ge=1, le=65535)
    web_host: str = "127.0.0.1"
    public_url: str | None = None
    link_secret: SecretStr | None = None
    metrics_token: SecretStr | None = None
    # Let teams' webhook URLs reach loopback/private/link-local addresses (off: SSRF guard).
    webhook_allow_private: bool = False
    encode_workers: int = Field(default_factory=lambda: max(1, os.cpu_count() or 1), ge=1, le=64)
    max_concurrent_jobs: int = Field(default=50, ge=1, le=10000)
    max_jobs_per_user: int = Field(default=2, ge=1, le=1000)
    max_queued: int = Field(default=10_000, ge=1, le=1_000_000)
    max_queued_per_user: int = Field(default=5, ge=1, le=100_000)

    # Guardrails: operator-wide defaults that guild admins can tighten, never loosen.
    allowed_guilds: str = ""
    user_daily_count: int | None = Field(default=None, ge=0)
    user_daily_budget: Decimal | None = Field(default=None, ge=0)
    guild_daily_budget: Decimal | None = Field(default=None, ge=0)
    daily_budget: Decimal | None = Field(default=None, ge=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # Scaling out (README "Scaling out"). Whether `video-bot run` also runs the jobs (the
    # default: one process does everything); `video-bot worker` processes run them too when the
    # database is PostgreSQL. A worker holds each job under a lease of LEASE_SECONDS, renewed
    # while it works: a killed worker's jobs are taken over once it has run out.
    run_jobs: bool = True
    lease_seconds: float = Field(default=30.0, ge=1, le=3600)
    # Discord's shards: none set = as many as Discord asks for, all in this process.
    shard_count: int | None = Field(default=None, ge=1, le=100_000)
    shard_ids: str = ""

    @field_validator("allowed_guilds")
    @classmethod
    def _guild_ids(cls, value: str) -> str:
        for part in value.replace(" ", "").split(","):
            if part and not part.isdigit():
                raise ValueError("must be guild ids separated by commas")
        return value

    @field_validator("shard_ids")
    @classmethod
    def _shard_ids(cls, value: str) -> str:
        for part in value.replace(" ", "").split(","):
            if part and not part.isdigit():
                raise ValueError("must be shard numbers separated by commas, e.g. 0,1")
        return value

    @property
    def shard_id_list(self) -> list[int] | None:
        """The shards this process connects, or None for all of them."""
        ids = [int(p) for p in self.shard_ids.replace(" ", "").split(",") if p]
        return ids or None

    @property
    def shared_jobs(self) -> bool:
        """Jobs are shared with other processes through the database (PostgreSQL)."""
        return not self.effective_database_url.startswith("sqlite")

    def operator_limits(self) -> OperatorLimits:
        guilds = frozenset(int(p) for p in self.allowed_guilds.replace(" ", "").split(",") if p)
        return OperatorLimits(
            allowed_guilds=guilds,
            user_daily_count=self.user_daily_count,
            user_daily_budget=self.user_daily_budget,
            guild_daily_budget=self.guild_daily_budget,
            daily_budget=self.daily_budget,
            max_running=self.max_concurrent_jobs,
            max_per_user=self.max_jobs_per_user,
            max_queued=self.max_queued,
            max_queued_per_user=self.max_queued_per_user,
        )

    @field_validator("openai_base_url")
    @classmethod
    def _base_url_is_http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        if url_credentials(value) or "@" in value.split("/", 3)[2]:
            # aiohttp cannot combine them with the Authorization header, and they would be
            # shown wherever the URL is: refused, without echoing them.
            raise ValueError(_CREDENTIALS_IN_URL)
        return value.rstrip("/")

    @field_validator("public_url")
    @classmethod
    def _public_url_is_http(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("http://", "https://")) or "?" in value or "#" in value:
            raise ValueError(
                "must be an http:// or https:// address without query, e.g. "
                "https://videos.example.org"
            )
        return value.rstrip("/")

    @property
    def links_enabled(self) -> bool:
        """Links to originals: the web server runs and members can reach it."""
        return self.web_port is not None and self.public_url is not None

    @property
    def effective_database_url(self) -> str:
        """DATABASE_URL, or a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'video-bot.sqlite3'}"

    @property
    def base_url_is_openai(self) -> bool:
        """OpenAI retired its own endpoint on 2026-09-24; many messages mention it."""
        return OPENAI_RETIRED_HOST in self.openai_base_url

    def catalogue(self) -> Catalogue:
        try:
            return load_catalogue(self.catalogue_file)
        except CatalogueError as exc:
            raise ConfigError(f"VIDEO_BOT_CATALOGUE_FILE: {exc}") from None


def _variable_name(loc: tuple[int | str, ...]) -> str:
    field = str(loc[0]) if loc else "?"
    info = Settings.model_fields.get(field)
    if info is not None and isinstance(info.validation_alias, AliasChoices):
        return str(info.validation_alias.choices[0])
    return f"VIDEO_BOT_{field.upper()}" if not field.isupper() else field


def load_settings(**overrides: object) -> Settings:
    """Read the settings; raise ConfigError with one line per the first bad variable."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = _variable_name(first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        if message == _CREDENTIALS_IN_URL:
            raise ConfigError(f"{name} {message}") from None
        shown = first.get("input")
        field = str(first["loc"][0]) if first["loc"] else ""
        hidden = isinstance(shown, dict) or shown is None or field in _SECRET_FIELDS
        got = "" if hidden else f" (got {strip_url_credentials(str(shown))[:40]!r})"
        raise ConfigError(f"{name}: {first['msg']}{got}") from None
    if settings.poll_min_interval > settings.poll_max_interval:
        raise ConfigError("VIDEO_BOT_POLL_MIN_INTERVAL must not exceed VIDEO_BOT_POLL_MAX_INTERVAL")
    ids = settings.shard_id_list
    if ids is not None:
        if settings.shard_count is None:
            raise ConfigError("VIDEO_BOT_SHARD_IDS needs VIDEO_BOT_SHARD_COUNT (all shards' total)")
        if max(ids) >= settings.shard_count:
            raise ConfigError(
                f"VIDEO_BOT_SHARD_IDS: shard {max(ids)} does not exist with "
                f"VIDEO_BOT_SHARD_COUNT={settings.shard_count} (shards count from 0)"
            )
    settings.catalogue()
    return settings
