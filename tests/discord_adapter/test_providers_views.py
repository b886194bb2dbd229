"""Several providers on Discord: billed costs, fallbacks, retirements, providers that are down,
and catalogues with more models, sizes or durations than Discord's 25 choices."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import discord
import pytest
from discord import app_commands

from bot.catalogue import Catalogue, ModelSpec, RequestRejected
from bot.discord_adapter import render
from bot.discord_adapter.admin_render import (
    PERIODS,
    WARNING,
    billing_lines,
    settings_embed,
    usage_embed,
)
from bot.discord_adapter.command_sync import definitions_hash
from bot.discord_adapter.reply import refusal_text
from bot.discord_adapter.suggestions import Offer, model_choices, seconds_choices, size_choices
from bot.domain import (
    Attempt,
    GuildPolicy,
    JobDetails,
    JobState,
    JobSummary,
    JobView,
    MemberUsage,
    OperatorLimits,
    Phase,
    ProviderHealth,
    Requester,
    Usage,
    VideoRequest,
)
from bot.fake_api import FakeSettings
from bot.media.delivery import plan_delivery
from bot.videos import FailureKind
from cogs.admin import parse_models
from cogs.video import build_video_command
from tests.discord_adapter.harness import Harness, running_harness
from tests.discord_adapter.test_admin import admin, text
from tests.discord_adapter.test_follow_ups import buttons, press
from tests.discord_adapter.test_video_command import embed, embed_text, ephemeral_reply, finished

STRING, INTEGER = 3, 4
NOW = 1_790_000_000.0
EMBED_TOTAL = 6000


def embed_size(data: dict[str, Any]) -> int:
    """What Discord counts against an embed's 6,000 characters."""
    total = len(data.get("title", "")) + len(data.get("description", ""))
    total += len(data.get("footer", {}).get("text", ""))
    return total + sum(len(f["name"]) + len(f["value"]) for f in data.get("fields", []))


def check_limits(e: discord.Embed) -> dict[str, Any]:
    data = e.to_dict()
    assert len(data.get("fields", [])) <= 25
    for field in data.get("fields", []):
        assert len(field["name"]) <= 256
        assert len(field["value"]) <= 1024, field["name"]
    assert len(data.get("description", "")) <= 4096
    assert embed_size(data) <= EMBED_TOTAL
    return data


def fields(e: discord.Embed) -> dict[str, str]:
    return {f.name or "": f.value or "" for f in e.fields}


# -- values built directly -----------------------------------------------------------------------


def spec(name: str, label: str | None = None, **extra: Any) -> ModelSpec:
    values: dict[str, Any] = {
        "name": name,
        "sizes": ("1280x720",),
        "seconds": (8,),
        "price_per_second": Decimal("0.05"),
    }
    values.update(extra)
    return ModelSpec(label=label, **values)


def job_view(model: ModelSpec, fell_back_from: tuple[str, ...] = (), **changes: Any) -> JobView:
    request = VideoRequest("a heron at dawn", model, "1280x720", 8, Requester(1, 2))
    view = JobView(
        ref="job1", request=request, phase=Phase.RUNNING, started_at=NOW, progress=40
    ).evolve(fell_back_from=fell_back_from)
    return view.evolve(**changes)


def summary(**changes: Any) -> JobSummary:
    values: dict[str, Any] = {
        "id": "abc123",
        "state": JobState.DELIVERED,
        "prompt": "a heron at dawn",
        "model": "veo",
        "size": "1280x720",
        "seconds": 8,
        "cost": "0.40",
        "requester_id": 1,
        "guild_id": 2,
        "created_at": NOW,
        "provider_video_id": "video_1",
        "provider": "litellm",
    }
    values.update(changes)
    return JobSummary(**values)


