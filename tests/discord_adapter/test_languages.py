"""The bot speaks the reader's language: the member's for private answers, the server's (or
the one its admins chose) for public cards; command descriptions localised, names English;
every card within Discord's limits in every language."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import aiohttp
import discord
import pytest
from babel.messages.pofile import read_po
from discord import app_commands

from bot import i18n
from bot.discord_adapter import card_v2, render
from bot.discord_adapter.command_sync import definitions_hash
from bot.discord_adapter.translator import CatalogueTranslator
from bot.domain import Phase
from bot.media.delivery import plan_delivery
from bot.store import JobState
from scripts import catalogues
from tests.discord_adapter.harness import Harness, running_harness
from tests.discord_adapter.test_admin import manager
from tests.discord_adapter.test_admin import text as private_text
from tests.discord_adapter.test_card_v2 import LONG, ORIGINAL, accepted, job_view
from tests.discord_adapter.test_video_command import embed_text, ephemeral_reply
from tests.fakes.chat import FakeChat
from tests.fakes.discord import FakeInteraction, FakeMessage, rules

# Discord locales a member may have, and the catalogue each reads.
SPOKEN = {locale: code for locale, code in i18n.DISCORD_LOCALES.items() if code != i18n.ENGLISH}
NOW = 1_800_000_000.0


@cache
def patterns(code: str) -> list[tuple[re.Pattern[str], str]]:
    """Each message of a catalogue as a pattern its rendered text matches (placeholders as
    wildcards), with its English id."""
    if code == i18n.ENGLISH:
        source = catalogues.template()
        pairs = [(m.id, m.id) for m in source if m.id]
    else:
        with catalogues.po_path(code).open("rb") as handle:
            pairs = [(m.string, m.id) for m in read_po(handle) if m.id and m.string]
    found = []
    for strings, english in pairs:
        for text in strings if isinstance(strings, tuple | list) else (strings,):
            parts = re.split(r"\{[a-z_][a-z0-9_]*\}", text.replace("{{", "{").replace("}}", "}"))
            if sum(len(p.strip()) for p in parts) < 4:
                continue  # "{a} · {b}": says nothing about the language
            pattern = ".+?".join(re.escape(p) for p in parts)
            found.append((re.compile(pattern, re.DOTALL), str(english)))
    return found


@cache
def said(code: str) -> frozenset[str]:
    """Every whole message of a catalogue (translations; for English, the ids)."""
    if code == i18n.ENGLISH:
        return frozenset(str(m.id) for m in catalogues.template() if isinstance(m.id, str))
    with catalogues.po_path(code).open("rb") as handle:
        return frozenset(m.string for m in read_po(handle) if isinstance(m.string, str) and m.id)


def labelled_in(message: FakeMessage, code: str) -> None:
    """Every button of `message` is labelled with one of `code`'s messages, word for word
    (link buttons to the video included)."""
    found = labels(message)
    assert found
    strangers = [label for label in found if label not in said(code)]
    assert not strangers, f"labels not in {code!r}: {strangers}"


def spoken_in(text: str, code: str) -> list[str]:
    """The English ids of `code`'s messages that `text` contains, longest first."""
    hits = [english for pattern, english in patterns(code) if pattern.search(text)]
    return sorted(hits, key=len, reverse=True)


def assert_reads(text: str, code: str) -> None:
    """`text` is made of `code`'s messages: it contains some, and (for another language than
    English) none of the English messages that `code` translates differently."""
    assert spoken_in(text, code), f"nothing of {code!r} in {text!r}"
    if code != i18n.ENGLISH:
        translated = {e for _, e in patterns(code)}
        own = {p.pattern for p, _ in patterns(code)}
        english = [
            e
            for p, e in patterns(i18n.ENGLISH)
            if e in translated and p.pattern not in own and len(e) > 12 and p.search(text)
        ]
        assert not english, f"English left in a {code!r} text: {english[:3]} in {text!r}"


def walk(components: Any) -> Iterator[dict[str, Any]]:
    for item in components or []:
        if isinstance(item, dict):
            yield item
            yield from walk(item.get("components"))
            if isinstance(item.get("accessory"), dict):
                yield item["accessory"]


def text_of(message: FakeMessage) -> str:
    parts = [message.content or ""]
    if message.embeds:
        parts.append(embed_text(message))
    for item in walk(message.components):
        parts += [str(item.get("content") or ""), str(item.get("label") or "")]
    return "\n".join(p for p in parts if p)


