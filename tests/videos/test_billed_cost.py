"""What the provider says it billed: OpenRouter's `usage.cost`, LiteLLM's response-cost header;
junk in either is no bill, never an error."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.videos import LITELLM_COST_HEADER, CreateRequest, Video, billed_cost
from tests.videos.conftest import make_client
from tests.videos.wire import Seen, reply, serve


def litellm(body: dict[str, Any], cost: str | None) -> Any:
    """A gateway answering every call with `body` and, when given, the cost header."""

    async def answer(request: web.Request, seen: Seen) -> web.Response:
        headers = {LITELLM_COST_HEADER: cost} if cost is not None else {}
        return reply(200, body, **headers)

    return answer


async def test_the_litellm_header_is_the_bill_on_a_create_and_a_status_read(
    session: aiohttp.ClientSession,
) -> None:
    async with serve(litellm({"id": "video_1", "status": "queued"}, "0.4")) as server:
        client = make_client(session, server.url())
        created = await client.create(CreateRequest(prompt="x"))
        read = await client.retrieve("video_1")
    assert created.billed_cost == read.billed_cost == Decimal("0.4")


async def test_usage_cost_in_the_body_wins_over_the_header(
    session: aiohttp.ClientSession,
) -> None:
    body = {"id": "video_1", "status": "completed", "usage": {"cost": 1.25}}
    async with serve(litellm(body, "9.99")) as server:
        read = await make_client(session, server.url()).retrieve("video_1")
    assert read.billed_cost == Decimal("1.25")


@pytest.mark.parametrize("cost", ["nan", "inf", "-1", "abc", "", "1e400", "-inf", "2000000"])
async def test_a_junk_header_is_no_bill(session: aiohttp.ClientSession, cost: str) -> None:
    async with serve(litellm({"id": "video_1", "status": "queued"}, cost)) as server:
        client = make_client(session, server.url())
        assert (await client.create(CreateRequest(prompt="x"))).billed_cost is None
        assert (await client.retrieve("video_1")).billed_cost is None


async def test_a_junk_usage_cost_falls_back_to_the_header(
    session: aiohttp.ClientSession,
) -> None:
    body = {"id": "video_1", "status": "completed", "usage": {"cost": "NaN"}}
    async with serve(litellm(body, "0.3")) as server:
        read = await make_client(session, server.url()).retrieve("video_1")
    assert read.billed_cost == Decimal("0.3")


@pytest.mark.parametrize(
    "usage",
    [
        {"cost": "NaN"},
        {"cost": "Infinity"},
        {"cost": -0.5},
        {"cost": True},
        {"cost": {"amount": 1}},
        {"cost": [1]},
        {"cost": "one dollar"},
        {"cost": 10**400},
        {"cost": None},
        {},
        [0.5],
        "0.5",
        7,
        None,
    ],
)
def test_junk_usage_is_no_bill(usage: object) -> None:
    video = Video.model_validate({"id": "v", "status": "completed", "usage": usage})
    assert video.billed_cost is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.5, "0.5"),
        ("0.25", "0.25"),
        (0, "0.0"),
        (-0.0, "0.0"),
        (3, "3.0"),
        (Decimal("1.10"), "1.10"),
    ],
)
def test_good_costs_read_exactly(value: object, expected: str) -> None:
    assert billed_cost(value) == Decimal(expected)
    assert str(billed_cost(value)) == expected


def test_a_bill_survives_a_round_trip_through_json() -> None:
    video = Video.model_validate({"id": "v", "status": "completed", "usage": {"cost": 0.07}})
    again = Video.model_validate_json(video.model_dump_json())
    assert again.billed_cost == Decimal("0.07")


anything = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats()
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["cost", "is_byok", "x"]), children, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(anything)
def test_any_usage_is_a_bill_or_none_and_never_raises(usage: object) -> None:
    video = Video.model_validate({"id": "v", "status": "completed", "usage": usage})
    cost = video.billed_cost
    assert cost is None or (cost.is_finite() and cost >= 0)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=20))
def test_any_header_is_a_bill_or_none_and_never_raises(header: str) -> None:
    cost = billed_cost(header)
    assert cost is None or (cost.is_finite() and cost >= 0)