def test_details_show_the_bill_beside_the_estimate_once_the_provider_reported_it() -> None:
    billed = fields(render.details_embed(JobDetails(summary(billed_cost="0.36"), ())))
    assert billed["Cost"] == "est. $0.40 → billed $0.36"
    plain = fields(render.details_embed(JobDetails(summary(), ())))
    assert plain["Cost"] == "est. $0.40"
    failed = summary(
        state=JobState.FAILED, failure_kind=FailureKind.PROVIDER_ERROR, provider_video_id=None
    )
    shown = fields(render.details_embed(JobDetails(failed, ())))
    assert shown["Cost"] == "est. $0.40 · refunded"
    assert shown["State"] == "failed — provider error"
    assert "Attempts" not in shown  # one model, one try: the Model field says it all


def test_details_list_every_model_tried_in_plain_words() -> None:
    attempts = (
        Attempt("wan", "openrouter", FailureKind.NEVER_STARTED, "0.25", error="HTTP 402 ..."),
        Attempt("kling", "fal", FailureKind.PROVIDER_ERROR, "0.30", provider_video_id="v9"),
    )
    e = render.details_embed(JobDetails(summary(attempts=attempts, billed_cost="0.36"), ()))
    check_limits(e)
    assert fields(e)["Attempts"] == (
        "wan (openrouter): could not start — nothing billed\n"
        "kling (fal): provider error — refunded\n"
        "veo (litellm): made the video"
    )
    assert "402" not in str(e.to_dict())  # provider internals stay in the log
    # The operator's own provider goes unnamed; a job still running says so.
    running = summary(
        state=JobState.RUNNING,
        provider="default",
        model="sora-2",
        attempts=(Attempt("wan", "openrouter", FailureKind.NEVER_STARTED, "0.25"),),
    )
    assert render.attempts_text(running).endswith("\nsora-2: in progress")


def test_a_long_chain_of_attempts_keeps_the_newest_within_a_field() -> None:
    attempts = tuple(
        Attempt("m" * 90 + str(n), "p" * 30, FailureKind.NEVER_STARTED, "1") for n in range(11)
    )
    shown = render.attempts_text(summary(attempts=attempts))
    assert len(shown) <= 1024
    assert shown.startswith("… ")
    assert shown.endswith("veo (litellm): made the video")


def test_the_result_card_says_which_model_made_it_after_a_fallback() -> None:
    veo = spec("veo-3.1", "Veo 3.1")
    plan = plan_delivery(1000, 10 * 1024 * 1024)
    done = job_view(veo, ("wan",), phase=Phase.DELIVERED)
    card = fields(render.delivered_embed(done, 1000, plan, demo=False))
    assert card["Model"] == "Made by Veo 3.1 — wan was unavailable"
    two = job_view(veo, ("wan", "kling"), phase=Phase.DELIVERED)
    card = fields(render.delivered_embed(two, 1000, plan, demo=False))
    assert card["Model"] == "Made by Veo 3.1 — wan and kling were unavailable"
    three = render.unavailable(("wan", "kling", "hunyuan"))
    assert three == "wan, kling and hunyuan were unavailable"
    # While it is still being made, and when the last model failed too.
    progress = fields(render.progress_embed(job_view(veo, ("wan",)), demo=False))
    assert progress["Model"] == "Being made by Veo 3.1 — wan was unavailable"
    failed = job_view(veo, ("wan",), phase=Phase.FAILED, error="The video service failed.")
    assert fields(render.failed_embed(failed, demo=False))["Model"].startswith("Last tried Veo")
    # No fallback: no such line.
    plain = render.delivered_embed(job_view(veo, phase=Phase.DELIVERED), 1000, plan, demo=False)
    assert "Model" not in fields(plain)


def test_a_fallback_is_a_visible_change_for_the_presenter() -> None:
    from bot.discord_adapter.presenter import _signature

    wan, veo = spec("wan"), spec("veo")
    before = job_view(wan)
    after = job_view(veo, ("wan",))
    assert _signature(before) != _signature(after)


def test_usage_weaves_the_settled_bills_into_the_money_lines() -> None:
    settled = Usage(
        videos=3,
        seconds=24,
        cost=Decimal("1.08"),
        charged=Decimal("1.08"),
        estimated_settled=Decimal("1.20"),
        billed_settled=Decimal("1.08"),
    )
    assert billing_lines(settled).splitlines()[-1] == "Settled: est. $1.20 → billed $1.08"
    assert "Settled" not in billing_lines(Usage(videos=1, cost=Decimal("0.40")))
    members = [MemberUsage(10, settled)]
    e = usage_embed(PERIODS["today"], NOW, members, settled)
    check_limits(e)
    assert "Settled: est. $1.20 → billed $1.08" in fields(e)["Money"]


