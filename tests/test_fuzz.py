"""Fuzzing: whatever a provider, an operator's catalogue or a member sends, the bot answers with
a typed result or a clear refusal, never a stray exception, and what it renders fits Discord."""

from __future__ import annotations

import time
from typing import Any

import discord
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.catalogue import Catalogue, RequestRejected, default_catalogue
from bot.discord_adapter import render
from bot.domain import JobView, Original, Phase, Requester, validate_request
from bot.media.delivery import plan_delivery
from bot.videos import Video

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
VIDEO_KEYS = (
    "id",
    "object",
    "status",
    "progress",
    "model",
    "size",
    "seconds",
    "created_at",
    "completed_at",
    "expires_at",
    "prompt",
    "error",
)
video_objects = st.dictionaries(st.sampled_from(VIDEO_KEYS), json_values, max_size=len(VIDEO_KEYS))


@settings(max_examples=400, deadline=None)
@given(video_objects)
def test_any_video_object_is_read_or_refused_cleanly(data: dict[str, Any]) -> None:
    try:
        video = Video.model_validate(data)
    except ValidationError:
        return
    assert video.progress is None or 0 <= video.progress <= 100
    for stamp in (video.created_at, video.completed_at, video.expires_at):
        assert stamp is None or 0 <= stamp < 253_402_300_800  # year 10000
    assert isinstance(video.id, str)


sizes = st.builds(
    lambda w, h: f"{w}x{h}",
    st.integers(min_value=-5, max_value=100_000),
    st.integers(min_value=-5, max_value=100_000),
)
model_tables = st.fixed_dictionaries(
    {"name": st.text(min_size=0, max_size=12)},
    optional={
        "sizes": st.lists(sizes | st.text(max_size=8), max_size=30),
        "seconds": st.lists(st.integers(min_value=-5, max_value=1000), max_size=30),
        "price_per_second": st.decimals(allow_nan=False, allow_infinity=False, places=2)
        | st.text(max_size=5),
        "default_size": sizes,
        "seconds_format": st.sampled_from(["string", "int", "float", "bogus"]),
    },
)


@settings(max_examples=300, deadline=None)
@given(st.lists(model_tables, min_size=0, max_size=4))
def test_any_catalogue_is_accepted_only_when_discord_can_offer_it(models: list[Any]) -> None:
    try:
        catalogue = Catalogue.model_validate({"models": models})
    except ValidationError:
        return
    assert len(catalogue.all_sizes()) <= 25
    assert len(catalogue.all_seconds()) <= 25
    for spec in catalogue.models:
        assert spec.price_per_second >= 0
        for size in spec.sizes:
            width, _, height = size.partition("x")
            assert 0 < int(width) <= 4096
            assert 0 < int(height) <= 4096


CATALOGUE = default_catalogue()
prompts = st.text(alphabet=st.characters(codec="utf-8"), max_size=6000) | st.sampled_from(
    ["", "   ", "\x00\x07\n", "@everyone " * 600, "<@1234567890123456789>"]
)


def _fits_discord(embed: discord.Embed) -> None:
    data = embed.to_dict()
    assert len(data.get("title", "")) <= 256
    assert len(data.get("description", "")) <= 4096
    fields = data.get("fields", [])
    assert len(fields) <= 25
    for field in fields:
        assert 0 < len(field["name"]) <= 256
        assert 0 < len(field["value"]) <= 1024
    assert len(embed) <= 6000


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prompt=prompts,
    model=st.none() | st.sampled_from([*CATALOGUE.names(), "nope"]),
    size=st.none() | st.sampled_from([*CATALOGUE.all_sizes(), "1x1"]),
    seconds=st.none() | st.sampled_from([*CATALOGUE.all_seconds(), 5, -1]),
    phase=st.sampled_from(list(Phase)),
)
def test_any_command_options_are_refused_clearly_or_render_within_discord_limits(
    prompt: str, model: str | None, size: str | None, seconds: int | None, phase: Phase
) -> None:
    try:
        request = validate_request(
            CATALOGUE, Requester(1, 2), prompt, model=model, size=size, seconds=seconds
        )
    except RequestRejected as exc:
        refusal = str(exc)
    else:
        refusal = None
    if refusal is not None:
        assert 0 < len(refusal) <= 2000  # a message a member can be sent
        return
    view = JobView(ref="0123456789abcdef", request=request, phase=phase, started_at=time.time())
    if phase is Phase.FAILED:
        embed = render.failed_embed(view.evolve(error="x" * 3000), demo=True)
    elif phase is Phase.DELIVERED:
        # The longest card: a fitted copy, its original linked (a long public URL).
        link = "https://" + "v" * 200 + ".example/v/0123456789abcdef.mp4?exp=1&sig=" + "s" * 43
        original = Original(size=9 * 1024**3, kept_until=time.time() + 86400, link=link)
        plan = plan_delivery(original.size, 10 * 1024**2, original)
        embed = render.delivered_embed(view, 123_456, plan, demo=True, thumbnail="thumbnail.jpg")
    else:
        embed = render.progress_embed(view.evolve(queue_position=12_345, progress=50), demo=True)
    _fits_discord(embed)
    assert "@everyone" not in (embed.description or "")


@pytest.mark.parametrize("prompt", ["", "   ", "\n\t"])
def test_an_empty_prompt_is_refused(prompt: str) -> None:
    with pytest.raises(RequestRejected, match="empty"):
        validate_request(CATALOGUE, Requester(1, 2), prompt)