def labels(message: FakeMessage) -> list[str]:
    return [str(i["label"]) for i in walk(message.components) if i.get("label")]


# -- the command tree -----------------------------------------------------------------------------


@pytest.fixture
async def harness(tmp_path: Path):
    async with running_harness(tmp_path) as h:
        yield h


def localised(entry: dict[str, Any], key: str) -> dict[str, str]:
    return entry.get(f"{key}_localizations") or {}


async def test_synced_commands_carry_every_shipped_language_and_keep_english_names(
    harness: Harness,
) -> None:
    synced = harness.discord.command_syncs[-1].commands
    by_name = {c["name"]: c for c in synced}
    video = by_name["video"]
    descriptions = localised(video, "description")
    assert set(descriptions) == set(SPOKEN)  # "Turn a prompt into a short video" differs in each
    for locale in SPOKEN:
        assert descriptions[locale] == i18n.translation_of(video["description"], locale)
    assert descriptions["ja"] != descriptions["de"]
    for command in synced:
        assert not localised(command, "name"), "command names stay English"
        for option in walk(command.get("options")):
            if "value" not in option:
                assert not localised(option, "name"), "option names stay English"
            # A language whose words are the English ones (a German "Prompt") needs none.
            assert set(localised(option, "description")) <= set(SPOKEN)
            if option.get("description"):
                assert "ja" in localised(option, "description"), option["name"]
    seconds = next(o for o in video["options"] if o["name"] == "seconds")
    assert seconds["choices"], "the harness's catalogue declares its lengths"
    for choice in seconds["choices"]:
        for locale, code in SPOKEN.items():
            with i18n.reading(code):
                expected = render.seconds_text(choice["value"])
            assert localised(choice, "name").get(locale, choice["name"]) == expected
        assert localised(choice, "name")["ja"] == f"{choice['value']}秒"
    admin_usage = next(o for o in by_name["video-admin"]["options"] if o["name"] == "usage")
    period = admin_usage["options"][0]
    (week,) = [c for c in period["choices"] if c["value"] == "7d"]
    assert set(localised(week, "name")) == set(SPOKEN)


# -- a member's language, a server's language -----------------------------------------------------


def details_button(message: FakeMessage | None) -> str | None:
    """The Details button's id: a finished card (delivered or failed) carries one."""
    if message is None:
        return None
    ids = [str(i.get("custom_id")) for i in walk(message.components)]
    return next((i for i in ids if i.startswith("video:details:")), None)


async def ended(it: FakeInteraction) -> FakeMessage:
    message: FakeMessage = await it.wait_for(
        lambda i: i.final_message if details_button(i.final_message) else None, timeout=15
    )
    return message


async def test_a_member_reads_their_language_while_the_servers_card_stays_in_its_own(
    harness: Harness,
) -> None:
    h = harness
    german = h.discord.add_member(h.guild, name="greta")
    refused = await h.discord.send_interaction(
        "video",
        [
            {"name": "prompt", "type": 3, "value": "a fox"},
            {"name": "seconds", "type": 4, "value": 7},
        ],
        guild=h.guild,
        channel=h.channel,
        member=german,
        locale="de",
    )
    await refused.wait_for(lambda i: i.callbacks, timeout=5)
    assert_reads(ephemeral_reply(refused), "de")
    taiwanese = await h.discord.send_interaction(
        "video",
        [
            {"name": "prompt", "type": 3, "value": "a fox"},
            {"name": "seconds", "type": 4, "value": 7},
        ],
        guild=h.guild,
        channel=h.channel,
        member=german,
        locale="zh-TW",  # no catalogue of its own: English
    )
    await taiwanese.wait_for(lambda i: i.callbacks, timeout=5)
    assert_reads(ephemeral_reply(taiwanese), i18n.ENGLISH)
    assert h.creates == 0

    made = await h.discord.send_interaction(
        "video",
        [{"name": "prompt", "type": 3, "value": "a fox at dusk"}],
        guild=h.guild,
        channel=h.channel,
        member=german,
        locale="de",
    )
    card = await ended(made)
    assert_reads(text_of(card), i18n.ENGLISH)  # the server speaks English (en-US)
    labelled_in(card, i18n.ENGLISH)
    assert "Retry" in labels(card)