def test_show_lists_retirements_and_providers_that_are_down_within_discords_limits() -> None:
    notes = ["veo-3.1-preview retires on 2026-10-22 (in 5 days); its successor is veo-3.1"]
    health = [ProviderHealth("openrouter", "openrouter", "https://openrouter.ai/api/v1", NOW)]
    e = settings_embed(GuildPolicy(), OperatorLimits(), retirements=notes, providers=health)
    heads_up = fields(e)["Heads-up"]
    assert heads_up.splitlines() == [
        f"{WARNING} {notes[0]}",
        f"{WARNING} Provider openrouter is down (skipped until <t:{int(NOW)}:t>)",
    ]
    # Everything at its longest at once still fits one embed.
    crowded = GuildPolicy(
        channels=frozenset(range(10**17, 10**17 + 200)),
        roles=frozenset(range(10**17, 10**17 + 200)),
        models=frozenset(f"model-{n:03d}-" + "x" * 60 for n in range(500)),
    )
    many = [f"model-{n:03d} retires on 2026-10-22 (in 5 days)" for n in range(500)]
    down = [ProviderHealth(f"provider-{n}", "openai", "http://x", NOW) for n in range(40)]
    data = check_limits(settings_embed(crowded, OperatorLimits(), retirements=many, providers=down))
    shown = next(f["value"] for f in data["fields"] if f["name"] == "Heads-up")
    assert shown.endswith("more")
    # A provider that is up is not mentioned.
    up = [ProviderHealth("litellm", "openai", "http://x")]
    assert "Heads-up" not in fields(settings_embed(GuildPolicy(), OperatorLimits(), providers=up))


def many_models(count: int, **extra: Any) -> Catalogue:
    return Catalogue(models=tuple(spec(f"model-{n:03d}", **extra) for n in range(count)))


def test_an_unknown_model_for_the_server_list_names_what_fits_within_a_message() -> None:
    catalogue = many_models(500)
    with pytest.raises(ValueError, match="Unknown model") as refused:
        parse_models("model-001, nonsense", catalogue)
    message = str(refused.value)
    assert len(message) <= 2000
    assert "… and " in message
    assert message.endswith("more; or `all`.")
    assert parse_models("MODEL-499, model-030", catalogue) == {"model-499", "model-030"}
    # The service's own refusal ("Unknown model ... Available: <500 names>") fits too.
    with pytest.raises(RequestRejected) as unknown:
        catalogue.get("nonsense")
    assert len(refusal_text(unknown.value)) <= 2000


# -- suggestions --------------------------------------------------------------------------------


TODAY = date(2026, 10, 20)


def thirty() -> Catalogue:
    """30 models, each with its own size and duration: every option is an autocomplete."""
    return Catalogue(
        models=tuple(
            spec(
                f"m{n:02d}",
                f"Model {n}",
                sizes=(f"{640 + 16 * n}x480",),
                seconds=(n + 1,),
                # m29 retired yesterday; m28 retires in a week (still offered).
                retires_on=TODAY - timedelta(days=1)
                if n == 29
                else (TODAY + timedelta(days=7) if n == 28 else None),
            )
            for n in range(30)
        )
    )


def test_model_suggestions_match_what_was_typed_and_what_the_server_allows() -> None:
    catalogue = thirty()
    every = model_choices(Offer(catalogue, TODAY), "")
    assert len(every) == 25
    assert every[0].name == "Model 0"
    assert every[0].value == "m00"
    typed = model_choices(Offer(catalogue, TODAY), "model 2")
    assert [c.value for c in typed] == [f"m{n:02d}" for n in (2, *range(20, 29))]
    assert "m29" not in [c.value for c in typed]  # retired
    allowed = Offer(catalogue, TODAY, frozenset({"m03", "m13", "m29"}))
    assert [c.value for c in model_choices(allowed, "")] == ["m03", "m13"]
    assert [c.value for c in model_choices(allowed, "M1")] == ["m13"]
    # Text found inside a name comes after names that start with it.
    assert [c.value for c in model_choices(Offer(catalogue, TODAY), "3")][:3] == [
        "m03",
        "m13",
        "m23",
    ]


