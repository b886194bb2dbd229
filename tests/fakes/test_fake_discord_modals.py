"""Modal submits, message commands and expiring attachment URLs of the fake Discord, proven
with a tiny real discord.py bot (and raw aiohttp where the bot would not misbehave)."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands
from PIL import Image

from tests.fakes.discord import FakeDiscord, FakeInteraction, spec
from tests.fakes.discord.cdn import URL_LIFETIME
from tests.fakes.discord.records import FakeChannel, FakeGuild, FakeMember
from tests.fakes.discord.rules import DiscordError
from tests.fakes.discord.server import check_commands

World = tuple[FakeGuild, FakeChannel, FakeMember]
AppCommand = app_commands.Command[Any, Any, Any] | app_commands.ContextMenu
TOKEN = "fake-token"
MESSAGE_CONTENT = 1 << 15
CALLBACK = "/interactions/{interaction_id}/{interaction_token}/callback"


class _Bot(commands.Bot):
    """A real commands.Bot that syncs the given app commands and notes what they saw."""

    def __init__(self, *app_cmds: AppCommand, message_content: bool = False) -> None:
        intents = discord.Intents.default()
        intents.message_content = message_content
        super().__init__(
            command_prefix=commands.when_mentioned, intents=intents, guild_ready_timeout=0.1
        )
        self.app_cmds = app_cmds
        self.seen: dict[str, Any] = {}
        self.gate = asyncio.Event()
        self._changed = asyncio.Event()

    def note(self, key: str, value: Any) -> None:
        self.seen[key] = value
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
        for command in self.app_cmds:
            self.tree.add_command(command)
        await self.tree.sync()


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(token=TOKEN) as server:
        yield server
    # every answer and interaction payload the fake gave matches Discord's spec
    assert server.response_violations == []


@pytest.fixture
def world(fake: FakeDiscord) -> World:
    guild = fake.add_guild(name="Test")
    channel = fake.add_channel(guild, name="general")
    member = fake.add_member(guild, name="alice")
    return guild, channel, member


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "orange").save(out, format="PNG")
    return out.getvalue()


async def _call(
    http: aiohttp.ClientSession, method: str, url: str, body: Any = None
) -> tuple[int, Any]:
    async with http.request(method, url, json=body) as resp:
        text = await resp.text()
        return resp.status, json.loads(text) if text else None


# --- modals -----------------------------------------------------------------------------------


class _Survey(discord.ui.Modal, title="Survey"):
    """A classic text input (put in an action row by discord.py), a Label-wrapped select and
    text input, and a text display."""

    def __init__(self, bot: _Bot, custom_id: str) -> None:
        super().__init__(custom_id=custom_id)
        self.bot = bot
        self.name = discord.ui.TextInput(
            label="Name", custom_id="name", min_length=2, max_length=20
        )
        self.colours: discord.ui.Select[Any] = discord.ui.Select(
            custom_id="colours",
            min_values=1,
            max_values=2,
            options=[
                discord.SelectOption(label="Red", value="red"),
                discord.SelectOption(label="Blue", value="blue"),
                discord.SelectOption(label="Green", value="green", default=True),
            ],
        )
        self.notes = discord.ui.TextInput(
            custom_id="notes", style=discord.TextStyle.paragraph, required=False, default="none"
        )
        self.add_item(self.name)
        self.add_item(discord.ui.Label(text="Colours", component=self.colours))
        self.add_item(
            discord.ui.Label(text="Notes", description="anything else", component=self.notes)
        )
        self.add_item(discord.ui.TextDisplay("Thanks for answering!"))

    async def on_submit(self, interaction: discord.Interaction) -> None:
        self.bot.note(
            "submitted",
            {
                "name": self.name.value,
                "colours": list(self.colours.values),
                "notes": self.notes.value,
                "data": interaction.data,
                "type": interaction.type,
            },
        )
        await interaction.response.send_message(f"thanks {self.name.value}", ephemeral=True)


def _survey_bot() -> _Bot:
    @app_commands.command(name="survey", description="answer a survey")
    async def survey(interaction: discord.Interaction) -> None:
        # discord.py keeps open modals by custom_id alone: one per user
        await interaction.response.send_modal(_Survey(bot, f"survey-{interaction.user.name}"))

    bot = _Bot(survey)
    return bot


async def _modal_shown(fake: FakeDiscord, world: World) -> FakeInteraction:
    guild, channel, member = world
    it = await fake.send_interaction("survey", guild=guild, channel=channel, member=member)
    await it.wait_for(lambda it: it.response_type == 9)
    return it


SUBMITTED_DATA = {
    "custom_id": "survey-alice",
    "components": [
        {
            "type": 1,
            "id": 1,
            "components": [{"type": 4, "id": 2, "custom_id": "name", "value": "Ada"}],
        },
        {
            "type": 18,
            "id": 3,
            "component": {"type": 3, "id": 4, "custom_id": "colours", "values": ["red", "blue"]},
        },
        {
            "type": 18,
            "id": 5,
            "component": {"type": 4, "id": 6, "custom_id": "notes", "value": "none"},
        },
        {"type": 10, "id": 7},
    ],
}


async def test_a_modal_with_a_text_input_and_a_label_select_is_read_back(
    fake: FakeDiscord, world: World
) -> None:
    bot = _survey_bot()
    async with fake.running(bot, TOKEN):
        it = await _modal_shown(fake, world)
        assert it.modal is not None
        # the ids Discord gave the modal's components, in document order
        assert [c["id"] for c in it.modal["components"]] == [1, 3, 5, 7]
        assert it.modal["components"][1]["component"]["id"] == 4
        submit = await fake.submit_modal(it, {"name": "Ada", "colours": ["red", "blue"]})
        final = await submit.wait_final()
        with pytest.raises(ValueError, match="modal closed"):
            await fake.submit_modal(it, {"name": "Bob"})  # answered: the modal is gone

    seen = bot.seen["submitted"]
    assert (seen["name"], seen["colours"], seen["notes"]) == ("Ada", ["red", "blue"], "none")
    assert seen["type"] is discord.InteractionType.modal_submit
    assert seen["data"] == SUBMITTED_DATA
    assert submit.payload["data"] == SUBMITTED_DATA
    assert submit.type == 5
    assert "message" not in submit.payload  # a command opened the modal
    assert submit.token != it.token
    assert submit.id != it.id
    assert submit.triggering is it
    assert it.modal_submits == [submit]
    assert submit.payload["member"]["user"]["id"] == str(world[2].id)
    assert final.content == "thanks Ada"
    assert final.ephemeral
    meta = final.to_payload()["interaction_metadata"]
    assert meta["type"] == 5
    assert meta["triggering_interaction_metadata"]["id"] == str(it.id)
    # the MODAL callback went through the spec: discord.py sends Label/TextDisplay as it should
    [modal_callback] = [c for c in it.callbacks if c.type == 9]
    assert modal_callback.data is not None
    assert modal_callback.data["components"][2]["component"]["label"] is None
    fake.assert_spec_clean()


async def test_modal_submissions_no_client_could_make_are_refused(
    fake: FakeDiscord, world: World
) -> None:
    guild, channel, _member = world
    bob = fake.add_member(guild, name="bob")
    bot = _survey_bot()
    async with fake.running(bot, TOKEN):
        plain = await fake.send_interaction("survey", guild=guild, channel=channel, member=bob)
        await plain.wait_for(lambda it: it.response_type == 9)
        it = await _modal_shown(fake, world)
        before = len(fake.interactions)
        for values, match in (
            ({"name": ""}, "required"),
            ({"name": "A"}, "2 to 20 characters"),
            ({"name": "x" * 21}, "2 to 20 characters"),
            ({"name": "a\nb"}, "one-line"),
            ({"name": 5}, "takes a str"),
            ({"name": "Ada", "colours": "red"}, "list of option values"),
            ({"name": "Ada", "colours": []}, "required"),
            ({"name": "Ada", "colours": ["purple"]}, "no option"),
            ({"name": "Ada", "colours": ["red", "blue", "green"]}, "1 to 2 values"),
            ({"name": "Ada", "colours": ["red", "red"]}, "chosen once"),
            ({"name": "Ada", "nope": "x"}, "no input with custom_id"),
        ):
            with pytest.raises(ValueError, match=match):
                await fake.submit_modal(it, values)
        with pytest.raises(ValueError, match="only the user"):
            await fake.submit_modal(it, {"name": "Ada"}, member=bob)
        assert len(fake.interactions) == before  # nothing was sent

        # left out: the pre-filled text and the default option, as a client submits them
        submit = await fake.submit_modal(it, {"name": "Ada"})
        await submit.wait_final()
        seen = bot.seen["submitted"]
        assert (seen["name"], seen["colours"], seen["notes"]) == ("Ada", ["green"], "none")

        # bob's own modal is his to submit
        bobs = await fake.submit_modal(plain, {"name": "Bob", "notes": ""}, member=bob)
        await bobs.wait_final()
        seen = bot.seen["submitted"]
        assert (seen["name"], seen["colours"], seen["notes"]) == ("Bob", ["green"], "")
        with pytest.raises(ValueError, match="not answered with a modal"):
            await fake.submit_modal(bobs, {})
    fake.assert_spec_clean()


class _Rename(discord.ui.Modal, title="Rename"):
    def __init__(self) -> None:
        super().__init__(custom_id="rename")
        self.title_input = discord.ui.TextInput(custom_id="title", max_length=40)
        self.add_item(discord.ui.Label(text="New title", component=self.title_input))

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.edit_message(content=f"renamed to {self.title_input}", view=None)


class _RenameButton(discord.ui.View):
    @discord.ui.button(label="Rename", custom_id="rename-button")
    async def rename(
        self, interaction: discord.Interaction, button: discord.ui.Button[Any]
    ) -> None:
        await interaction.response.send_modal(_Rename())


async def test_a_modal_opened_by_a_button_carries_the_message_and_updates_it(
    fake: FakeDiscord, world: World
) -> None:
    guild, channel, member = world

    @app_commands.command(name="start", description="post a renamable message")
    async def start(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("untitled", view=_RenameButton())

    bot = _Bot(start)
    async with fake.running(bot, TOKEN):
        it = await fake.send_interaction("start", guild=guild, channel=channel, member=member)
        message = await it.wait_final()
        click = await fake.send_component_interaction(message, "rename-button", member)
        await click.wait_for(lambda c: c.response_type == 9)
        submit = await fake.submit_modal(click, {"title": "A cat"})
        await submit.wait_for(lambda s: s.response_type == 7)
    assert submit.payload["message"]["id"] == str(message.id)
    assert submit.message is message
    assert submit.payload["data"]["components"] == [
        {
            "type": 18,
            "id": 1,
            "component": {"type": 4, "id": 2, "custom_id": "title", "value": "A cat"},
        }
    ]
    assert message.content == "renamed to A cat"
    assert message.components == []
    assert submit.original is message
    assert [e.via for e in submit.edits] == ["callback"]
    fake.assert_spec_clean()


async def test_a_modal_submit_has_its_own_token_and_deadlines(
    fake: FakeDiscord, world: World
) -> None:
    """Answered on the wire: the bot's on_submit does nothing."""
    guild, channel, member = world

    class Quiet(discord.ui.Modal, title="Quiet"):
        answer: discord.ui.TextInput[Any] = discord.ui.TextInput(label="Answer", custom_id="a")

        async def on_submit(self, interaction: discord.Interaction) -> None:
            bot.note("submit", interaction.id)

    @app_commands.command(name="ask", description="ask something")
    async def ask(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(Quiet(custom_id="quiet"))

    bot = _Bot(ask)
    async with fake.running(bot, TOKEN), aiohttp.ClientSession() as http:
        it = await fake.send_interaction("ask", guild=guild, channel=channel, member=member)
        await it.wait_for(lambda it: it.response_type == 9)
        base = fake.rest_base

        # reaching the bot 3.5 s after Discord made it: its 3 s are already gone
        late = await fake.submit_modal(it, {"a": "late"}, at_age=3.5)
        await bot.until(lambda: bot.seen.get("submit") == late.id)
        assert late.age >= 3.5
        # its snowflake is in the past too, so discord.py dates it the same
        assert discord.utils.snowflake_time(late.id) < discord.utils.snowflake_time(it.id)
        callback = f"{base}/interactions/{late.id}/{late.token}/callback"
        assert await _call(http, "POST", callback, {"type": 5}) == (
            404,
            {"message": "Unknown interaction", "code": 10062},
        )

        # unanswered, the modal stays open: the user submits again
        submit = await fake.submit_modal(it, {"a": "again"})
        callback = f"{base}/interactions/{submit.id}/{submit.token}/callback"
        modal = {
            "custom_id": "again",
            "title": "Again",
            "components": [{"type": 10, "content": "no modal on a modal submit"}],
        }
        # no message to update (a command opened the modal), no modal on a modal submit
        for body in (
            {"type": 6},
            {"type": 7, "data": {"content": "x"}},
            {"type": 9, "data": modal},
        ):
            status, answer = await _call(http, "POST", callback, body)
            assert (status, answer["code"]) == (400, 50035), body
        assert (await _call(http, "POST", callback, {"type": 5}))[0] == 204
        original = f"{base}/webhooks/{fake.app_id}/{submit.token}/messages/@original"
        assert (await _call(http, "PATCH", original, {"content": "got it"}))[0] == 200
        fake.advance(15 * 60)
        assert await _call(http, "PATCH", original, {"content": "later"}) == (
            401,
            {"message": "Invalid Webhook Token", "code": 50027},
        )
        with pytest.raises(ValueError, match="modal closed"):
            await fake.submit_modal(it, {"a": "third"})
    assert fake.count_50027(submit) == 1
    assert it.count_50027 == 0
    assert submit.original is not None
    assert submit.original.content == "got it"
    assert [(c.type, c.status) for c in submit.callbacks] == [
        (6, 400),
        (7, 400),
        (9, 400),
        (5, 204),
    ]
    assert it.modal_submits == [late, submit]
    fake.assert_spec_clean()


# --- message commands ---------------------------------------------------------------------------


def _message_command_bot(*, message_content: bool = False) -> _Bot:
    @app_commands.context_menu(name="Make Video")
    async def make_video(interaction: discord.Interaction, message: discord.Message) -> None:
        [picture] = message.attachments
        bot.note("message", message)
        bot.note("data", interaction.data)
        await bot.gate.wait()
        try:
            data = await picture.read()
        except discord.NotFound as exc:
            bot.note("read_error", exc)
            # the URL died: fetch the message again for a freshly signed one
            assert interaction.channel is not None
            assert isinstance(interaction.channel, discord.TextChannel)
            fresh = await interaction.channel.fetch_message(message.id)
            bot.note("fetched", fresh)
            data = await fresh.attachments[0].read()
        bot.note("bytes", data)
        await interaction.response.send_message(f"{len(data)} bytes", ephemeral=True)

    bot = _Bot(make_video, message_content=message_content)
    return bot


async def test_a_message_command_gets_the_resolved_message_with_attachments(
    fake: FakeDiscord, world: World
) -> None:
    guild, channel, member = world
    png = _png(32, 16)
    picture = fake.make_attachment("cat.png", png)
    bot = _message_command_bot()
    bot.gate.set()

    @bot.event
    async def on_message(posted: discord.Message) -> None:
        bot.note("on_message", posted)

    async with fake.running(bot, TOKEN), aiohttp.ClientSession() as http:
        [sync] = fake.command_syncs
        assert sync.commands[0]["name"] == "Make Video"
        assert sync.commands[0]["type"] == 3
        assert "description" not in sync.commands[0]
        assert sync.response[0]["description"] == ""

        upload_url = picture.url  # while it is an ephemeral upload
        message = fake.post_user_message(
            channel,
            member,
            content="make this move",
            attachments=[picture],
            embeds=[{"title": "a cat"}],
        )
        with pytest.raises(ValueError, match="already in a message"):
            fake.post_user_message(channel, member, attachments=[picture])
        with pytest.raises(ValueError, match="empty"):
            fake.post_user_message(channel, member)
        with pytest.raises(ValueError, match="could not send"):
            fake.post_user_message(channel, member, content="x" * 2001)
        with pytest.raises(ValueError, match="not a member"):
            fake.post_user_message(channel, fake.add_user("stranger"), content="hi")
        created = await fake.wait_for(
            lambda: [f.d for f in fake.gateway_frames if f.t == "MESSAGE_CREATE"]
        )
        await bot.until(lambda: "on_message" in bot.seen)
        # through REST too, an app without the MESSAGE_CONTENT intent sees no content
        headers = {"Authorization": f"Bot {TOKEN}"}
        async with http.get(
            f"{fake.rest_base}/channels/{channel.id}/messages/{message.id}", headers=headers
        ) as resp:
            fetched = await resp.json()
        assert (fetched["content"], fetched["attachments"], fetched["embeds"]) == ("", [], [])
        it = await fake.send_message_command("Make Video", message, member=member)
        final = await it.wait_final()
        async with http.get(upload_url) as resp:
            assert resp.status == 404  # the upload now lives in the channel's folder

        with pytest.raises(ValueError, match="synced no message command 'Nope'"):
            await fake.send_message_command("Nope", message, member=member)
        other = fake.add_channel(guild, name="other")
        with pytest.raises(ValueError, match="channel of its message"):
            await fake.send_message_command("Make Video", message, channel=other, member=member)

    # the gateway's MESSAGE_CREATE: no MESSAGE_CONTENT intent, so no content
    [event] = created
    assert (event["content"], event["attachments"], event["embeds"]) == ("", [], [])
    assert event["author"]["id"] == str(member.id)
    assert event["guild_id"] == str(guild.id)
    assert "user" not in event["member"]
    posted: discord.Message = bot.seen["on_message"]
    assert isinstance(posted.author, discord.Member)
    assert (posted.id, posted.author.id, posted.content) == (message.id, member.id, "")

    data = it.payload["data"]
    [command] = fake.registered[None]
    assert (data["id"], data["name"], data["type"]) == (command["id"], "Make Video", 3)
    assert data["target_id"] == str(message.id)
    assert "options" not in data
    resolved = data["resolved"]["messages"][str(message.id)]
    assert resolved["content"] == "make this move"  # always, whatever the intents
    assert resolved["embeds"][0]["title"] == "a cat"
    [sent] = resolved["attachments"]
    assert sent["id"] == str(picture.id)
    assert (sent["filename"], sent["size"], sent["content_type"]) == (
        "cat.png",
        len(png),
        "image/png",
    )
    assert (sent["width"], sent["height"]) == (32, 16)
    assert sent["proxy_url"] == sent["url"]
    url = urlsplit(sent["url"])
    assert url.path == f"/attachments/{channel.id}/{picture.id}/cat.png"
    query = parse_qs(url.query)
    assert int(query["ex"][0], 16) - int(query["is"][0], 16) == URL_LIFETIME
    assert len(query["hm"][0]) == 64
    assert sent["url"].endswith("&")  # as Discord writes them
    assert "ephemeral" not in sent  # a message's file, no longer an ephemeral upload

    seen: discord.Message = bot.seen["message"]
    assert seen.id == message.id
    assert seen.content == "make this move"
    assert seen.author.id == member.id
    [attachment] = seen.attachments
    assert (attachment.width, attachment.height, attachment.size) == (32, 16, len(png))
    assert attachment.url == sent["url"]
    assert bot.seen["data"]["resolved"] == data["resolved"]
    assert bot.seen["bytes"] == png  # downloaded from the fake's CDN
    assert final.content == f"{len(png)} bytes"
    assert final.type == 23  # CONTEXT_MENU_COMMAND
    assert final.to_payload()["interaction_metadata"]["target_message_id"] == str(message.id)
    assert it.target is message
    assert message.attachments == [picture]
    assert [(r.status, r.reason) for r in fake.cdn_log] == [(200, None), (404, "unknown")]
    fake.assert_spec_clean()


async def test_a_dead_attachment_url_is_not_found_and_a_fetch_renews_it() -> None:
    async with FakeDiscord(token=TOKEN, privileged_intents=MESSAGE_CONTENT) as fake:
        guild = fake.add_guild()
        channel = fake.add_channel(guild)
        member = fake.add_member(guild)
        picture = fake.make_attachment("cat.png", _png(8, 8))
        bot = _message_command_bot(message_content=True)
        async with fake.running(bot, TOKEN):
            message = fake.post_user_message(channel, member, attachments=[picture])
            it = await fake.send_message_command("Make Video", message, member=member)
            await bot.until(lambda: "message" in bot.seen)
            fake.expire_attachment(picture)  # the URL the bot holds is dead now
            bot.gate.set()
            await it.wait_final()
    error = bot.seen["read_error"]
    assert isinstance(error, discord.NotFound)
    assert error.status == 404
    held = bot.seen["message"].attachments[0].url
    renewed = bot.seen["fetched"].attachments[0].url
    assert renewed != held
    assert bot.seen["bytes"] == picture.data
    assert [(r.status, r.reason) for r in fake.cdn_log] == [(404, "bad signature"), (200, None)]
    assert fake.response_violations == []
    fake.assert_spec_clean()


async def test_attachment_urls_are_signed_and_expire_after_24_hours(fake: FakeDiscord) -> None:
    upload = fake.make_attachment("notes v2.txt", b"hello")
    assert upload.content_type == "text/plain"  # guessed from the name
    assert (upload.width, upload.height) == (None, None)
    url = upload.url
    assert url.startswith(f"{fake.cdn_base}/ephemeral/{upload.id}/notes%20v2.txt?ex=")
    assert upload.url == url  # stable while it lives
    expires = upload.url_expires_at
    assert expires is not None
    assert expires - fake.clock.wall() == pytest.approx(URL_LIFETIME, abs=2)
    ex = parse_qs(urlsplit(url).query)["ex"][0]

    async def get(target: str) -> tuple[int, bytes]:
        async with http.get(target) as resp:
            return resp.status, await resp.read()

    async with aiohttp.ClientSession() as http:
        assert await get(url) == (200, b"hello")
        gone = (404, b"This content is no longer available.")
        assert await get(upload.base_url) == gone  # unsigned
        assert await get(url.replace(f"ex={ex}", f"ex={int(ex, 16) + 60:x}")) == gone
        assert await get(url.replace("notes%20v2.txt", "other.txt")) == gone
        fake.advance(URL_LIFETIME - 60)
        assert await get(url) == (200, b"hello")
        fake.advance(120)
        assert await get(url) == gone  # expired
        fresh = upload.url  # rendered again, as in any later payload
        assert fresh != url
        assert await get(fresh) == (200, b"hello")
        fake.expire_attachment(upload)
        assert await get(fresh) == gone
        assert await get(upload.url) == (200, b"hello")
    assert [r.reason for r in fake.cdn_log] == [
        None,
        "unsigned",
        "bad signature",
        "unknown",
        None,
        "expired",
        None,
        "bad signature",
        None,
    ]
    assert fake.cdn_requests[0] == f"/attachments/ephemeral/{upload.id}/notes v2.txt"


def test_command_sync_checks_context_menus() -> None:
    def error_of(commands_: list[dict[str, Any]]) -> Any:
        try:
            check_commands(commands_)
        except DiscordError as exc:
            return exc.errors if exc.code == 50035 else exc.code
        return None

    menu = {"name": "Make Video", "type": 3}
    assert error_of([menu, {**menu, "type": 2}, {"name": "video", "description": "v"}]) is None
    assert error_of([{**menu, "description": ""}]) is None
    assert error_of([{**menu, "name": "M" * 32}]) is None
    tree = error_of([{**menu, "name": "M" * 33}])
    assert tree["0"]["name"]["_errors"][0]["code"] == "BASE_TYPE_BAD_LENGTH"
    tree = error_of([{**menu, "description": "makes a video"}])
    assert tree["0"]["description"]["_errors"][0]["code"] == (
        "APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION_INVALID"
    )
    tree = error_of([{**menu, "options": [{"type": 3, "name": "x", "description": "x"}]}])
    assert "options" in tree["0"]
    tree = error_of([{"name": "Make Video", "description": "a slash command"}])
    assert tree["0"]["name"]["_errors"][0]["code"] == "APPLICATION_COMMAND_INVALID_NAME"
    tree = error_of([menu, menu])
    assert tree["1"]["name"]["_errors"][0]["code"] == "APPLICATION_COMMANDS_DUPLICATE_NAME"
    assert error_of([{**menu, "name": f"Menu {i}"} for i in range(6)]) == 30032


def test_interaction_payload_validation_detects_a_broken_message() -> None:
    broken = {"type": 2, "data": {"resolved": {"messages": {"1": {"id": "1", "content": 5}}}}}
    problems = spec.validate_interaction(broken)
    assert any("messages[1]: $.content: 5 is not of type 'string'" in p for p in problems)
    assert any("'author' is a required property" in p for p in problems)
    attachment = {"id": "2", "filename": "a.png", "size": 1, "url": "u", "proxy_url": "u"}
    fine = {"type": 2, "data": {"resolved": {"attachments": {"2": attachment}}}}
    assert spec.validate_interaction(fine) == []
    assert spec.validate_interaction({**fine, "message": {"id": "3"}})  # message: incomplete