async def test_a_servers_chosen_language_draws_its_cards_and_members_keep_theirs(
    harness: Harness,
) -> None:
    h = harness
    admin = manager(h)
    chosen = await h.discord.send_interaction(
        "video-admin",
        [
            {
                "name": "language",
                "type": 1,
                "options": [{"name": "locale", "type": 3, "value": "ja"}],
            }
        ],
        guild=h.guild,
        channel=h.channel,
        member=admin,
        locale="fr",
    )
    said = await private_text(chosen)
    assert_reads(said, "fr")  # the admin's own language
    assert "日本語" in said
    shown = await h.discord.send_interaction(
        "video-admin",
        [{"name": "show", "type": 1, "options": []}],
        guild=h.guild,
        channel=h.channel,
        member=admin,
        locale="fr",
    )
    settings = await private_text(shown)
    assert_reads(settings, "fr")
    assert "日本語" in settings  # the cards' language among the server's settings

    it = await h.video("a heron at dawn")  # alice, en-US
    card = await ended(it)
    assert_reads(text_of(card), "ja")
    labelled_in(card, "ja")

    details = details_button(card)
    assert details is not None
    pressed = await h.discord.send_component_interaction(card, details, h.member, locale="fr")
    assert_reads(await private_text(pressed), "fr")  # alice reads French now


async def test_a_server_whose_discord_language_is_german_gets_german_cards(
    tmp_path: Path,
) -> None:
    async with running_harness(tmp_path) as h:
        guild = h.discord.add_guild(name="Filmklub", locale="de")
        channel = h.discord.add_channel(guild, name="videos")
        member = h.discord.add_member(guild, name="kenji")
        it = await h.discord.send_interaction(
            "video",
            [{"name": "prompt", "type": 3, "value": "a crane in snow"}],
            guild=guild,
            channel=channel,
            member=member,
            locale="ja",
        )
        card = await ended(it)
        assert_reads(text_of(card), "de")


# -- within Discord's limits in every language ----------------------------------------------------


def _cards(prompt: str) -> dict[str, Any]:
    running = job_view(prompt, progress=40, eta_at=NOW + 60)
    fitted = plan_delivery(30_000_000, 10 * 1024 * 1024, ORIGINAL)
    small = plan_delivery(5_000_000, 10 * 1024 * 1024)
    failed = running.evolve(phase=Phase.FAILED, state=JobState.FAILED, error="x" * 3000)
    refused = running.evolve(phase=Phase.FAILED, state=JobState.FAILED, refused=True)
    link = ("Open original", "https://bot.example/o/1")
    return {
        "v2 waiting": card_v2.progress(
            job_view(prompt, phase=Phase.WAITING, queue_position=1234), demo=True
        ),
        "v2 running": card_v2.progress(running, demo=False),
        "v2 fitting": card_v2.fitting(running, 50, 10 * 1024 * 1024, demo=False),
        "v2 delivered": card_v2.delivered(
            running,
            9_000_000,
            fitted,
            video="v.mp4",
            demo=False,
            billed=Decimal("1234.56"),
            link=link,
        ),
        "v2 too large": card_v2.too_large(running, fitted, demo=False, link=link),
        "v2 failed": card_v2.failed(failed, demo=False),
        "v2 refused": card_v2.failed(refused, demo=False),
        "v2 spoilered": card_v2.delivered(
            running.evolve(spoiler="violence"),
            5_000_000,
            small,
            video="SPOILER_v.mp4",
            demo=False,
        ),
        "progress": render.progress_embed(running, demo=True),
        "queued": render.progress_embed(
            job_view(prompt, phase=Phase.WAITING, queue_position=1234), demo=False
        ),
        "fitting": render.fitting_embed(running, 50, 10 * 1024 * 1024, demo=False),
        "delivered": render.delivered_embed(running, 9_000_000, fitted, demo=False),
        "too large": render.too_large_embed(running, fitted, demo=False),
        "failed": render.failed_embed(failed, demo=False),
        "refused": render.failed_embed(refused, demo=False),
    }


