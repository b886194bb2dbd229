"""The Components V2 result card, through the real bot between the fakes: every stage a
payload the fake Discord accepts (the flag set with the first edit of the deferred reply, no
content nor embeds, within 40 components and 4,000 characters), the video playing in a
MediaGallery, the buttons, spoilers, failures, and the server's own choice of card."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.catalogue import ModelSpec
from bot.discord_adapter import card_v2
from bot.domain import JobView, Original, Phase, Requester, VideoRequest
from bot.media.delivery import plan_delivery
from bot.store import JobState
from tests.discord_adapter.harness import Harness, running_harness
from tests.discord_adapter.test_admin import manager
from tests.discord_adapter.test_video_command import embed, finished
from tests.fakes.discord import FakeInteraction, FakeMessage, rules

V2_FLAG = 1 << 15
CONTAINER, TEXT, SECTION, THUMBNAIL, GALLERY, ROW = 17, 10, 9, 11, 12, 1
SUB_COMMAND, STRING = 1, 3


@pytest.fixture
async def harness(tmp_path: Path):
    async with running_harness(tmp_path, card="v2") as running:
        yield running


@pytest.fixture
async def linked(tmp_path: Path, unused_tcp_port: int):
    base = f"http://127.0.0.1:{unused_tcp_port}"
    async with running_harness(
        tmp_path, card="v2", web_port=unused_tcp_port, public_url=base
    ) as running:
        yield running


# -- reading a V2 card ---------------------------------------------------------------------------


def walk(components: Sequence[Any]) -> Iterator[Mapping[str, Any]]:
    for component in components:
        yield component
        yield from walk(component.get("components") or [])
        accessory = component.get("accessory")
        if accessory:
            yield accessory


def container(message: FakeMessage) -> Mapping[str, Any]:
    assert message.flags & V2_FLAG, "not a V2 message"
    tops = [c for c in message.components if c["type"] == CONTAINER]
    assert len(tops) == 1, message.components
    return tops[0]


def card_text(message: FakeMessage) -> str:
    return "\n".join(c["content"] for c in walk(message.components) if c["type"] == TEXT)


def title(message: FakeMessage) -> str:
    first = next(c["content"] for c in walk(message.components) if c["type"] == TEXT)
    return str(first.split("\n", 1)[0].removeprefix("### "))


def gallery_items(message: FakeMessage) -> list[Mapping[str, Any]]:
    return [i for c in walk(message.components) if c["type"] == GALLERY for i in c["items"]]


def buttons(message: FakeMessage) -> list[Mapping[str, Any]]:
    rows = [c for c in message.components if c["type"] == ROW]
    return [b for row in rows for b in row["components"]]


def labels(message: FakeMessage) -> list[str]:
    return [
        str(b["label"]) for b in buttons(message) if b.get("custom_id", "").startswith("video:")
    ]


def ended(it: FakeInteraction) -> FakeMessage | None:
    """The reply once its card shows a final state."""
    message = it.final_message
    if message is None or not message.components:
        return None
    return None if title(message) == "Making your video" else message


def assert_valid_v2(h: Harness, it: FakeInteraction) -> None:
    """Every edit of the reply was accepted, set the V2 flag, sent no content nor embeds and
    kept within Discord's limits."""
    assert it.edits, "the reply was never edited"
    for edit in it.edits:
        payload = edit.payload
        assert payload.get("flags", 0) & V2_FLAG, payload
        assert not payload.get("content")
        assert not payload.get("embeds")
        components = payload["components"]
        assert card_v2.count_components(components) <= rules.MAX_V2_COMPONENTS
        assert card_v2.text_length(components) <= rules.MAX_V2_TEXT
    refused = [r for r in h.discord.requests if r.status is not None and r.status >= 400]
    assert not refused, refused


async def delivered(
    h: Harness, prompt: str = "a red kite [duration=1]"
) -> tuple[FakeInteraction, FakeMessage]:
    it = await h.video(prompt)
    message = await it.wait_for(lambda i: (m := ended(i)) and labels(m) and m, timeout=30)
    return it, message


# -- the stages ------------------------------------------------------------------------------------


