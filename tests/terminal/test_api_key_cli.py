"""`video-bot api-key` as an operator runs it (its own `main`, its exit code and streams) over a
real database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.store import ApiKeyStore, open_database
from tests.terminal.test_commands import Result, video_bot_here


def env(tmp_path: Path) -> dict[str, str]:
    return {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}"}


async def api_key(tmp_path: Path, *args: str) -> Result:
    return await video_bot_here("api-key", *args, env=env(tmp_path), cwd=tmp_path)


async def authenticate(tmp_path: Path, plaintext: str) -> str | None:
    database = await open_database(env(tmp_path)["DATABASE_URL"])
    try:
        key = await ApiKeyStore(database).authenticate(plaintext)
    finally:
        await database.close()
    return None if key is None else key.id


async def test_create_list_revoke(tmp_path: Path) -> None:
    created = await api_key(
        tmp_path,
        "create",
        "--name",
        "render farm",
        "--guild",
        "42",
        "--channel",
        "7",
        "--channel",
        "8",
        "--webhook-url",
        "https://hooks.example.com/video",
        "--daily-budget",
        "12.50",
        "--json",
    )
    assert created.code == 0, created.stderr
    answer = json.loads(created.stdout)  # exactly one JSON object on stdout
    assert set(answer) == {"key", "webhook_secret", "id"}
    plaintext, secret, key_id = answer["key"], answer["webhook_secret"], answer["id"]
    assert plaintext.startswith("vbk_")
    assert secret.startswith("whsec_")
    assert key_id.startswith("key_")
    assert plaintext not in created.stderr
    assert secret not in created.stderr
    assert await authenticate(tmp_path, plaintext) == key_id

    listed = await api_key(tmp_path, "list", "--json")
    assert listed.code == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert row["id"] == key_id
    assert row["name"] == "render farm"
    assert row["guild_id"] == 42
    assert row["channels"] == [7, 8]
    assert row["daily_budget"] == "12.50"
    assert row["any_channel"] is False
    assert row["last_used_at"] is not None
    assert row["revoked_at"] is None
    assert plaintext not in listed.stdout + listed.stderr
    assert secret not in listed.stdout + listed.stderr
    assert "hooks.example.com" not in listed.stdout

    table = await api_key(tmp_path, "list")
    assert table.code == 0, table.stderr
    assert key_id in table.stdout
    assert "render farm" in table.stdout
    assert "7,8" in table.stdout
    assert plaintext not in table.stdout
    assert secret not in table.stdout

    revoked = await api_key(tmp_path, "revoke", key_id)
    assert revoked.code == 0, revoked.stderr
    assert f"revoked {key_id}" in revoked.stdout
    assert await authenticate(tmp_path, plaintext) is None
    listed = await api_key(tmp_path, "list", "--json")
    (row,) = json.loads(listed.stdout)
    assert row["revoked_at"] is not None
    again = await api_key(tmp_path, "revoke", key_id)
    assert again.code == 0
    assert "already revoked" in again.stdout


async def test_create_without_json_says_to_keep_the_secrets(tmp_path: Path) -> None:
    hook = ("--webhook-url", "https://hooks.example.com/v")
    created = await api_key(
        tmp_path, "create", "--name", "n", "--guild", "1", "--channel", "2", *hook
    )
    assert created.code == 0, created.stderr
    lines = created.stdout.splitlines()
    key_line = next(line for line in lines if line.startswith("API key:"))
    plaintext = key_line.split()[-1]
    assert plaintext.startswith("vbk_")
    assert any(line.split()[-1].startswith("whsec_") for line in lines)
    assert "shown only this once" in created.stdout
    assert await authenticate(tmp_path, plaintext) is not None
    # Without a webhook there is no webhook secret to keep.
    bare = await api_key(tmp_path, "create", "--name", "m", "--guild", "1", "--channel", "2")
    assert bare.code == 0, bare.stderr
    assert "whsec_" not in bare.stdout
    assert "shown only this once" in bare.stdout


async def test_revoking_an_unknown_key_fails_clearly(tmp_path: Path) -> None:
    result = await api_key(tmp_path, "revoke", "key_000000000000")
    assert result.code == 1
    assert "no API key has the id 'key_000000000000'" in result.stderr
    assert "Traceback" not in result.stderr


async def test_an_empty_list(tmp_path: Path) -> None:
    result = await api_key(tmp_path, "list", "--json")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout) == []
    result = await api_key(tmp_path, "list")
    assert "No API keys yet" in result.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--guild", "abc"], "--guild must be a number"),
        (["--guild", "-4"], "--guild must be a positive number"),
        (["--guild", "1", "--channel", "x"], "--channel must be a number"),
        (["--guild", "1", "--channel", "0"], "--channel must be a positive"),
        (["--guild", "1", "--daily-budget", "lots"], "daily budget must be a number"),
        (["--guild", "1", "--daily-budget", "-1"], "0 or more"),
        (["--guild", "1", "--daily-budget", "NaN"], "finite"),
        (["--guild", "1", "--webhook-url", "ftp://x.example"], "http"),
        (["--guild", "1", "--name", ""], "name must be 1 to 100"),
        (["--guild", "1", "--name", "x" * 101], "name must be 1 to 100"),
    ],
)
async def test_bad_input_is_one_clear_line(tmp_path: Path, args: list[str], needle: str) -> None:
    result = await api_key(tmp_path, "create", "--name", "n", *args, "--json")
    assert result.code == 2, result.stdout + result.stderr
    assert result.stdout == ""
    assert needle in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "keys.db").exists()  # refused before the database was opened
    listed = await api_key(tmp_path, "list", "--json")
    assert json.loads(listed.stdout) == []


async def test_create_without_a_channel_is_refused_in_one_line(tmp_path: Path) -> None:
    """A key without channels could post in every channel of its server, moderators' too."""
    result = await api_key(tmp_path, "create", "--name", "n", "--guild", "1", "--json")
    assert result.code == 2, result.stdout + result.stderr
    assert result.stdout == ""
    assert result.stderr.strip() == (
        "video-bot api-key create: name at least one --channel CHANNEL_ID the key may post "
        "in (repeat it for several); a key without one could post in every channel of its "
        "server, moderators-only ones included."
    )
    assert not (tmp_path / "keys.db").exists()