@pytest.mark.parametrize("code", [i18n.ENGLISH, *i18n.SHIPPED])
@pytest.mark.parametrize("prompt", ["a heron", LONG])
def test_every_card_fits_discords_limits_in_every_language(code: str, prompt: str) -> None:
    with i18n.reading(code):
        cards = _cards(prompt)
    for name, card in cards.items():
        if isinstance(card, discord.ui.LayoutView):
            components = accepted(card)
            text = " ".join(str(i.get("content") or i.get("label") or "") for i in walk(components))
        else:
            payload = {"embeds": [card.to_dict()]}
            errors = rules.FormErrors()
            rules.check_message_body(payload, errors)
            errors.raise_if_any()
            text = str(payload)
        if code != i18n.ENGLISH and prompt != LONG:
            whole = [m for m in said(code) if "{" not in m and len(m) > 1 and m in text]
            assert whole, f"nothing of {code!r} in {name}: {text[:200]}"


# -- a Japanese member, their own install, a DM, an improved prompt --------------------------------


async def test_a_japanese_member_in_a_dm_improves_a_prompt_and_reads_every_word_in_japanese(
    tmp_path: Path,
) -> None:
    async with (
        FakeChat(key="chat-key-0123456789") as chat,
        running_harness(
            tmp_path,
            card="v2",
            user_installs=True,
            prompt_url=chat.base_url,
            prompt_model="gpt-4o-mini",
            prompt_key="chat-key-0123456789",
        ) as h,
    ):
        user = h.discord.add_user(name="haruka")
        it = await h.discord.send_interaction(
            "video",
            [
                {"name": "prompt", "type": 3, "value": "雪の中の鶴"},
                {"name": "improve", "type": 5, "value": True},
            ],
            user=user,
            user_install=True,
            locale="ja",
        )
        offer: FakeMessage = await it.wait_for(
            lambda i: i.original is not None and not i.original.loading and i.original,
            timeout=20,
        )
        assert offer.ephemeral
        assert_reads(text_of(offer), "ja")
        labelled_in(offer, "ja")
        assert h.creates == 0  # nothing spent before Generate

        generate = offer.components[0]["components"][0]["custom_id"]
        click = await h.discord.send_component_interaction(
            offer, str(generate), user=user, locale="ja"
        )
        card = await ended(click)
        assert card.videos, "the video came"
        assert_reads(text_of(card), "ja")  # a DM's card reads in its member's language
        labelled_in(card, "ja")
        assert h.creates == 1
        assert [job.prompt for job in h.videos.state.jobs.values()] == [
            FakeChat.improved("雪の中の鶴")
        ]
        h.discord.assert_spec_clean()


async def test_a_changed_translation_is_a_change_worth_syncing() -> None:
    """The sync compares a digest of what it would publish: the catalogues' descriptions are
    part of it, or a corrected German description would never reach Discord."""

    class Shouting(CatalogueTranslator):
        async def translate(self, string: Any, locale: Any, context: Any) -> str | None:
            found = await super().translate(string, locale, context)
            return None if found is None else found.upper()

    client = discord.Client(intents=discord.Intents.none())
    tree: app_commands.CommandTree[Any] = app_commands.CommandTree(client)

    @tree.command(
        name="video", description=app_commands.locale_str("Turn a prompt into a short video")
    )
    async def video(interaction: discord.Interaction[Any]) -> None:
        del interaction

    await tree.set_translator(CatalogueTranslator())
    translated = await definitions_hash(tree)
    await tree.set_translator(Shouting())
    assert await definitions_hash(tree) != translated
    await tree.set_translator(None)
    assert await definitions_hash(tree) != translated


async def test_a_team_api_job_in_a_german_server_gets_a_german_card(
    tmp_path: Path, unused_tcp_port: int
) -> None:
    """No member asks through the team API: the card starts, and stays, in the server's own
    Discord language."""
    async with running_harness(tmp_path, web_port=unused_tcp_port, guild_locale="de") as h:
        guild, channel = h.guild, h.channel
        _, secret = await h.bot.service.keys.create(
            name="ci", guild_id=guild.id, channels=[channel.id]
        )
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"http://127.0.0.1:{unused_tcp_port}/v1/videos",
                json={"prompt": "a crane in snow", "discord_channel_id": str(channel.id)},
                headers={"Authorization": f"Bearer {secret}"},
            ) as response,
        ):
            assert response.status == 200, await response.text()

        def card() -> FakeMessage | None:
            posted = h.discord.messages(channel, ephemeral=False)
            return posted[0] if posted and details_button(posted[0]) else None

        message = await h.discord.wait_for(card, timeout=15)
        assert_reads(text_of(message), "de")
        labelled_in(message, "de")