async def test_a_v2_card_from_progress_to_the_video_in_its_gallery(harness: Harness) -> None:
    h = harness
    it, message = await delivered(h, "a cat playing the piano [duration=2]")

    # The deferral itself carries no V2 flag (Discord drops it there): the first edit sets it.
    assert it.callbacks[0].type == 5
    assert not (it.callbacks[0].data or {}).get("flags", 0) & V2_FLAG
    assert_valid_v2(h, it)
    first = it.edits[0].payload
    assert first["flags"] & V2_FLAG

    # While it was made: a blue card with the status and the Stop button.
    progress = [e.payload for e in it.edits if "Making your video" in str(e.payload)]
    assert progress
    shown = progress[0]["components"]
    assert shown[0]["type"] == CONTAINER
    assert shown[0]["accent_color"] == card_v2.RUNNING.value
    texts = [c["content"] for c in walk(shown) if c["type"] == TEXT]
    assert any("Started <t:" in t for t in texts)
    assert any("video:stop:" in str(c.get("custom_id")) for c in walk(shown))
    # The thumbnail, once downloaded, sits in a Section beside the words.
    stills = [c for e in it.edits for c in walk(e.payload["components"]) if c["type"] == THUMBNAIL]
    if stills:
        assert stills[0]["media"]["url"] == "attachment://thumbnail.webp"

    # The result: green, the prompt, the facts, the video playing in the gallery.
    box = container(message)
    assert box["accent_color"] == card_v2.DELIVERED.value
    text = card_text(message)
    assert title(message) == "Your video is ready"
    assert ">>> a cat playing the piano" in text
    assert "est. $" in text
    assert f"Asked by <@{h.member.user.id}>" in text
    (item,) = gallery_items(message)
    (video,) = message.attachments
    assert item["media"]["url"] == f"attachment://{video.filename}"
    assert video.filename.endswith(".mp4")
    assert not item["spoiler"]
    assert message.videos[0].data == h.videos.asset_bytes()
    assert (
        labels(message) == ["Retry", "Remix", "Extend", "Details", "Delete"][: len(labels(message))]
    )
    assert "Retry" in labels(message)
    assert "Delete" in labels(message)
    assert not message.content
    assert not message.embeds
    h.discord.assert_spec_clean()


async def test_retry_on_a_v2_card_makes_a_new_job(harness: Harness) -> None:
    h = harness
    _, message = await delivered(h)
    retry = next(b["custom_id"] for b in buttons(message) if b.get("label") == "Retry")
    again = await h.discord.send_component_interaction(message, retry, h.member)
    card = await again.wait_for(lambda i: (m := ended(i)) and labels(m) and m, timeout=30)
    assert h.creates == 2
    assert title(card) == "Your video is ready"
    assert_valid_v2(h, again)
    h.discord.assert_spec_clean()


async def test_delete_on_a_v2_card_keeps_it_v2(harness: Harness) -> None:
    h = harness
    _, message = await delivered(h)
    delete = next(b["custom_id"] for b in buttons(message) if b.get("label") == "Delete")
    pressed = await h.discord.send_component_interaction(message, delete, h.member)
    await pressed.wait_for(lambda i: i.callbacks, timeout=10)
    await h.discord.wait_for(lambda: not message.attachments, timeout=10)
    assert message.flags & V2_FLAG
    assert title(message) == "Video deleted"
    assert labels(message) == ["Details"]
    assert not gallery_items(message)
    h.discord.assert_spec_clean()


async def test_the_open_original_link_is_a_link_button(linked: Harness) -> None:
    h = linked
    it, message = await delivered(h)
    links = [b for b in buttons(message) if b.get("style") == 5]
    assert [b["label"] for b in links] == ["Open original"]
    assert links[0]["url"].startswith(str(h.bot.settings.public_url))
    assert_valid_v2(h, it)


async def test_a_spoilered_v2_result(harness: Harness) -> None:
    h = harness
    await h.bot.service.change_policy(h.guild.id, lambda p: p.evolve(spoilers="all"))
    it, message = await delivered(h, "a cat playing the piano [duration=1]")
    (item,) = gallery_items(message)
    (video,) = message.attachments
    assert video.filename == "SPOILER_video.mp4"
    assert video.spoiler
    assert item["spoiler"] is True
    assert item["media"]["url"] == "attachment://SPOILER_video.mp4"
    assert ">>> ||a cat playing the piano" in card_text(message)
    # No still shows openly, in any edit.
    for edit in it.edits:
        assert not [c for c in walk(edit.payload["components"]) if c["type"] == THUMBNAIL]
        assert all(f.filename.startswith("SPOILER_") for f in edit.files)
    assert_valid_v2(h, it)


async def test_the_failure_and_refusal_cards(harness: Harness) -> None:
    h = harness
    it = await h.video("a storm [fail] [duration=1]")
    failed = await it.wait_for(ended, timeout=30)
    assert (await h.final_record()).state is JobState.FAILED
    assert title(failed) == "No video this time"
    assert container(failed)["accent_color"] == card_v2.FAILED.value
    assert "What happened" in card_text(failed)
    assert labels(failed) == ["Retry", "Details"]
    assert not gallery_items(failed)
    assert_valid_v2(h, it)

    refused = await h.video("a storm [refuse]")
    card = await refused.wait_for(ended, timeout=30)
    assert title(card) == "The video service refused this prompt"
    assert container(card)["accent_color"] == card_v2.WARNING.value
    assert_valid_v2(h, refused)
    h.discord.assert_spec_clean()