def test_size_and_seconds_suggestions_follow_the_chosen_model_and_the_servers_longest() -> None:
    offer = Offer(thirty(), TODAY, max_seconds=10)
    assert [c.value for c in size_choices(offer, "", "m05")] == ["720x480"]
    assert len(size_choices(offer, "", None)) == 25
    assert [c.value for c in size_choices(offer, "1", None)][:2] == ["1008x480", "1024x480"]
    assert [c.value for c in seconds_choices(offer, "", None)] == list(range(1, 11))
    assert [(c.name, c.value) for c in seconds_choices(offer, "1", None)] == [
        ("1 s", 1),
        ("10 s", 10),
    ]
    assert [c.value for c in seconds_choices(offer, "", "m05")] == [6]
    # A model that is not on offer (typed, or not allowed) is ignored, not trusted.
    assert len(seconds_choices(offer, "", "nonsense")) == 10


async def _nothing(interaction: discord.Interaction[Any], options: Any) -> None:
    """A handler that is never called: the command is only declared."""


async def _no_offer(interaction: discord.Interaction[Any]) -> Offer:
    raise AssertionError("declaring the command must not ask for the offer")


async def declared(catalogue: Catalogue) -> tuple[dict[str, Any], str]:
    """The `/video` command as it is synced, and the hash the command sync compares."""
    client = discord.Client(intents=discord.Intents.none())
    tree: app_commands.CommandTree[Any] = app_commands.CommandTree(client)
    tree.add_command(build_video_command(catalogue, _nothing, _no_offer))
    (command,) = tree.get_commands()
    return command.to_dict(tree), await definitions_hash(tree)


def options_of(command: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["name"]: o for o in command["options"]}


async def test_up_to_25_values_stay_choices_beyond_that_they_become_autocomplete() -> None:
    small, small_hash = await declared(many_models(25))
    options = options_of(small)
    assert len(options["model"]["choices"]) == 25
    assert not options["model"].get("autocomplete")
    # 30 models with one size and one duration between them.
    large, large_hash = await declared(many_models(30))
    options = options_of(large)
    assert options["model"]["autocomplete"] is True
    assert "choices" not in options["model"] or not options["model"]["choices"]
    assert [c["value"] for c in options["size"]["choices"]] == ["1280x720"]
    assert [c["value"] for c in options["seconds"]["choices"]] == [8]
    # Declared from the catalogue alone: the same catalogue, the same definitions.
    assert (await declared(many_models(30)))[1] == large_hash
    assert large_hash != small_hash
    options = options_of((await declared(thirty()))[0])
    for name in ("model", "size", "seconds"):
        assert options[name]["autocomplete"] is True
        assert not options[name].get("choices")


# -- over the wire -------------------------------------------------------------------------------


