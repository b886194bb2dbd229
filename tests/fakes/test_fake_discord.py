"""Proves the fake Discord with a tiny real discord.py bot (and raw aiohttp for malformed calls)."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.contracts.discord import extract
from tests.fakes.discord import ROUTES, FakeDiscord, spec
from tests.fakes.discord.records import FakeChannel, FakeGuild, FakeMember
from tests.fakes.discord.rules import FormErrors, check_message_body

Behaviour = Callable[[discord.Interaction, str], Awaitable[None]]
World = tuple[FakeGuild, FakeChannel, FakeMember]
TOKEN = "fake-token"
MP4 = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4


class _Bot(commands.Bot):
    """A real commands.Bot whose slash commands run the given behaviours."""

    def __init__(self, behaviours: dict[str, Behaviour]) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents.default(),
            guild_ready_timeout=0.1,
        )
        self.behaviours = behaviours
        self.errors: list[Exception] = []
        self.seen: dict[Any, Any] = {}
        self.gate = asyncio.Event()
        self._changed = asyncio.Event()

    def note(self, key: Any, value: Any) -> None:
        """Record what a behaviour saw, and wake ``until``."""
        self.seen[key] = value
        self._wake()

    def fail(self, exc: Exception) -> None:
        self.errors.append(exc)
        self._wake()

    def _wake(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def until(self, predicate: Callable[[], Any], timeout: float = 5.0) -> None:  # noqa: ASYNC109 - the tests' API takes a timeout
        async with asyncio.timeout(timeout):
            while True:
                changed = self._changed
                if predicate():
                    return
                await changed.wait()

    async def setup_hook(self) -> None:
        for name, behaviour in self.behaviours.items():
            self.tree.add_command(self._command(name, behaviour))
        await self.tree.sync()

    def _command(self, name: str, behaviour: Behaviour) -> app_commands.Command[Any, Any, None]:
        bot = self

        @app_commands.describe(prompt="what to film")
        async def callback(interaction: discord.Interaction, prompt: str = "a cat") -> None:
            try:
                await behaviour(interaction, prompt)
            except Exception as exc:
                bot.fail(exc)

        return app_commands.Command(
            name=name, description=f"test command {name}", callback=callback
        )


async def _video(interaction: discord.Interaction, prompt: str) -> None:
    """What the real bot does: defer, show progress in an embed, then attach the file."""
    await interaction.response.defer()
    await interaction.edit_original_response(
        embed=discord.Embed(title="Rendering", description=prompt)
    )
    await interaction.edit_original_response(
        content="done", attachments=[discord.File(io.BytesIO(MP4), "video.mp4")]
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(token=TOKEN) as server:
        yield server
    # every answer the fake gave matches Discord's spec (a fidelity check of the fake)
    assert server.response_violations == []


@pytest.fixture
def world(fake: FakeDiscord) -> World:
    guild = fake.add_guild(name="Test", upload_limit=4096)
    channel = fake.add_channel(guild, name="general")
    member = fake.add_member(guild, name="alice")
    return guild, channel, member


async def _errors(bot: _Bot, count: int = 1) -> list[Exception]:
    await bot.until(lambda: len(bot.errors) >= count)
    return bot.errors


def _file(size: int) -> discord.File:
    return discord.File(io.BytesIO(b"x" * size), f"{size}.bin")


def _text_channel(interaction: discord.Interaction) -> discord.TextChannel:
    assert isinstance(interaction.channel, discord.TextChannel)
    return interaction.channel


def _raw_headers() -> dict[str, str]:
    return {"Authorization": f"Bot {TOKEN}"}


# --- the happy path --------------------------------------------------------------------------


async def test_bot_logs_in_syncs_defers_and_edits(fake: FakeDiscord, world: World) -> None:
    guild, channel, member = world
    bot = _Bot({"video": _video})
    async with fake.running(bot, TOKEN):
        assert bot.user is not None
        assert bot.user.id == fake.bot_user.id
        [identify] = fake.identifies
        assert identify["token"] == TOKEN
        [sync] = fake.command_syncs
        assert sync.guild_id is None
        assert [c["name"] for c in sync.commands] == ["video"]
        assert sync.commands[0]["options"][0]["name"] == "prompt"
        await asyncio.wait_for(bot.wait_until_ready(), 5)
        assert bot.get_guild(guild.id) is not None
        assert bot.get_channel(channel.id) is not None

        it = await fake.send_interaction(
            "video",
            options=[{"name": "prompt", "type": 3, "value": "a cat on a skateboard"}],
            guild=guild,
            channel=channel,
            member=member,
        )
        final = await it.wait_final(attachments=True)

    assert bot.errors == []
    [callback] = it.callbacks
    assert callback.type == 5
    assert callback.status == 200  # discord.py always asks with_response=1
    assert it.acked_at is not None
    assert it.acked_at < 3
    assert [e.via for e in it.edits] == ["webhook", "webhook"]
    assert all(e.route.endswith("/messages/@original") for e in it.edits)
    assert it.edits[0].payload["embeds"][0]["title"] == "Rendering"
    assert final.embeds[0]["description"] == "a cat on a skateboard"
    assert final.content == "done"
    assert final.files == {"video.mp4": MP4}
    assert final.attachments[0].content_type == "video/mp4"
    assert final in fake.messages(channel)
    assert not final.ephemeral
    assert final.webhook_id == fake.app_id
    assert bot.is_closed()  # running() closed it
    assert [r.route for r in fake.requests] == [
        "/users/@me",
        "/oauth2/applications/@me",
        "/applications/{application_id}/commands",
        "/interactions/{interaction_id}/{interaction_token}/callback",
        "/webhooks/{webhook_id}/{webhook_token}/messages/@original",
        "/webhooks/{webhook_id}/{webhook_token}/messages/@original",
    ]
    fake.assert_spec_clean()
    fake.assert_no_unexpected_requests()
    assert fake.response_violations == []


async def test_interaction_resolves_guild_channel_and_member(
    fake: FakeDiscord, world: World
) -> None:
    guild, channel, member = world
    seen: dict[str, Any] = {}

    async def inspect(interaction: discord.Interaction, prompt: str) -> None:
        seen.update(
            guild=interaction.guild,
            channel=interaction.channel,
            user=interaction.user,
            limit=interaction.filesize_limit,
            expired=interaction.is_expired(),
        )
        await interaction.response.send_message(f"hello {prompt}", ephemeral=True)

    bot = _Bot({"inspect": inspect})
    async with fake.running(bot, TOKEN):
        it = await fake.send_interaction("inspect", guild=guild, channel=channel, member=member)
        await it.wait_for(lambda it: it.final_message)
    assert bot.errors == []
    assert isinstance(seen["guild"], discord.Guild)
    assert seen["guild"].id == guild.id
    assert isinstance(seen["channel"], discord.TextChannel)
    assert seen["channel"].id == channel.id
    assert isinstance(seen["user"], discord.Member)
    assert seen["user"].id == member.id
    assert seen["limit"] == guild.upload_limit
    assert seen["expired"] is False
    assert it.ephemeral
    assert it.original is not None
    assert it.original.content == "hello a cat"
    fake.assert_spec_clean()


# --- rules ------------------------------------------------------------------------------------


async def test_late_callback_gets_10062(fake: FakeDiscord, world: World) -> None:
    guild, channel, member = world

    async def slow(interaction: discord.Interaction, prompt: str) -> None:
        await bot.gate.wait()
        await interaction.response.defer()

    bot = _Bot({"slow": slow})
    async with fake.running(bot, TOKEN):
        it = await fake.send_interaction("slow", guild=guild, channel=channel, member=member)
        fake.advance(3.5)  # the bot "took" 3.5 s
        bot.gate.set()
        [error] = await _errors(bot)
    assert isinstance(error, discord.NotFound)
    assert error.code == 10062
    [callback] = it.callbacks
    assert (callback.status, callback.error_code) == (404, 10062)
    assert callback.time >= 3.5
    assert not it.acknowledged


async def test_expired_token_gets_50027_and_the_bot_token_still_edits(
    fake: FakeDiscord, world: World
) -> None:
    guild, channel, member = world

    async def long_job(interaction: discord.Interaction, prompt: str) -> None:
        response = await interaction.response.defer()
        assert response is not None
        bot.note("message_id", response.message_id)
        await bot.gate.wait()
        bot.note("expired", interaction.is_expired())
        try:
            await interaction.edit_original_response(content="too late")
        except discord.HTTPException as exc:
            bot.note("error", exc)
            # the token is dead: stop using it, edit the public reply with the bot token
            assert response.message_id is not None
            await (
                _text_channel(interaction)
                .get_partial_message(response.message_id)
                .edit(content="late but here")
            )

    bot = _Bot({"long": long_job})
    with fake.patch_utcnow():
        async with fake.running(bot, TOKEN):
            it = await fake.send_interaction("long", guild=guild, channel=channel, member=member)
            await it.wait_for(lambda it: it.acknowledged)
            fake.advance(15 * 60 + 1)
            bot.gate.set()
            await it.wait_for(lambda it: [e for e in it.edits if e.via == "channel"])
    assert bot.errors == []
    assert bot.seen["expired"] is True  # discord.utils.utcnow followed the fake clock
    error = bot.seen["error"]
    assert (error.status, error.code) == (401, 50027)
    assert fake.count_50027(it) == 1
    assert fake.count_50027(it.token) == 1
    assert it.original is not None
    assert bot.seen["message_id"] == it.original.id
    assert it.original.content == "late but here"
    assert [e.via for e in it.edits] == ["channel"]
    assert it.edits[0].route == "/channels/{channel_id}/messages/{message_id}"
    fake.assert_spec_clean()


async def test_oversized_files_get_413_40005(fake: FakeDiscord, world: World) -> None:
    guild, channel, member = world  # guild upload limit 4096

    async def upload(interaction: discord.Interaction, prompt: str) -> None:
        await interaction.response.defer()
        try:  # over the interaction's attachment_size_limit (1024)
            await interaction.edit_original_response(attachments=[_file(2048)])
        except discord.HTTPException as exc:
            bot.note(2048, exc)
        try:  # over the guild's upload limit (4096), through the channel route
            await _text_channel(interaction).send(file=_file(5000))
        except discord.HTTPException as exc:
            bot.note(5000, exc)
        await _text_channel(interaction).send(file=discord.File(io.BytesIO(b"y" * 3000), "ok.bin"))

    bot = _Bot({"upload": upload})
    async with fake.running(bot, TOKEN):
        it = await fake.send_interaction(
            "upload", guild=guild, channel=channel, member=member, attachment_size_limit=1024
        )
        await fake.wait_for(lambda: any(m.attachments for m in fake.messages(channel)))
    assert bot.errors == []
    assert it.payload["attachment_size_limit"] == 1024
    for size in (2048, 5000):
        assert (bot.seen[size].status, bot.seen[size].code) == (413, 40005)
    [ok] = [m for m in fake.messages(channel) if m.attachments]
    assert ok.files == {"ok.bin": b"y" * 3000}
    fake.assert_spec_clean()


async def test_content_over_2000_gets_50035_and_a_retry_succeeds(
    fake: FakeDiscord, world: World
) -> None:
    guild, channel, member = world

    async def chatty(interaction: discord.Interaction, prompt: str) -> None:
        try:
            await interaction.response.send_message("x" * 2001)
        except discord.HTTPException as exc:
            bot.note("error", exc)
        await interaction.response.send_message("x" * 2000)

    bot = _Bot({"chatty": chatty})
    async with fake.running(bot, TOKEN):
        it = await fake.send_interaction("chatty", guild=guild, channel=channel, member=member)
        await it.wait_for(lambda it: it.final_message)
    assert bot.errors == []
    error = bot.seen["error"]
    assert (error.status, error.code) == (400, 50035)
    assert [(c.status, c.error_code) for c in it.callbacks] == [(400, 50035), (200, None)]
    [bad] = [r for r in fake.requests if r.status == 400]
    assert bad.response["errors"] == {
        "data": {
            "content": {
                "_errors": [
                    {"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}
                ]
            }
        }
    }
    # the spec says so too: the violation is recorded
    assert any("maxLength 2000" in v for v in fake.spec_violations)
    with pytest.raises(AssertionError, match="maxLength 2000"):
        fake.assert_spec_clean()


@pytest.mark.parametrize("announce", [False, True])
async def test_webhook_rate_limit_is_waited_out(
    fake: FakeDiscord, world: World, announce: bool
) -> None:
    guild, channel, member = world
    fake.rate_limit_webhook(per_token=1, per_seconds=0.3, announce=announce)

    async def twice(interaction: discord.Interaction, prompt: str) -> None:
        await interaction.response.defer()
        await interaction.edit_original_response(content="one")
        await interaction.edit_original_response(content="two")

    bot = _Bot({"twice": twice})
    async with fake.running(bot, TOKEN):
        it = await fake.send_interaction("twice", guild=guild, channel=channel, member=member)
        await it.wait_for(lambda it: it.final_message and it.final_message.content == "two")
    assert bot.errors == []
    patches = [r for r in fake.requests if r.method == "PATCH"]
    if announce:
        # discord.py read X-RateLimit-Remaining: 0 and waited before asking again
        assert [r.status for r in patches] == [200, 200]
        assert patches[1].at - patches[0].at >= 0.25
    else:
        assert [r.status for r in patches] == [200, 429, 200]
        limited = patches[1]
        assert limited.response["message"] == "You are being rate limited."
        assert limited.response["global"] is False
        assert 0 < limited.response["retry_after"] <= 0.3
        assert limited.response_headers["Via"]
        assert limited.response_headers["X-RateLimit-Remaining"] == "0"
        assert "X-RateLimit-Reset-After" in limited.response_headers
        assert patches[2].at - patches[1].at >= 0.25
    assert [e.payload["content"] for e in it.edits] == ["one", "two"]
    fake.assert_spec_clean()
    assert fake.response_violations == []


async def test_ephemeral_reply_is_not_a_channel_message(fake: FakeDiscord, world: World) -> None:
    guild, channel, member = world

    async def secret(interaction: discord.Interaction, prompt: str) -> None:
        await interaction.response.defer(ephemeral=True)
        message = await interaction.edit_original_response(content="only you")
        try:
            await _text_channel(interaction).get_partial_message(message.id).edit(content="x")
        except discord.NotFound as exc:
            bot.note("error", exc)

    bot = _Bot({"secret": secret})
    async with fake.running(bot, TOKEN):
        it = await fake.send_interaction("secret", guild=guild, channel=channel, member=member)
        await bot.until(lambda: "error" in bot.seen)
    assert bot.errors == []
    assert bot.seen["error"].code == 10008
    assert it.ephemeral
    assert it.final_message is not None
    assert it.final_message.content == "only you"
    assert it.final_message not in fake.messages(channel, ephemeral=False)


async def test_followups_after_defer_and_a_button_click(fake: FakeDiscord, world: World) -> None:
    guild, channel, member = world

    class Buttons(discord.ui.View):
        @discord.ui.button(label="Again", custom_id="again")
        async def again(
            self, interaction: discord.Interaction, button: discord.ui.Button[Any]
        ) -> None:
            await interaction.response.edit_message(content="clicked", view=None)

    async def follow(interaction: discord.Interaction, prompt: str) -> None:
        await interaction.response.defer()
        await interaction.followup.send("first", view=Buttons())
        await interaction.followup.send("second", ephemeral=True)

    bot = _Bot({"follow": follow})
    async with fake.running(bot, TOKEN):
        it = await fake.send_interaction("follow", guild=guild, channel=channel, member=member)
        await it.wait_for(lambda it: len(it.followups) == 2)
        original = it.original
        assert original is not None
        # Discord: the first followup after a defer replaces the "thinking..." message
        assert it.followups[0] is original
        assert original.content == "first"
        assert original.components[0]["components"][0]["custom_id"] == "again"
        assert it.followups[1].ephemeral
        assert it.followups[1].content == "second"

        click = await fake.send_component_interaction(original, "again", member)
        await click.wait_for(lambda c: c.response_type == 7)
    assert bot.errors == []
    assert original.content == "clicked"
    assert original.components == []
    assert click.original is original
    assert [e.via for e in click.edits] == ["callback"]
    fake.assert_spec_clean()
    with pytest.raises(ValueError, match="no component"):
        await fake.send_component_interaction(original, "again", member)


async def test_dm_interaction(fake: FakeDiscord) -> None:
    fake.add_guild(name="Elsewhere")
    bob = fake.add_user("bob")
    bot = _Bot({"video": _video})
    async with fake.running(bot, TOKEN):
        it = await fake.send_interaction("video", user=bob)
        final = await it.wait_final(attachments=True)
    assert bot.errors == []
    assert "member" not in it.payload
    assert it.payload["user"]["id"] == str(bob.id)
    assert final.channel.type == 1
    assert final.channel.recipient is bob
    assert final.files == {"video.mp4": MP4}
    fake.assert_spec_clean()


async def test_gateway_reconnect_resumes_the_session(fake: FakeDiscord, world: World) -> None:
    guild, channel, member = world
    bot = _Bot({"video": _video})
    async with fake.running(bot, TOKEN):
        [session] = fake.gateway_sessions
        await fake.request_reconnect()
        await fake.wait_for(lambda: session.resumes == 1 and session.connection is not None)
        it = await fake.send_interaction("video", guild=guild, channel=channel, member=member)
        await it.wait_for(lambda it: it.final_message and it.final_message.attachments)
    assert len(fake.identifies) == 1
    resumes = [f for f in fake.gateway_frames if f.direction == "in" and f.op == 6]
    assert resumes[0].d["session_id"] == session.id
    assert any(f.t == "RESUMED" for f in fake.gateway_frames)
    assert bot.errors == []


async def test_privileged_intents_must_be_enabled(fake: FakeDiscord) -> None:
    intents = discord.Intents.default()
    intents.message_content = True
    bot = commands.Bot(command_prefix="!", intents=intents, guild_ready_timeout=0.1)
    fake.install()
    try:
        with pytest.raises(discord.PrivilegedIntentsRequired):
            await asyncio.wait_for(bot.start(TOKEN), 5)
    finally:
        await bot.close()
        fake.uninstall()
    assert fake.gateway_closes == [(4014, "Disallowed intent(s).")]


# --- raw wire checks (aiohttp, no discord.py) --------------------------------------------------


async def test_callback_rules_on_the_wire(fake: FakeDiscord, world: World) -> None:
    guild, channel, member = world

    async def idle(interaction: discord.Interaction, prompt: str) -> None:
        bot.note("called", True)  # answers nothing: the test answers on the wire

    bot = _Bot({"idle": idle})
    async with fake.running(bot, TOKEN):
        it = await fake.send_interaction("idle", guild=guild, channel=channel, member=member)
        await bot.until(lambda: bot.seen.get("called"))
        base = fake.rest_base
        callback = f"{base}/interactions/{it.id}/{it.token}/callback"
        original = f"{base}/webhooks/{fake.app_id}/{it.token}/messages/@original"
        async with aiohttp.ClientSession() as http:

            async def call(method: str, url: str, body: Any = None) -> tuple[int, Any, str]:
                async with http.request(method, url, json=body) as resp:
                    text = await resp.text()
                    return (
                        resp.status,
                        json.loads(text) if text else None,
                        resp.headers.get("Content-Type", ""),
                    )

            assert (await call("PATCH", original, {"content": "early"}))[:2] == (
                404,
                {"message": "Unknown Webhook", "code": 10015},
            )
            assert (await call("POST", callback, {"type": 6}))[1][
                "code"
            ] == 50035  # not a component
            assert (await call("POST", callback, {"type": 5}))[0] == 204  # no with_response
            assert (await call("POST", callback, {"type": 5}))[:2] == (
                400,
                {"message": "Interaction has already been acknowledged.", "code": 40060},
            )
            status, body, ctype = await call("PATCH", original, {"content": "now"})
            assert (status, body["content"], ctype) == (200, "now", "application/json")
            wrong = f"{base}/webhooks/{fake.app_id}/not-a-token/messages/@original"
            assert (await call("PATCH", wrong, {"content": "x"}))[1]["code"] == 50027
            assert (await call("POST", f"{base}/interactions/1/x/callback", {"type": 5}))[1][
                "code"
            ] == 10062
    assert [(c.type, c.status) for c in it.callbacks] == [(6, 400), (5, 204), (5, 400)]
    assert it.original is not None
    assert it.original.content == "now"
    fake.assert_spec_clean()


async def test_unknown_routes_are_404_and_recorded(fake: FakeDiscord) -> None:
    async with aiohttp.ClientSession(headers=_raw_headers()) as http:
        async with http.get(f"{fake.rest_base}/users/@me/guilds") as resp:
            assert resp.status == 404
            assert resp.headers["Content-Type"] == "application/json"
            assert await resp.json() == {"message": "404: Not Found", "code": 0}
        async with http.delete(f"{fake.rest_base}/users/@me") as resp:
            assert resp.status == 405
        async with http.get(f"{fake.rest_base}/users/@me") as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"] == "application/json"  # exactly: no charset
        async with http.get(f"{fake.base_url}/api/v9/users/@me") as resp:
            assert resp.status == 404
    async with aiohttp.ClientSession() as http, http.get(f"{fake.rest_base}/users/@me") as resp:
        assert resp.status == 401
    assert [r.path for r in fake.unexpected_requests] == [
        "/users/@me/guilds",
        "/users/@me",
        "/api/v9/users/@me",
    ]
    with pytest.raises(AssertionError, match="does not serve"):
        fake.assert_no_unexpected_requests()


async def test_spec_validation_catches_malformed_bodies(fake: FakeDiscord, world: World) -> None:
    guild, channel, _member = world
    url = f"{fake.rest_base}/channels/{channel.id}/messages"
    async with aiohttp.ClientSession(headers=_raw_headers()) as http:
        async with http.post(url, json={"content": 5, "embeds": "nope", "tts": "yes"}) as resp:
            answer = await resp.json()
        assert resp.status == 400
        assert answer["code"] == 50035
        assert set(answer["errors"]) == {"content", "embeds", "tts"}
        assert len(fake.spec_violations) == 3
        assert any("$.content" in v for v in fake.spec_violations)
        fake.spec_violations.clear()

        # what only the spec knows: the fake accepts it, the violation is recorded
        malformed = {
            "content": "hi",
            "embeds": [{"title": "t", "color": 1 << 25}],
            "sticker_ids": "1",
        }
        async with http.post(url, json=malformed) as resp:
            assert resp.status == 200
        assert len(fake.spec_violations) == 2
        assert any("$.embeds[0].color" in v for v in fake.spec_violations)
        assert any("$.sticker_ids" in v for v in fake.spec_violations)
        recorded = fake.requests[-1]
        assert len(recorded.spec_problems) == 2
        assert recorded.json == malformed
        with pytest.raises(AssertionError, match="break Discord's spec"):
            fake.assert_spec_clean()
        fake.spec_violations.clear()

        # known false positives are not reported: integer attachment ids, booleans as 1/0
        form = aiohttp.FormData(quote_fields=False)
        payload = {"content": "file", "attachments": [{"id": 0, "filename": "a.txt"}]}
        form.add_field("payload_json", json.dumps(payload))
        form.add_field(
            "files[0]", b"hello", filename="a.txt", content_type="application/octet-stream"
        )
        async with http.post(url, data=form) as resp:
            assert resp.status == 200
            sent = await resp.json()
        assert sent["attachments"][0]["filename"] == "a.txt"
        async with http.get(f"{fake.rest_base}/guilds/{guild.id}?with_counts=1") as resp:
            assert resp.status == 200
        fake.assert_spec_clean()
        assert fake.messages(channel)[-1].files == {"a.txt": b"hello"}

        async with http.get(f"{fake.rest_base}/guilds/{guild.id}?with_counts=yes&x=1") as resp:
            assert resp.status == 200
        assert len(fake.spec_violations) == 2
        async with http.post(
            url, data=b"{not json", headers={"Content-Type": "application/json"}
        ) as resp:
            assert (await resp.json())["code"] == 50109
    assert fake.response_violations == []


async def test_message_limits_on_the_wire(fake: FakeDiscord, world: World) -> None:
    _guild, channel, _member = world
    url = f"{fake.rest_base}/channels/{channel.id}/messages"
    button = {"type": 2, "style": 1, "label": "go", "custom_id": "go"}
    async with aiohttp.ClientSession(headers=_raw_headers()) as http:
        for body, path in (
            ({"embeds": [{"title": "t"}] * 11}, ["embeds"]),
            ({"embeds": [{"description": "d" * 4097}]}, ["embeds", "0", "description"]),
            ({"components": [{"type": 1, "components": [button] * 1}] * 6}, ["components"]),
            (
                {"components": [{"type": 1, "components": [{**button, "custom_id": "c" * 101}]}]},
                ["components", "0", "components", "0", "custom_id"],
            ),
            ({"content": ""}, None),
        ):
            async with http.post(url, json=body) as resp:
                answer = await resp.json()
            if path is None:
                assert answer == {"message": "Cannot send an empty message", "code": 50006}
                continue
            assert resp.status == 400
            assert answer["code"] == 50035
            node = answer["errors"]
            for key in path:
                node = node[key]
            assert node["_errors"]


def test_embed_and_component_limits() -> None:
    def errors_of(payload: dict[str, Any]) -> dict[str, Any]:
        errors = FormErrors()
        check_message_body(payload, errors)
        return errors.tree

    assert errors_of({"content": "x" * 2000}) == {}
    embed = {
        "title": "t" * 257,
        "description": "d" * 4096,
        "fields": [{"name": "n" * 257, "value": "v" * 1025}],
        "footer": {"text": "f" * 2049},
    }
    tree = errors_of({"embeds": [embed]})
    assert set(tree["embeds"]["0"]) == {"title", "fields", "footer"}
    assert set(tree["embeds"]["0"]["fields"]["0"]) == {"name", "value"}
    field = {"name": "a", "value": "b"}
    tree = errors_of({"embeds": [{"fields": [field] * 26}]})
    assert tree["embeds"]["0"]["fields"]["_errors"][0]["code"] == "BASE_TYPE_MAX_LENGTH"
    tree = errors_of({"embeds": [{"description": "d" * 3500}] * 2})
    assert tree["embeds"]["_errors"][0]["code"] == "MAX_EMBED_SIZE_EXCEEDED"
    assert errors_of({"embeds": [{"description": "d" * 2900}] * 2}) == {}

    def button(i: int, label: str = "ok") -> dict[str, Any]:
        return {"type": 2, "style": 1, "custom_id": f"b{i}", "label": label}

    tree = errors_of({"components": [{"type": 1, "components": [button(i) for i in range(6)]}]})
    assert tree["components"]["0"]["components"]["_errors"][0]["code"] == "BASE_TYPE_BAD_LENGTH"
    tree = errors_of({"components": [{"type": 1, "components": [button(0, "l" * 81)]}]})
    assert "label" in tree["components"]["0"]["components"]["0"]
    rows = [{"type": 1, "components": [button(i)]} for i in range(6)]
    assert errors_of({"components": rows})["components"]["_errors"]
    assert errors_of({"components": rows[:5]}) == {}


# --- faults and removals ---------------------------------------------------------------------

_ORIGINAL = "/webhooks/{webhook_id}/{webhook_token}/messages/@original"
_CHANNEL_POST = "/channels/{channel_id}/messages"


async def _call(
    http: aiohttp.ClientSession, method: str, url: str, body: Any = None, *, auth: bool = False
) -> tuple[int, Any]:
    """One raw request; the bot token only where asked (webhook routes go without it)."""
    headers = _raw_headers() if auth else {}
    async with http.request(method, url, json=body, headers=headers) as resp:
        text = await resp.text()
        return resp.status, json.loads(text) if text else None


def _idle_bot() -> _Bot:
    """A bot whose /idle answers nothing: the test answers on the wire."""

    async def idle(interaction: discord.Interaction, prompt: str) -> None:
        bot.note("called", interaction.id)

    bot = _Bot({"idle": idle})
    return bot


async def _deferred(fake: FakeDiscord, bot: _Bot, http: aiohttp.ClientSession, world: World) -> Any:
    """An /idle interaction, deferred on the wire and edited to "hello"."""
    guild, channel, member = world
    it = await fake.send_interaction("idle", guild=guild, channel=channel, member=member)
    await bot.until(lambda: bot.seen.get("called") == it.id)
    base = fake.rest_base
    status, _ = await _call(
        http, "POST", f"{base}/interactions/{it.id}/{it.token}/callback", {"type": 5}
    )
    assert status == 204
    original = f"{base}/webhooks/{fake.app_id}/{it.token}/messages/@original"
    status, _ = await _call(http, "PATCH", original, {"content": "hello"})
    assert status == 200
    return it


async def test_injected_faults_answer_without_applying(fake: FakeDiscord, world: World) -> None:
    guild, channel, member = world
    fake.fail_requests("PATCH", _ORIGINAL)  # 503 once: discord.py's webhook adapter retries
    fake.fail_requests("PATCH", _ORIGINAL, status=404, code=10008, with_files=True)
    fake.fail_requests("POST", _CHANNEL_POST, times=-1)

    async def flaky(interaction: discord.Interaction, prompt: str) -> None:
        await interaction.response.defer()
        for content in ("one", "two"):
            try:
                await interaction.edit_original_response(content=content)
            except discord.HTTPException as exc:
                bot.note(content, exc)
        for name in ("first.bin", "second.bin"):
            try:
                await interaction.edit_original_response(
                    attachments=[discord.File(io.BytesIO(b"data"), name)]
                )
            except discord.HTTPException as exc:
                bot.note(name, exc)
        for content in ("a", "b"):
            try:
                await _text_channel(interaction).send(content)
            except discord.HTTPException as exc:
                bot.note(content, exc)
        bot.note("waiting", True)
        await bot.gate.wait()
        await _text_channel(interaction).send("c")

    bot = _Bot({"flaky": flaky})
    async with fake.running(bot, TOKEN):
        it = await fake.send_interaction("flaky", guild=guild, channel=channel, member=member)
        await bot.until(lambda: bot.seen.get("waiting"))
        fake.clear_faults()
        bot.gate.set()
        await fake.wait_for(lambda: any(m.content == "c" for m in fake.messages(channel)))
    assert bot.errors == []
    # on a bot-token route discord.py raises at once on a 503, with Discord's error body
    assert {bot.seen[c].status for c in ("a", "b")} == {503}  # times=-1 until clear_faults
    error = bot.seen["a"]
    assert isinstance(error, discord.DiscordServerError)
    assert (error.code, error.text) == (0, "503: Service Unavailable")
    # a known code carries its own message; with_files spared the plain edits
    error = bot.seen["first.bin"]
    assert isinstance(error, discord.NotFound)
    assert (error.code, error.text) == (10008, "Unknown Message")
    assert not {"one", "two", "second.bin"} & set(bot.seen)

    patches = fake.requests_to("PATCH", _ORIGINAL)
    assert [(r.status, r.error_code, r.fault) for r in patches] == [
        (503, 0, True),
        (200, None, False),  # the webhook adapter retried "one" after sleeping 1 s
        (200, None, False),
        (404, 10008, True),
        (200, None, False),
    ]
    assert patches[1].at - patches[0].at >= 0.9
    assert patches[0].body == patches[1].body
    assert patches[0].body["content"] == "one"
    assert patches[0].response == {"message": "503: Service Unavailable", "code": 0}
    assert patches[3].files[0].filename == "first.bin"  # recorded with what was sent
    # nothing of the failed requests was applied
    assert it.original is not None
    assert it.original.content == "two"
    assert [e.payload.get("content") for e in it.edits] == ["one", "two", None]
    assert it.original.files == {"second.bin": b"data"}
    assert all(a.filename != "first.bin" for a in fake.cdn.values())
    posts = fake.requests_to("POST", _CHANNEL_POST)
    assert [(r.status, r.fault) for r in posts] == [(503, True), (503, True), (200, False)]
    assert [m.content for m in fake.messages(channel) if m.interaction is None] == ["c"]
    fake.assert_spec_clean()
    # response_violations (checked by the fixture) stay empty: 5xx is the edge's, 4xx is checked

    with pytest.raises(ValueError, match="serves no"):
        fake.fail_requests("PATCH", "/channels/{channel_id}")
    with pytest.raises(ValueError, match="429"):
        fake.fail_requests("POST", _CHANNEL_POST, status=429)
    with pytest.raises(ValueError, match="times"):
        fake.fail_requests("POST", _CHANNEL_POST, times=0)


async def test_a_deleted_message_is_unknown_on_every_route(fake: FakeDiscord, world: World) -> None:
    guild, channel, member = world
    bot = _idle_bot()
    async with fake.running(bot, TOKEN), aiohttp.ClientSession() as http:
        it = await _deferred(fake, bot, http, world)
        base = fake.rest_base
        hook = f"{base}/webhooks/{fake.app_id}/{it.token}"
        button = {"type": 2, "style": 1, "label": "go", "custom_id": "go"}
        status, sent = await _call(
            http,
            "POST",
            f"{hook}?wait=true",
            {"content": "more", "components": [{"type": 1, "components": [button]}]},
        )
        assert status == 200
        followup = it.followups[0]
        assert sent["id"] == str(followup.id)
        click = await fake.send_component_interaction(followup, "go", member)

        original = it.original
        assert original is not None
        fake.delete_message(original)  # a moderator
        unknown = (404, {"message": "Unknown Message", "code": 10008})
        by_channel = f"{base}/channels/{channel.id}/messages/{original.id}"
        for method, url, body, auth in (
            ("GET", f"{hook}/messages/@original", None, False),
            ("PATCH", f"{hook}/messages/@original", {"content": "x"}, False),
            ("DELETE", f"{hook}/messages/@original", None, False),
            ("GET", f"{hook}/messages/{original.id}", None, False),
            ("PATCH", f"{hook}/messages/{original.id}", {"content": "x"}, False),
            ("DELETE", f"{hook}/messages/{original.id}", None, False),
            ("GET", by_channel, None, True),
            ("PATCH", by_channel, {"content": "x"}, True),
            ("DELETE", by_channel, None, True),
        ):
            assert await _call(http, method, url, body, auth=auth) == unknown, (method, url)
        # the followup is still there, until it is deleted too
        assert (await _call(http, "GET", f"{hook}/messages/{followup.id}"))[0] == 200
        fake.delete_message(followup)
        fake.delete_message(followup)  # twice: nothing more happens
        assert await _call(http, "GET", f"{hook}/messages/{followup.id}") == unknown
        callback = f"{base}/interactions/{click.id}/{click.token}/callback"
        assert await _call(http, "POST", callback, {"type": 7, "data": {"content": "y"}}) == unknown
        with pytest.raises(ValueError, match="deleted"):
            await fake.send_component_interaction(followup, "go", member)

        def deletes() -> list[Any]:
            return [f.d for f in fake.gateway_frames if f.t == "MESSAGE_DELETE"]

        await fake.wait_for(lambda: len(deletes()) == 2)  # sent from a task
    assert deletes() == [
        {"id": str(m.id), "channel_id": str(channel.id), "guild_id": str(guild.id)}
        for m in (original, followup)
    ]
    assert original.content == "hello"  # the failed PATCHes changed nothing
    assert followup.content == "more"
    assert [c.status for c in click.callbacks] == [404]
    assert not click.acknowledged
    assert fake.messages(channel) == []
    fake.assert_spec_clean()


async def test_a_deleted_channel_is_unknown(fake: FakeDiscord, world: World) -> None:
    guild, channel, member = world
    bot = _idle_bot()
    async with fake.running(bot, TOKEN), aiohttp.ClientSession() as http:
        it = await _deferred(fake, bot, http, world)
        assert bot.get_channel(channel.id) is not None
        base = fake.rest_base
        posted = await _call(
            http, "POST", f"{base}/channels/{channel.id}/messages", {"content": "hi"}, auth=True
        )
        assert posted[0] == 200
        message_id = posted[1]["id"]

        fake.delete_channel(channel)
        unknown_channel = (404, {"message": "Unknown Channel", "code": 10003})
        by_channel = f"{base}/channels/{channel.id}"
        for method, url, body in (
            ("GET", by_channel, None),
            ("POST", f"{by_channel}/messages", {"content": "again"}),
            ("GET", f"{by_channel}/messages/{message_id}", None),
            ("PATCH", f"{by_channel}/messages/{message_id}", {"content": "x"}),
            ("DELETE", f"{by_channel}/messages/{message_id}", None),
        ):
            assert await _call(http, method, url, body, auth=True) == unknown_channel, method
        hook = f"{base}/webhooks/{fake.app_id}/{it.token}"
        assert await _call(http, "PATCH", f"{hook}/messages/@original", {"content": "x"}) == (
            404,
            {"message": "Unknown Message", "code": 10008},
        )
        assert await _call(http, "POST", hook, {"content": "new"}) == unknown_channel
        with pytest.raises(ValueError, match="deleted"):
            await fake.send_interaction("idle", guild=guild, channel=channel, member=member)
        await bot.until(lambda: bot.get_channel(channel.id) is None)  # CHANNEL_DELETE
    assert channel.deleted
    assert channel not in guild.channels
    assert it.original is not None
    assert it.original.content == "hello"
    assert [m.content for m in channel.messages] == ["hello", "hi"]  # readable, unchanged
    assert it.followups == []
    [frame] = [f for f in fake.gateway_frames if f.t == "CHANNEL_DELETE"]
    assert frame.d["id"] == str(channel.id)
    assert frame.d["guild_id"] == str(guild.id)
    fake.assert_spec_clean()


async def test_a_bot_removed_from_a_guild(fake: FakeDiscord, world: World) -> None:
    guild, channel, member = world
    other = fake.add_guild(name="Other")
    other_channel = fake.add_channel(other)
    bot = _idle_bot()

    @bot.event
    async def on_guild_remove(removed: discord.Guild) -> None:
        bot.note("removed", removed.id)

    async with fake.running(bot, TOKEN), aiohttp.ClientSession() as http:
        it = await _deferred(fake, bot, http, world)
        fake.remove_bot(guild)
        await bot.until(lambda: bot.seen.get("removed") == guild.id)  # GUILD_DELETE
        assert bot.get_guild(guild.id) is None
        assert bot.get_guild(other.id) is not None

        base = fake.rest_base
        missing_access = (403, {"message": "Missing Access", "code": 50001})
        for method, url, body in (
            ("GET", f"{base}/channels/{channel.id}", None),
            ("POST", f"{base}/channels/{channel.id}/messages", {"content": "x"}),
            ("GET", f"{base}/guilds/{guild.id}", None),
            ("PUT", f"{base}/applications/{fake.app_id}/guilds/{guild.id}/commands", []),
        ):
            assert await _call(http, method, url, body, auth=True) == missing_access, url
        hook = f"{base}/webhooks/{fake.app_id}/{it.token}"
        unknown_webhook = (404, {"message": "Unknown Webhook", "code": 10015})
        for method, url, body in (
            ("PATCH", f"{hook}/messages/@original", {"content": "x"}),
            ("GET", f"{hook}/messages/@original", None),
            ("POST", hook, {"content": "followup"}),
        ):
            assert await _call(http, method, url, body) == unknown_webhook, method
        # the other guild is untouched
        status, _ = await _call(
            http,
            "POST",
            f"{base}/channels/{other_channel.id}/messages",
            {"content": "ok"},
            auth=True,
        )
        assert status == 200
        with pytest.raises(ValueError, match="removed"):
            await fake.send_interaction("idle", guild=guild, channel=channel, member=member)
    assert guild.bot_removed
    assert guild.id not in fake.guilds
    assert guild.member(fake.bot_user.id) is None
    assert it.original is not None
    assert it.original.content == "hello"
    assert it.followups == []
    assert [f.d for f in fake.gateway_frames if f.t == "GUILD_DELETE"] == [{"id": str(guild.id)}]
    fake.assert_spec_clean()


# --- the fake's own consistency --------------------------------------------------------------


def test_routes_are_the_vendored_operations() -> None:
    served = {(r.template, r.method.lower()) for r in ROUTES}
    vendored = {(path, m) for path, methods in extract.OPERATIONS.items() for m in methods}
    assert served == vendored
    assert all(spec.has_operation(method, template) for template, method in served)


def test_response_validation_detects_a_broken_answer() -> None:
    route = "/webhooks/{webhook_id}/{webhook_token}/messages/@original"
    problems = spec.validate_response("PATCH", route, 200, {"id": "1", "content": 5})
    assert problems
    assert (
        spec.validate_response("PATCH", route, 404, {"message": "Unknown Webhook", "code": 10015})
        == []
    )


async def test_interaction_options_must_match_the_synced_command(
    fake: FakeDiscord, world: World
) -> None:
    guild, channel, member = world
    bot = _Bot({"video": _video})
    async with fake.running(bot, TOKEN):
        with pytest.raises(ValueError, match="no option 'seconds'"):
            await fake.send_interaction(
                "video",
                [{"name": "seconds", "type": 4, "value": 4}],
                guild=guild,
                channel=channel,
                member=member,
            )
        with pytest.raises(ValueError, match="has type 3"):
            await fake.send_interaction(
                "video",
                [{"name": "prompt", "type": 4, "value": 4}],
                guild=guild,
                channel=channel,
                member=member,
            )
    assert fake.interactions == []


async def test_attachment_option_and_a_multipart_reply(fake: FakeDiscord, world: World) -> None:
    guild, channel, member = world
    image = fake.make_attachment("cat.png", b"\x89PNG fake image", "image/png")

    @app_commands.command(name="look", description="look at a picture")
    async def look(interaction: discord.Interaction, picture: discord.Attachment) -> None:
        data = await picture.read()  # downloaded from the fake's CDN
        reply = discord.File(io.BytesIO(data[::-1]), "reversed.bin")
        await interaction.response.send_message(
            f"{len(data)} bytes of {picture.filename}", file=reply
        )

    bot = _Bot({})
    bot.tree.add_command(look)
    async with fake.running(bot, TOKEN):
        assert [c["name"] for c in fake.command_syncs[0].commands] == ["look"]
        it = await fake.send_interaction(
            "look",
            [{"name": "picture", "type": 11, "value": str(image.id)}],
            attachments=[image],
            guild=guild,
            channel=channel,
            member=member,
        )
        final = await it.wait_final()
    assert it.payload["data"]["resolved"]["attachments"][str(image.id)]["filename"] == "cat.png"
    assert fake.cdn_requests == [f"/attachments/ephemeral/{image.id}/cat.png"]
    assert final.content == f"{len(image.data)} bytes of cat.png"
    assert final.files == {"reversed.bin": image.data[::-1]}
    [callback] = it.callbacks
    assert callback.type == 4
    assert callback.files[0].data == image.data[::-1]  # sent as multipart with payload_json
    [request] = fake.requests_to(
        "POST", "/interactions/{interaction_id}/{interaction_token}/callback"
    )
    assert request.payload_json["data"]["attachments"] == [{"id": 0, "filename": "reversed.bin"}]
    fake.assert_spec_clean()


async def test_guild_command_sync_is_recorded(fake: FakeDiscord, world: World) -> None:
    guild, channel, member = world
    bot = _Bot({"video": _video})
    async with fake.running(bot, TOKEN):
        target = discord.Object(id=guild.id)
        bot.tree.copy_global_to(guild=target)
        synced = await bot.tree.sync(guild=target)
        fetched = await bot.tree.fetch_commands(guild=target)
        assert [c.id for c in fetched] == [c.id for c in synced]
        it = await fake.send_interaction("video", guild=guild, channel=channel, member=member)
        await it.wait_for(lambda it: it.final_message and it.final_message.attachments)
    global_sync, guild_sync = fake.command_syncs
    assert global_sync.guild_id is None
    assert guild_sync.guild_id == guild.id
    assert it.payload["data"]["id"] == str(synced[0].id)  # the guild command wins
    assert it.payload["data"]["guild_id"] == str(guild.id)
    fake.assert_spec_clean()


async def test_a_client_hanging_up_mid_upload_is_no_failure_of_the_fake(
    fake: FakeDiscord, world: World
) -> None:
    _guild, channel, _member = world
    assert fake.port is not None
    _reader, writer = await asyncio.open_connection(fake.host, fake.port)
    boundary = "xyz"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files[0]"; filename="a.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    writer.write(
        (
            f"POST /api/v10/channels/{channel.id}/messages HTTP/1.1\r\n"
            f"Host: {fake.host}\r\nAuthorization: Bot {TOKEN}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {len(head) + 100_000}\r\n\r\n"
        ).encode()
        + head
        + b"x" * 1000
    )
    await writer.drain()
    await fake.wait_for(lambda: fake.requests)
    writer.close()  # the bot closed mid-upload
    await writer.wait_closed()
    await fake.wait_for(lambda: fake.requests[-1].aborted)
    assert fake.internal_errors == []
    assert fake.requests[-1].status is None
    assert fake.messages(channel) == []