async def test_a_long_prompt_is_cut_to_fit(harness: Harness) -> None:
    h = harness
    prompt = "a very long prompt *with* _markdown_ " * 160  # about 6,000 characters
    it, message = await delivered(h, prompt[:5900] + " [duration=1]")
    assert card_v2.text_length([dict(c) for c in message.components]) <= rules.MAX_V2_TEXT
    assert "…" in card_text(message)
    assert_valid_v2(h, it)


# -- every stage, rendered and checked by the fake's rules ---------------------------------------


NOW = 1_800_000_000.0


def job_view(prompt: str = "a heron at dawn", **changes: Any) -> JobView:
    model = ModelSpec(
        name="veo", sizes=("1280x720",), seconds=(8,), price_per_second=Decimal("0.05")
    )
    request = VideoRequest(prompt, model, "1280x720", 8, Requester(1, 2))
    view = JobView(ref="0123456789abcdef", request=request, phase=Phase.RUNNING, started_at=NOW)
    return view.evolve(**changes)


def accepted(card: discord.ui.LayoutView) -> list[dict[str, Any]]:
    """The card's components, once the fake's V2 rules found nothing wrong with them."""
    components: list[dict[str, Any]] = card.to_components()
    payload = {"components": components, "flags": V2_FLAG}
    errors = rules.FormErrors()
    rules.check_message_body(payload, errors)
    errors.raise_if_any()
    assert card_v2.count_components(components) <= rules.MAX_V2_COMPONENTS
    assert card_v2.text_length(components) <= rules.MAX_V2_TEXT
    return components


LONG = "a *very* long prompt with <@123> and [links](https://x.y) " * 120  # 6,000+ characters
ORIGINAL = Original(size=40_000_000, kept_until=NOW + 86400, link="https://bot.example/o/1")


@pytest.mark.parametrize("prompt", ["a heron at dawn", LONG])
def test_every_stage_is_a_valid_v2_card(prompt: str) -> None:
    queued = job_view(prompt, phase=Phase.QUEUED, progress=None)
    running = job_view(prompt, progress=40, eta_at=NOW + 60)
    fitted = plan_delivery(30_000_000, 10 * 1024 * 1024, ORIGINAL)
    cards = {
        "waiting": card_v2.progress(
            job_view(prompt, phase=Phase.WAITING, queue_position=7), demo=True
        ),
        "queued": card_v2.progress(queued, demo=False),
        "running": card_v2.progress(running, demo=False),
        "with a thumbnail": card_v2.progress(
            running.evolve(phase=Phase.DELIVERING), demo=False, thumbnail="thumbnail.webp"
        ),
        "fitting": card_v2.fitting(running, 50, 10 * 1024 * 1024, demo=False, thumbnail="t.webp"),
        "delivered": card_v2.delivered(
            running,
            5_000_000,
            plan_delivery(5_000_000, 10 * 1024 * 1024),
            video="v.mp4",
            demo=False,
        ),
        "fitted, with its original": card_v2.delivered(
            running,
            9_000_000,
            fitted,
            video="v.mp4",
            demo=False,
            billed=Decimal("0.36"),
            link=("Open original", "https://bot.example/o/1"),
        ),
        "too large": card_v2.too_large(
            running, fitted, demo=False, link=("Open original", "https://bot.example/o/1")
        ),
        "failed": card_v2.failed(
            running.evolve(phase=Phase.FAILED, state=JobState.FAILED, error="x" * 3000),
            demo=False,
        ),
        "refused": card_v2.failed(
            running.evolve(phase=Phase.FAILED, state=JobState.FAILED, refused=True), demo=False
        ),
        "spoilered": card_v2.delivered(
            running.evolve(spoiler="violence"),
            5_000_000,
            plan_delivery(5_000_000, 10 * 1024 * 1024),
            video="SPOILER_video.mp4",
            demo=False,
        ),
    }
    shown = {name: accepted(card) for name, card in cards.items()}

    stills = [c for c in walk(shown["with a thumbnail"]) if c["type"] == THUMBNAIL]
    assert [s["media"]["url"] for s in stills] == ["attachment://thumbnail.webp"]
    assert [c for c in walk(shown["with a thumbnail"]) if c["type"] == SECTION]
    running_text = "\n".join(c["content"] for c in walk(shown["running"]) if c["type"] == TEXT)
    assert "40%" in running_text
    assert "est. $0.40" in running_text
    assert "est. $0.40 → billed $0.36" in str(shown["fitted, with its original"])
    assert '"label": "Open original"' in str(shown["too large"]).replace("'", '"')
    (item,) = [i for c in walk(shown["spoilered"]) if c["type"] == GALLERY for i in c["items"]]
    assert item["spoiler"] is True
    assert item["media"]["url"] == "attachment://SPOILER_video.mp4"
    assert not [c for c in walk(shown["spoilered"]) if c["type"] == THUMBNAIL]
    colours = {name: components[0]["accent_color"] for name, components in shown.items()}
    assert colours["running"] == card_v2.RUNNING.value
    assert colours["delivered"] == card_v2.DELIVERED.value
    assert colours["failed"] == card_v2.FAILED.value
    assert colours["refused"] == card_v2.WARNING.value
    assert colours["spoilered"] == card_v2.WARNING.value  # flagged
    if prompt is LONG:
        assert all("…" in str(components) for components in shown.values())