def thirty_toml(today: date) -> str:
    """30 models served by the fake as sora-2 (sizes and durations kept off the wire)."""
    blocks = []
    for n in range(30):
        lines = [
            "[[models]]",
            f'name = "m{n:02d}"',
            f'label = "Model {n}"',
            'api_model = "sora-2"',
            f'sizes = ["{640 + 16 * n}x480"]',
            f"seconds = [{n + 1}]",
            "send_size = false",
            "send_seconds = false",
            'price_per_second = "0.10"',
        ]
        if n == 29:
            lines.append(f"retires_on = {today - timedelta(days=1)}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


async def suggest(h: Harness, options: list[dict[str, Any]]) -> list[dict[str, Any]]:
    it = await h.discord.send_autocomplete("video", options, guild=h.guild, member=h.member)
    await it.wait_for(lambda i: i.autocomplete_choices is not None, timeout=5)
    assert it.callbacks[0].type == 8
    assert it.acked_at is not None
    assert it.acked_at < 3
    assert it.autocomplete_choices is not None
    return it.autocomplete_choices


async def test_thirty_models_are_offered_by_autocomplete_over_the_wire(tmp_path: Path) -> None:
    today = datetime.now(UTC).date()
    path = tmp_path / "models.toml"
    path.write_text(thirty_toml(today), encoding="utf-8")
    async with running_harness(tmp_path / "data", catalogue_file=path) as h:
        (sync,) = h.discord.command_syncs
        (command,) = [c for c in sync.commands if c["name"] == "video"]
        options = options_of(command)
        for name in ("model", "size", "seconds"):
            assert options[name]["autocomplete"] is True
            assert not options[name].get("choices")

        typing = {"name": "model", "type": STRING, "value": "model 2", "focused": True}
        shown = await suggest(h, [typing])
        assert [c["value"] for c in shown] == [f"m{n:02d}" for n in (2, *range(20, 29))]
        assert shown[0]["name"] == "Model 2"
        assert len(await suggest(h, [{**typing, "value": ""}])) == 25

        # The server allows a few models: only those are suggested (the retired one never).
        await h.bot.service.change_policy(
            h.guild.id, lambda p: p.evolve(models=frozenset({"m02", "m07", "m29"}))
        )
        shown = await suggest(h, [{**typing, "value": ""}])
        assert [c["value"] for c in shown] == ["m02", "m07"]
        # Seconds follow the model chosen so far; the typed text of an integer is a string.
        chosen = {"name": "model", "type": STRING, "value": "m07"}
        seconds = {"name": "seconds", "type": INTEGER, "value": "", "focused": True}
        assert await suggest(h, [chosen, seconds]) == [{"name": "8 s", "value": 8}]
        sizes = {"name": "size", "type": STRING, "value": "7", "focused": True}
        assert [c["value"] for c in await suggest(h, [sizes])] == ["752x480", "672x480"]

        # A value typed instead of picked still reaches the service, which decides.
        refused = await h.video("a cat", model="m05")
        await refused.wait_for(lambda i: i.callbacks, timeout=5)
        assert "This server allows only these models: m02, m07, m29." in ephemeral_reply(refused)
        unknown = await h.video("a cat", model="nonsense")
        await unknown.wait_for(lambda i: i.callbacks, timeout=5)
        assert "Unknown model 'nonsense'" in ephemeral_reply(unknown)
        retired = await h.video("a cat", model="m29")
        await retired.wait_for(lambda i: i.callbacks, timeout=5)
        assert "was retired by its provider" in ephemeral_reply(retired)
        # A label typed in full is taken for its model.
        made = await h.video("a cat [duration=1]", model="model 7")
        message = await made.wait_for(finished, timeout=30)
        assert embed(message)["title"] == "Your video is ready"
        assert "Model 7 · 752x480 · 8 s" in embed_text(message)
        assert h.creates == 1
        h.discord.assert_spec_clean()
        assert h.discord.unexpected_requests == []


async def test_the_fake_refuses_suggestions_for_an_option_without_autocomplete(
    tmp_path: Path,
) -> None:
    async with running_harness(tmp_path) as h:
        with pytest.raises(ValueError, match="autocomplete"):
            await h.discord.send_autocomplete(
                "video",
                [{"name": "model", "type": STRING, "value": "s", "focused": True}],
                guild=h.guild,
            )


LITELLM_CATALOGUE = """
[[models]]
name = "sora-2"
sizes = ["720x1280"]
seconds = [4]
price_per_second = "0.12"
"""


async def test_a_billed_cost_reported_by_the_provider_shows_in_details_and_usage(
    tmp_path: Path,
) -> None:
    path = tmp_path / "models.toml"
    path.write_text(LITELLM_CATALOGUE, encoding="utf-8")
    fake = FakeSettings(dialect="litellm", default_duration=1.0)
    async with running_harness(tmp_path / "data", fake_settings=fake, catalogue_file=path) as h:
        it = await h.video("a lighthouse in fog")
        message = await it.wait_for(lambda i: (m := finished(i)) and buttons(m) and m, timeout=30)
        assert embed(message)["title"] == "Your video is ready"
        record = await h.final_record()
        assert record.billed_cost is not None

        click = await press(h, message, "Details")
        await click.wait_for(lambda i: bool(i.callbacks), timeout=10)
        assert click.callbacks[0].data is not None
        details = click.callbacks[0].data["embeds"][0]
        cost = next(f["value"] for f in details["fields"] if f["name"] == "Cost")
        assert cost == "est. $0.48 → billed $0.40"

        usage = await text(await admin(h, "usage"))
        assert "Settled: est. $0.48 → billed $0.40" in usage
        assert "$0.40" in usage.split("Total: ", 1)[1].splitlines()[0]

        mine = await h.discord.send_interaction(
            "videos", [], guild=h.guild, channel=h.channel, member=h.member
        )
        await mine.wait_for(lambda i: i.callbacks, timeout=5)
        assert mine.callbacks[0].data is not None
        today = {f["name"]: f["value"] for f in mine.callbacks[0].data["embeds"][0]["fields"]}
        assert "Cost: $0.40" in today["Today"]
        assert "Settled: est. $0.48 → billed $0.40" in today["Money today"]
        h.discord.assert_spec_clean()


async def test_show_warns_of_a_model_that_retires_soon(tmp_path: Path) -> None:
    soon = datetime.now(UTC).date() + timedelta(days=5)
    path = tmp_path / "models.toml"
    path.write_text(
        "[[models]]\n"
        'name = "sora-2"\nsizes = ["720x1280"]\nseconds = [4]\n'
        f'retires_on = {soon.isoformat()}\nsuccessor = "sora-3"\n',
        encoding="utf-8",
    )
    async with running_harness(tmp_path / "data", catalogue_file=path) as h:
        shown = await text(await admin(h, "show"))
    note = f"sora-2 retires on {soon.isoformat()} (in 5 days); its successor is sora-3"
    assert f"{WARNING} {note}" in shown


def test_the_fake_refuses_an_option_with_both_choices_and_autocomplete() -> None:
    from tests.fakes.discord import DiscordError
    from tests.fakes.discord.server import check_commands

    option = {
        "type": STRING,
        "name": "model",
        "description": "Which model",
        "autocomplete": True,
        "choices": [{"name": "a", "value": "a"}],
    }
    command = {"type": 1, "name": "video", "description": "Make a video", "options": [option]}
    with pytest.raises(DiscordError) as refused:
        check_commands([command])
    assert refused.value.code == 50035


async def test_a_video_made_by_a_fallback_model_says_so_on_its_card(
    tmp_path: Path, unused_tcp_port: int
) -> None:
    path = tmp_path / "models.toml"
    path.write_text(
        f'[providers.closed]\nbase_url = "http://127.0.0.1:{unused_tcp_port}/v1"\n\n'
        '[[models]]\nname = "wan"\nprovider = "closed"\nfallbacks = ["sora-2"]\n'
        'sizes = ["720x1280"]\nseconds = [4]\nprice_per_second = "0.05"\n\n'
        '[[models]]\nname = "sora-2"\nlabel = "Sora 2"\nsizes = ["720x1280"]\nseconds = [4]\n'
        'price_per_second = "0.10"\n',
        encoding="utf-8",
    )
    async with running_harness(tmp_path / "data", catalogue_file=path) as h:
        it = await h.video("a kite over the sea [duration=1]", model="wan")
        message = await it.wait_for(lambda i: (m := finished(i)) and buttons(m) and m, timeout=30)
        assert embed(message)["title"] == "Your video is ready"
        assert "Model: Made by Sora 2 — wan was unavailable" in embed_text(message)
        assert (await h.final_record()).state.value == "delivered"
        click = await press(h, message, "Details")
        await click.wait_for(lambda i: bool(i.callbacks), timeout=10)
        assert click.callbacks[0].data is not None
        details = click.callbacks[0].data["embeds"][0]
        attempts = next(f["value"] for f in details["fields"] if f["name"] == "Attempts")
        assert attempts == "wan (closed): could not start — nothing billed\nsora-2: made the video"
        h.discord.assert_spec_clean()
