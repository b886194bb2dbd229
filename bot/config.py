"""Settings from the environment and `.env`, checked once at start-up.

The OpenAI variables keep the ecosystem's own names so an operator's existing `.env` works;
everything that is ours carries the `VIDEO_BOT_` prefix.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Literal

from dotenv import dotenv_values
from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.catalogue import (
    DEFAULT_PROVIDER,
    Catalogue,
    CatalogueError,
    ProviderDialect,
    load_catalogue,
)
from bot.domain import OperatorLimits
from bot.observability.redaction import strip_url_credentials, url_credentials

OPENAI_RETIRED_HOST = "api.openai.com"
_CREDENTIALS_IN_URL = "must not contain credentials; put the key in OPENAI_API_KEY"
_CREDENTIALS_IN_MODERATION_URL = (
    "must not contain credentials; put the key in VIDEO_BOT_MODERATION_KEY"
)
_CREDENTIALS_IN_PROMPT_URL = "must not contain credentials; put the key in VIDEO_BOT_PROMPT_KEY"
# The servers asked beside the video provider, each with the variable its key belongs in.
_CREDENTIALS_IN_SIDE_SERVER_URL = {
    "moderation_url": _CREDENTIALS_IN_MODERATION_URL,
    "prompt_url": _CREDENTIALS_IN_PROMPT_URL,
}
# Videos per member per day when user installs are on and no per-member limit is set.
USER_INSTALL_DAILY_COUNT = 10
_SECRET_FIELDS = frozenset(
    {
        "openai_api_key",
        "openai_webhook_secret",
        "discord_token",
        "database_url",
        "moderation_key",
        "prompt_key",
    }
)
# A moderation category as OpenAI names them: `violence`, `self-harm/intent`, `hate/threatening`.
_CATEGORY = re.compile(r"[a-z][a-z-]*(/[a-z][a-z-]*)?")
# The store runs on SQLAlchemy's asyncio engines: each scheme an operator may write, and the
# async driver it means (a plain URL as hosting services hand them out takes the bot's driver).
_DATABASE_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}
_DATABASE_URL_FORMS = "sqlite:///PATH or postgresql://USER:PASSWORD@HOST/DATABASE"


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Provider:
    """A provider of the catalogue with its secrets read: what the engine connects to."""

    name: str
    dialect: ProviderDialect
    base_url: str
    api_key: SecretStr | None = None
    # Set: the provider's completion events are accepted (signed with it) and polling slows.
    webhook_secret: SecretStr | None = None
    max_connections: int = 16
    max_retries: int | None = None

    @property
    def calls_back(self) -> bool:
        return self.webhook_secret is not None


class Settings(BaseSettings):
    """Every setting the bot reads.

    Each field's `description` is its documentation: docs/configuration.md is generated from
    them (`python -m scripts.settings_reference`), and `.env.example` must show every one.
    """

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
        default=None,
        validation_alias=AliasChoices("DISCORD_TOKEN", "discord_token"),
        description="The bot's token (Developer Portal: your application, Bot, Reset Token). "
        "Needed by `run`, `worker` and `sync`.",
    )
    openai_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("OPENAI_API_KEY", "openai_api_key"),
        description="Sent to the Videos API server as `Authorization: Bearer …`; unset for "
        "servers without authentication.",
    )
    openai_base_url: str = Field(
        default="https://api.openai.com/v1",
        validation_alias=AliasChoices("OPENAI_BASE_URL", "openai_base_url"),
        description="The Videos API server, up to and including `/v1`. OpenAI retired its own "
        "on 2026-09-24: point this at a server that speaks the protocol, or at "
        "`video-bot fake-api`. A user name or password in it is refused: put the key in "
        "`OPENAI_API_KEY`.",
    )
    openai_webhook_secret: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("OPENAI_WEBHOOK_SECRET", "openai_webhook_secret"),
        description="The Standard Webhooks secret (`whsec_…`) the `default` provider signs its "
        "`video.completed` / `video.failed` events with; set, the bot accepts them at "
        "`/provider-webhooks/default` and polls that provider only as a safety net.",
    )
    catalogue_file: Path | None = Field(
        default=None,
        description="A TOML file with the models, sizes, durations and prices on offer (see "
        "[the model catalogue](providers.md#the-model-catalogue)); unset: OpenAI's Sora 2 "
        "line-up.",
    )
    data_dir: Path = Field(
        default=Path("data"),
        description="The bot's state: the SQLite store, downloads, kept originals and the key "
        "that signs links.",
    )
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "database_url"),
        description="The job store: `sqlite:///PATH` or `postgresql://USER:PASSWORD@HOST/DB` "
        "(the drivers aiosqlite and asyncpg are chosen for you; PostgreSQL needs the "
        "`postgres` extra). Unset: `video-bot.sqlite3` in the data directory, for one "
        "process; several processes share a PostgreSQL store.",
    )

    connect_timeout: float = Field(
        default=10.0, gt=0, le=300, description="Seconds to connect to the Videos API server."
    )
    request_timeout: float = Field(
        default=60.0, gt=0, le=3600, description="Seconds for one Videos API call."
    )
    download_timeout: float = Field(
        default=900.0, gt=0, le=86400, description="Seconds for one whole video download."
    )
    max_retries: int = Field(
        default=4,
        ge=0,
        le=20,
        description="Retries of reads (status, list, download). A create is never retried once "
        "it may have reached the server: that could start and bill a second job.",
    )
    max_download_bytes: int = Field(
        default=1024 * 1024 * 1024,
        gt=0,
        description="The largest video the bot downloads, in bytes (the default is 1 GiB).",
    )

    poll_min_interval: float = Field(
        default=0.5,
        gt=0,
        le=600,
        description="The shortest wait between two status reads of a job, in seconds; not "
        "above `VIDEO_BOT_POLL_MAX_INTERVAL`.",
    )
    poll_max_interval: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="The longest wait between two status reads of a job, in seconds.",
    )
    callback_poll_interval: float = Field(
        default=120.0,
        gt=0,
        le=3600,
        description="The first safety-net status read of a job whose provider calls back (a "
        "provider with a webhook secret), in seconds after its submission (later, when similar "
        "jobs took longer); each later wait doubles, up to 30 minutes. The callback moves the "
        "job on at once; these reads only catch a lost one.",
    )
    provider_failures: int = Field(
        default=5,
        ge=1,
        le=1000,
        description="Failures in a row (no answer, 5xx, 429) after which a provider is skipped "
        "for `VIDEO_BOT_PROVIDER_COOLDOWN` seconds: its models fall back or are refused at once.",
    )
    provider_cooldown: float = Field(
        default=60.0,
        gt=0,
        le=86400,
        description="Seconds a provider that kept failing is skipped before it is tried again.",
    )
    poll_fixed_interval: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="Seconds between status reads while the server reports no progress.",
    )
    job_deadline: float = Field(
        default=3600.0,
        gt=0,
        le=7 * 86400,
        description="Seconds after which the bot stops waiting for a job. The job is read once "
        "more at the deadline, and a video finished by then is still fetched.",
    )
    content_wait: float = Field(
        default=300.0,
        gt=0,
        le=86400,
        description="Seconds a finished video's file may stay unavailable (404/409, 5xx) "
        "before the bot gives up.",
    )
    keep_days: float = Field(
        default=7.0,
        ge=0,
        le=365,
        description="Days the original of a delivered video, the file of one whose reply was "
        "deleted and a job's fitted reference image are kept.",
    )
    keep_max_gb: float = Field(
        default=5.0,
        ge=0,
        le=100_000,
        description="Gigabytes the kept originals may take; beyond it the oldest go first.",
    )

    card: Literal["v2", "classic"] = Field(
        default="v2",
        description="How a `/video` reply looks: `v2`, one Components V2 card (the video plays "
        "inside it, the buttons below), or `classic`, an embed with the video attached. A "
        "server's admins may choose otherwise with `/video-admin card`.",
    )
    edit_interval: float = Field(
        default=3.0,
        ge=0.5,
        le=300,
        description="The least seconds between two progress edits of one reply (the final "
        "state is shown at once), and between two queue-place updates of a waiting one.",
    )
    ffmpeg: str | None = Field(
        default=None,
        description="The ffmpeg that fits videos to upload limits and takes thumbnails. Unset: "
        "the system's `ffmpeg`, else the one the `imageio-ffmpeg` package ships.",
    )
    web_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="The port of the bot's web server (links to originals, the team API, "
        "`/healthz`, `/metrics`). Unset: no web server. The Docker image sets 8080.",
    )
    web_host: str = Field(
        default="127.0.0.1",
        description="The address the web server listens on (the Docker image sets `0.0.0.0`).",
    )
    public_url: str | None = Field(
        default=None,
        description="The address members reach the web server at, e.g. "
        "`https://videos.example.org` (no query); turns on the **Open original** links.",
    )
    link_secret: SecretStr | None = Field(
        default=None,
        description="The key that signs links. Unset: a random key kept in the data directory "
        "(processes that do not share that directory need the same one).",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="When set, `/metrics` requires `Authorization: Bearer <token>`.",
    )
    webhook_allow_private: bool = Field(
        default=False,
        description="Let API keys' webhooks reach loopback, private and link-local addresses "
        "(refused by default).",
    )
    encode_workers: int = Field(
        default_factory=lambda: max(1, os.cpu_count() or 1),
        ge=1,
        le=64,
        description="Videos fitted to upload limits at once (ffmpeg processes).",
        json_schema_extra={"documented_default": "one per CPU core"},
    )
    max_concurrent_jobs: int = Field(
        default=50,
        ge=1,
        le=10000,
        description="Jobs running at the provider at once (over every process sharing the "
        "store); more wait in the queue.",
    )
    max_jobs_per_user: int = Field(
        default=2,
        ge=1,
        le=1000,
        description="Jobs one member may have running at once; more wait in the queue.",
    )
    max_queued: int = Field(
        default=10_000,
        ge=1,
        le=1_000_000,
        description="Jobs waiting in the queue, everyone together; beyond it a request is "
        "refused at once.",
    )
    max_queued_per_user: int = Field(
        default=5,
        ge=1,
        le=100_000,
        description="Jobs one member may have waiting; beyond it their request is refused at once.",
    )

    # Guardrails: operator-wide defaults that guild admins can tighten, never loosen.
    allowed_guilds: str = Field(
        default="",
        description="Guild ids the bot works in, separated by commas; unset: any guild it is "
        "invited to.",
    )
    user_daily_count: int | None = Field(
        default=None,
        ge=0,
        description="Videos per member per day; unset: no limit. Servers can only lower it.",
    )
    user_daily_budget: Decimal | None = Field(
        default=None,
        ge=0,
        description="Dollars per member per day, from the catalogue's prices; unset: no "
        "limit. Servers can only lower it.",
    )
    guild_daily_budget: Decimal | None = Field(
        default=None,
        ge=0,
        description="Dollars per server per day; unset: no limit. Servers can only lower it.",
    )
    daily_budget: Decimal | None = Field(
        default=None, ge=0, description="Dollars per day across every server; unset: no limit."
    )
    # Members adding the bot to their own account (docs/usage.md#install-it-to-your-account).
    user_installs: bool = Field(
        default=False,
        description="Let members add the bot to their own account and use `/video` and "
        "`/videos` in DMs, group DMs and servers that never installed it. Off by default: such "
        "use spends the operator's money outside any server's budget. The allow-list and the "
        "per-member limits apply everywhere; with neither `VIDEO_BOT_USER_DAILY_COUNT` nor "
        f"`VIDEO_BOT_USER_DAILY_BUDGET` set, a member gets {USER_INSTALL_DAILY_COUNT} videos a "
        "day.",
    )
    # The prompt check before spending (docs/guardrails.md#moderation).
    moderation_url: str | None = Field(
        default=None,
        description="An OpenAI-compatible server whose `POST {url}/moderations` checks each "
        "prompt (and its reference image) before anything is reserved or sent, e.g. "
        "`https://api.openai.com/v1` or a LiteLLM proxy's `/v1`. Unset: no check.",
    )
    moderation_key: SecretStr | None = Field(
        default=None,
        description="Sent to the moderation server as `Authorization: Bearer …`. Unset: "
        "`OPENAI_API_KEY` (so set this whenever the moderation server is not one that key is "
        "meant for).",
    )
    moderation_model: str = Field(
        default="omni-moderation-latest",
        min_length=1,
        max_length=200,
        description="The moderation model asked (OpenAI's `omni-moderation-latest` is free and "
        "checks text and images).",
    )
    moderation_spoiler_only: str = Field(
        default="",
        description="Moderation categories that put the result behind a spoiler instead of "
        "refusing the prompt, separated by commas, e.g. `violence` (which covers "
        "`violence/graphic`). A server whose moderation is `strict` refuses them too. Unset: "
        "every flagged category refuses.",
    )
    moderation_fail: Literal["open", "closed"] = Field(
        default="closed",
        description="When the moderation server cannot answer: `closed` refuses the request "
        '("try again later"), `open` lets it through unchecked (a warning is logged once per '
        "outage).",
    )
    # Improving a prompt before spending (docs/usage.md#improving-a-prompt).
    prompt_url: str | None = Field(
        default=None,
        description="An OpenAI-compatible server whose `POST {url}/chat/completions` rewrites a "
        "member's prompt into a richer one before anything is spent (`/video improve:true`), "
        "e.g. `https://api.openai.com/v1`, a LiteLLM proxy's or Ollama's `/v1`. Unset: `/video` "
        "has no `improve` option.",
    )
    prompt_model: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The chat model that rewrites prompts, e.g. `gpt-4o-mini`; needed with "
        "`VIDEO_BOT_PROMPT_URL`.",
    )
    prompt_key: SecretStr | None = Field(
        default=None,
        description="Sent to the chat server as `Authorization: Bearer …`; unset for servers "
        "without authentication (`OPENAI_API_KEY` is never sent there).",
    )
    prompt_daily: int = Field(
        default=20,
        ge=1,
        le=10_000,
        description="Prompt improvements per member per day (UTC), across every server; one the "
        "chat server could not make is not counted.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="The least severe log lines written."
    )

    # Scaling out (docs/scaling.md). Whether `video-bot run` also runs the jobs (the default:
    # one process does everything); `video-bot worker` processes run them too when the
    # database is PostgreSQL. A worker holds each job under a lease of LEASE_SECONDS, renewed
    # while it works: a killed worker's jobs are taken over once it has run out.
    run_jobs: bool = Field(
        default=True,
        description="Whether `video-bot run` runs jobs too, or leaves every job to "
        "`video-bot worker` processes (`false`; PostgreSQL only).",
    )
    lease_seconds: float = Field(
        default=30.0,
        ge=1,
        le=3600,
        description="How long a process's claim on a job lasts unless renewed: a killed "
        "worker's jobs are taken over after it.",
    )
    shard_count: int | None = Field(
        default=None,
        ge=1,
        le=100_000,
        description="Discord shards in all, across every `run` process; unset: as many as "
        "Discord asks for. `run --shard-count` overrides it.",
    )
    shard_ids: str = Field(
        default="",
        description="The shards this process connects, e.g. `0,1` (needs "
        "`VIDEO_BOT_SHARD_COUNT`); unset: all of them. `run --shard-ids` overrides it.",
    )

    @field_validator("allowed_guilds")
    @classmethod
    def _guild_ids(cls, value: str) -> str:
        for part in value.replace(" ", "").split(","):
            if part and not part.isdigit():
                raise ValueError("must be guild ids separated by commas")
        return value

    @field_validator("moderation_spoiler_only")
    @classmethod
    def _moderation_categories(cls, value: str) -> str:
        for part in value.replace(" ", "").split(","):
            if part and _CATEGORY.fullmatch(part) is None:
                raise ValueError(
                    "must be moderation categories separated by commas, e.g. violence,sexual"
                )
        return value

    @property
    def moderation_spoiler_categories(self) -> frozenset[str]:
        """The categories that put a result behind a spoiler rather than refuse it."""
        return frozenset(p for p in self.moderation_spoiler_only.replace(" ", "").split(",") if p)

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

    @property
    def member_daily_count(self) -> int | None:
        """Videos per member per day: the setting, or with user installs on and no per-member
        limit set, USER_INSTALL_DAILY_COUNT (a personal install must not spend without
        bound)."""
        unset = self.user_daily_count is None and self.user_daily_budget is None
        if self.user_installs and unset:
            return USER_INSTALL_DAILY_COUNT
        return self.user_daily_count

    def operator_limits(self) -> OperatorLimits:
        guilds = frozenset(int(p) for p in self.allowed_guilds.replace(" ", "").split(",") if p)
        return OperatorLimits(
            allowed_guilds=guilds,
            user_daily_count=self.member_daily_count,
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

    @field_validator("moderation_url", "prompt_url")
    @classmethod
    def _side_server_url_is_http(cls, value: str | None, info: ValidationInfo) -> str | None:
        if not value:
            return None
        if not value.startswith(("http://", "https://")) or "?" in value or "#" in value:
            raise ValueError(
                "must be an http:// or https:// address, e.g. https://api.openai.com/v1"
            )
        if url_credentials(value) or "@" in value.split("/", 3)[2]:
            raise ValueError(_CREDENTIALS_IN_SIDE_SERVER_URL[info.field_name or ""])
        return value.rstrip("/")

    @property
    def improves_prompts(self) -> bool:
        """Members may have their prompt rewritten before spending (`/video improve`)."""
        return self.prompt_url is not None and self.prompt_model is not None

    @field_validator("database_url")
    @classmethod
    def _database_url_has_an_async_driver(cls, value: str | None) -> str | None:
        if not value:
            return None
        scheme, separator, rest = value.partition("://")
        driver = _DATABASE_DRIVERS.get(scheme.lower()) if separator else None
        if driver is None:
            # The value may hold a password: name its scheme only when it plainly is one.
            named = scheme if separator and scheme.replace("+", "").isalnum() else ""
            what = f"the bot cannot use {named}://" if named else "not a database URL"
            raise ValueError(f"{what}; use {_DATABASE_URL_FORMS}")
        return f"{driver}://{rest}"

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

    def providers(
        self, catalogue: Catalogue | None = None, environ: Mapping[str, str] | None = None
    ) -> dict[str, Provider]:
        """Every provider some model uses, its secrets read from the environment (or `.env`).

        `default` is OPENAI_BASE_URL / OPENAI_API_KEY. A block's `api_key_env` or
        `webhook_secret_env` naming a variable that is unset or empty is refused in one line.
        """
        catalogue = catalogue or self.catalogue()
        variables = _environment() if environ is None else environ
        found: dict[str, Provider] = {}
        for name in catalogue.provider_names():
            spec = catalogue.provider(name)
            if spec is None:
                found[name] = Provider(
                    DEFAULT_PROVIDER,
                    "openai",
                    self.openai_base_url,
                    self.openai_api_key,
                    self.openai_webhook_secret,
                )
                continue
            found[name] = Provider(
                name,
                spec.dialect,
                spec.base_url,
                _secret(variables, spec.api_key_env, name, "api_key_env"),
                _secret(variables, spec.webhook_secret_env, name, "webhook_secret_env"),
                spec.max_connections,
                spec.max_retries,
            )
        return found


def _environment() -> dict[str, str]:
    """The process environment over the `.env` file, as the settings themselves are read."""
    values = {k: v for k, v in dotenv_values(".env").items() if v is not None}
    return {**values, **os.environ}


def _secret(
    variables: Mapping[str, str], variable: str | None, provider: str, key: str
) -> SecretStr | None:
    if variable is None:
        return None
    value = variables.get(variable, "").strip()
    if not value:
        raise ConfigError(
            f"VIDEO_BOT_CATALOGUE_FILE: providers.{provider}.{key} names {variable}, "
            "which is unset or empty"
        )
    return SecretStr(value)


def _field_name(loc: tuple[int | str, ...]) -> str:
    """The Settings field an error is about; pydantic reports an aliased one by its alias."""
    given = str(loc[0]) if loc else "?"
    for name, info in Settings.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices) and given in alias.choices:
            return name
    return given


def _variable_name(loc: tuple[int | str, ...]) -> str:
    field = _field_name(loc)
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
        if message in (
            _CREDENTIALS_IN_URL,
            _CREDENTIALS_IN_MODERATION_URL,
            _CREDENTIALS_IN_PROMPT_URL,
        ):
            raise ConfigError(f"{name} {message}") from None
        shown = first.get("input")
        secret = _field_name(first["loc"]) in _SECRET_FIELDS
        hidden = isinstance(shown, dict) or shown is None or secret
        got = "" if hidden else f" (got {strip_url_credentials(str(shown))[:40]!r})"
        raise ConfigError(f"{name}: {message}{got}") from None
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
    if settings.prompt_url is not None and settings.prompt_model is None:
        raise ConfigError("VIDEO_BOT_PROMPT_URL needs VIDEO_BOT_PROMPT_MODEL (the chat model)")
    settings.providers()
    return settings