async def stored_without_channels(tmp_path: Path) -> tuple[str, str]:
    """A key made before channels were required: (its id, the key)."""
    database = await open_database(env(tmp_path)["DATABASE_URL"])
    try:
        key, plaintext = await ApiKeyStore(database).create(
            name="old one", guild_id=42, channels=[]
        )
    finally:
        await database.close()
    return key.id, plaintext


async def test_a_stored_key_without_channels_keeps_working_and_is_flagged(tmp_path: Path) -> None:
    key_id, plaintext = await stored_without_channels(tmp_path)
    assert await authenticate(tmp_path, plaintext) == key_id  # still works

    table = await api_key(tmp_path, "list")
    assert table.code == 0, table.stderr
    (row,) = [line for line in table.stdout.splitlines() if line.startswith(key_id)]
    assert "ANY CHANNEL" in row
    assert table.stderr.strip() == (
        f"video-bot api-key list: warning: {key_id} (old one) may post in any channel of "
        "guild 42, moderators-only ones included; revoke it and create one with --channel."
    )

    listed = await api_key(tmp_path, "list", "--json")
    (entry,) = json.loads(listed.stdout)
    assert entry["channels"] == []
    assert entry["any_channel"] is True
    assert f"{key_id} (old one) may post in any channel" in listed.stderr

    await api_key(tmp_path, "revoke", key_id)
    quiet = await api_key(tmp_path, "list")
    assert quiet.stderr == ""  # a revoked key posts nowhere