# -- the fake enforces Discord's V2 rules --------------------------------------------------------


async def test_the_fake_refuses_what_discord_refuses(harness: Harness) -> None:
    h = harness
    store = h.discord.store
    classic = store.create(
        channel=h.channel,
        author=h.discord.bot_user,
        payload={"content": "hello"},
        files=[],
        limit=rules.DEFAULT_UPLOAD_LIMIT,
        allow_ephemeral=False,
    )
    text = [{"type": CONTAINER, "components": [{"type": TEXT, "content": "hi"}]}]

    def edit(message: FakeMessage, payload: dict[str, Any]) -> None:
        store.edit(
            message,
            payload,
            [],
            limit=rules.DEFAULT_UPLOAD_LIMIT,
            via="test",
            method="PATCH",
            route="x",
        )

    # The flag cannot be added to a message already shown without it.
    with pytest.raises(rules.DiscordError) as refused:
        edit(classic, {"components": text, "flags": V2_FLAG})
    assert refused.value.status == 400

    def create(payload: dict[str, Any]) -> FakeMessage:
        return store.create(
            channel=h.channel,
            author=h.discord.bot_user,
            payload=payload,
            files=[],
            limit=rules.DEFAULT_UPLOAD_LIMIT,
            allow_ephemeral=False,
        )

    v2 = create({"components": text, "flags": V2_FLAG})
    assert v2.flags & V2_FLAG
    for wrong in (
        {"content": "no", "components": text, "flags": V2_FLAG},
        {"embeds": [{"title": "no"}], "components": text, "flags": V2_FLAG},
        {"components": [{"type": 99}], "flags": V2_FLAG},
        {"components": [{"type": TEXT, "content": "x"}] * 41, "flags": V2_FLAG},
        {"components": [{"type": TEXT, "content": "x" * 4001}], "flags": V2_FLAG},
        {"components": [{"type": GALLERY, "items": []}], "flags": V2_FLAG},
        {"components": text},  # V2 components without the flag
    ):
        with pytest.raises(rules.DiscordError) as error:
            create(wrong)
        assert error.value.status == 400, wrong
    # Editing a V2 message: no content nor embeds, even without repeating the flag.
    with pytest.raises(rules.DiscordError):
        edit(v2, {"content": "no"})
    edit(v2, {"components": text})
    assert v2.flags & V2_FLAG


# -- the server's choice ---------------------------------------------------------------------------


async def test_video_admin_card_switches_a_classic_server_to_v2(tmp_path: Path) -> None:
    async with running_harness(tmp_path) as h:  # the operator's default here: classic
        it = await h.video("a kite [duration=1]")
        # The final card (a progress card may carry its thumbnail as an attachment too).
        classic = await it.wait_for(finished, timeout=30)
        assert embed(classic)["title"] == "Your video is ready"
        assert not classic.flags & V2_FLAG

        option = {
            "name": "card",
            "type": SUB_COMMAND,
            "options": [{"name": "style", "type": STRING, "value": "v2"}],
        }
        said = await h.discord.send_interaction(
            "video-admin", [option], guild=h.guild, channel=h.channel, member=manager(h)
        )
        answer = await said.wait_for(lambda i: i.final_message, timeout=5)
        assert "Components V2" in answer.content
        assert (await h.bot.service.policy(h.guild.id)).card == "v2"

        it, message = await delivered(h)
        assert title(message) == "Your video is ready"
        assert gallery_items(message)
        assert_valid_v2(h, it)

        # "operator" hands the choice back to the bot's setting.
        option["options"] = [{"name": "style", "type": STRING, "value": "operator"}]
        said = await h.discord.send_interaction(
            "video-admin", [option], guild=h.guild, channel=h.channel, member=manager(h)
        )
        await said.wait_for(lambda i: i.final_message, timeout=5)
        assert (await h.bot.service.policy(h.guild.id)).card is None
        h.discord.assert_spec_clean()
