"""Settings: defaults, the ecosystem's variable names, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings


def test_defaults_point_at_openai_and_flag_its_retirement() -> None:
    settings = load_settings()
    assert settings.openai_base_url == "https://api.openai.com/v1"
    assert settings.base_url_is_openai
    assert settings.openai_api_key is None


def test_reads_the_ecosystems_variable_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:4000/v1/")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret")
    monkeypatch.setenv("VIDEO_BOT_POLL_MAX_INTERVAL", "12")
    settings = load_settings()
    assert settings.openai_base_url == "http://127.0.0.1:4000/v1"
    assert settings.poll_max_interval == 12
    assert "sk-test-secret" not in repr(settings)
    assert not settings.base_url_is_openai


def test_reads_dotenv_in_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("OPENAI_BASE_URL=http://127.0.0.1:9/v1\n", encoding="utf-8")
    assert load_settings().openai_base_url == "http://127.0.0.1:9/v1"


@pytest.mark.parametrize(
    ("name", "value", "needle"),
    [
        ("VIDEO_BOT_POLL_MIN_INTERVAL", "soon", "VIDEO_BOT_POLL_MIN_INTERVAL"),
        ("OPENAI_BASE_URL", "api.example.com", "OPENAI_BASE_URL"),
        ("VIDEO_BOT_MAX_RETRIES", "-1", "VIDEO_BOT_MAX_RETRIES"),
        ("VIDEO_BOT_CATALOGUE_FILE", "missing.toml", "VIDEO_BOT_CATALOGUE_FILE"),
        ("VIDEO_BOT_LOG_LEVEL", "LOUD", "VIDEO_BOT_LOG_LEVEL"),
    ],
)
def test_a_bad_value_names_the_variable_in_one_line(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, needle: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(needle)
    assert "\n" not in message


def test_secrets_never_show_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret")
    monkeypatch.setenv("VIDEO_BOT_REQUEST_TIMEOUT", "x")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "sk-very-secret" not in str(caught.value)


def test_an_unedited_env_example_starts(tmp_path: Path) -> None:
    from pathlib import Path as _Path

    example = _Path(__file__).resolve().parents[1] / ".env.example"
    (tmp_path / ".env").write_text(example.read_text(encoding="utf-8"), encoding="utf-8")
    settings = load_settings()
    assert settings.catalogue_file is None
    assert settings.openai_api_key is None
    assert settings.catalogue().default.name == "sora-2"


async def test_a_plain_sqlite_url_is_taken_like_a_plain_postgresql_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from bot.store import open_database

    path = tmp_path / "store" / "bot.sqlite3"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    settings = load_settings()
    database = await open_database(settings.effective_database_url)
    await database.close()
    assert path.exists()
    assert not settings.shared_jobs


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///bot.sqlite3", "sqlite+aiosqlite:///bot.sqlite3"),
        ("SQLite:////srv/bot/bot.sqlite3", "sqlite+aiosqlite:////srv/bot/bot.sqlite3"),
        ("sqlite+aiosqlite:///bot.sqlite3", "sqlite+aiosqlite:///bot.sqlite3"),
        (
            "postgresql://bot:pw@db.example.org/videos",
            "postgresql+asyncpg://bot:pw@db.example.org/videos",
        ),
        (
            "postgres://bot:pw@db.example.org/videos",
            "postgresql+asyncpg://bot:pw@db.example.org/videos",
        ),
        (
            "postgresql+asyncpg://bot@db.example.org/videos",
            "postgresql+asyncpg://bot@db.example.org/videos",
        ),
    ],
)
def test_database_url_gets_the_async_driver(
    monkeypatch: pytest.MonkeyPatch, given: str, expected: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", given)
    assert load_settings().effective_database_url == expected


def test_database_url_is_also_read_with_the_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDEO_BOT_DATABASE_URL", "sqlite:///prefixed.sqlite3")
    assert load_settings().effective_database_url == "sqlite+aiosqlite:///prefixed.sqlite3"


@pytest.mark.parametrize(
    "given",
    [
        "mysql://bot:hunter2@db.example.org/videos",
        "postgresql+psycopg2://bot:hunter2@db.example.org/videos",
        "sqlite+pysqlite:///bot.sqlite3",
        "data/bot.sqlite3",
        "hunter2",
    ],
)
def test_an_unusable_database_url_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", given)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith("DATABASE_URL")
    assert "\n" not in message
    assert "hunter2" not in message


def _catalogue(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalogue.toml"
    path.write_text(text, encoding="utf-8")
    return path


_ROUTER = """
[providers.router]
dialect = "openrouter"
base_url = "https://openrouter.example/api/v1"
api_key_env = "ROUTER_KEY"

[[models]]
name = "wan"
provider = "router"
sizes = ["1280x720"]
seconds = [5]
"""


@pytest.mark.parametrize("value", [None, "", "   "])
def test_a_provider_key_variable_unset_or_empty_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv("ROUTER_KEY", raising=False)
    else:
        monkeypatch.setenv("ROUTER_KEY", value)
    with pytest.raises(ConfigError) as caught:
        load_settings(catalogue_file=_catalogue(tmp_path, _ROUTER))
    message = str(caught.value)
    assert "\n" not in message
    assert "providers.router.api_key_env" in message
    assert "ROUTER_KEY" in message


def test_a_provider_key_is_read_from_its_variable_and_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROUTER_KEY", "sk-or-v1-secretsecretsecret")
    settings = load_settings(catalogue_file=_catalogue(tmp_path, _ROUTER))
    providers = settings.providers()
    assert list(providers) == ["router"]  # `default` exists only when a model uses it
    key = providers["router"].api_key
    assert key is not None
    assert key.get_secret_value() == "sk-or-v1-secretsecretsecret"
    assert "secretsecret" not in repr(providers)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ('provider = "nowhere"', "names provider 'nowhere'"),
        ('fallbacks = ["ghost"]', "names fallback 'ghost'"),
    ],
)
def test_a_model_naming_an_unknown_provider_or_fallback_is_refused_in_one_line(
    tmp_path: Path, model: str, expected: str
) -> None:
    text = f"""
[[models]]
name = "wan"
sizes = ["1280x720"]
seconds = [5]
{model}
"""
    with pytest.raises(ConfigError) as caught:
        load_settings(catalogue_file=_catalogue(tmp_path, text))
    assert "\n" not in str(caught.value)
    assert expected in str(caught.value)


def test_the_default_provider_is_openai_base_url_and_sends_no_key_without_one(
    tmp_path: Path,
) -> None:
    settings = load_settings(openai_base_url="http://127.0.0.1:9/v1")
    (provider,) = settings.providers().values()
    assert provider.name == "default"
    assert provider.base_url == "http://127.0.0.1:9/v1"
    assert provider.api_key is None
