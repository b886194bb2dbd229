"""Discovery endpoints (OpenAI's /v1/models, LiteLLM's model groups) and LiteLLM's cost header."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.fake_api import FakeSettings, FakeVideosServer, Fault

from ._client import create, create_json, get_json, retrieve, video_url

COST = "x-litellm-response-cost"


@pytest.fixture
async def litellm() -> AsyncIterator[FakeVideosServer]:
    async with FakeVideosServer(FakeSettings(dialect="litellm")) as fake:
        yield fake


# --- OpenAI -----------------------------------------------------------------------------------


async def test_openai_lists_its_models_with_only_the_four_fields(fake, http):
    status, body = await get_json(http, f"{fake.base_url}/models")
    assert status == 200
    assert body["object"] == "list"
    assert [model["id"] for model in body["data"]][:2] == ["sora-2", "sora-2-pro"]
    for model in body["data"]:
        assert set(model) == {"id", "object", "created", "owned_by"}
        assert model["object"] == "model"
    fake.settings.api_key = "k"
    status, _ = await get_json(http, f"{fake.base_url}/models")
    assert status == 401
    status, _ = await get_json(http, f"{fake.root_url}/model_group/info")
    assert status == 404


@pytest.mark.parametrize("dialect", ["sglang", "vllm_omni", "trtllm", "newapi"])
async def test_the_self_hosted_dialects_keep_answering_404_for_models(http, dialect):
    async with FakeVideosServer(FakeSettings(dialect=dialect)) as fake:
        status, _ = await get_json(http, f"{fake.base_url}/models")
        assert status == 404
        status, _ = await get_json(http, f"{fake.root_url}/model_group/info")
        assert status == 404


async def test_discovery_faults_only_when_aimed_at_models(fake, http):
    fake.settings.faults = [Fault(endpoint="any", kind="503")]
    status, _ = await get_json(http, f"{fake.base_url}/models")
    assert status == 200
    assert len(fake.settings.faults) == 1  # "any" means the Videos endpoints
    fake.settings.faults = [Fault(endpoint="models", kind="503")]
    status, _ = await get_json(http, f"{fake.base_url}/models")
    assert status == 503
    status, _ = await get_json(http, f"{fake.base_url}/models")
    assert status == 200
    assert fake.stats.count("GET /v1/models") == 3


# --- LiteLLM ----------------------------------------------------------------------------------


async def test_litellm_model_group_info_has_prices_modes_and_retirements(litellm, http):
    status, body = await get_json(http, f"{litellm.root_url}/model_group/info")
    assert status == 200
    groups = {group["model_group"]: group for group in body["data"]}
    assert list(groups) == ["sora-2", "sora-2-pro", "veo-3.1", "veo-3.1-preview"]
    veo = groups["veo-3.1"]
    assert veo["providers"] == ["gemini"]
    assert veo["mode"] == "video_generation"
    assert veo["output_cost_per_second"] == 0.4
    assert "seconds" in veo["supported_openai_params"]
    assert "deprecation_date" not in veo
    assert groups["sora-2"]["output_cost_per_second"] == 0.1
    retired = groups["veo-3.1-preview"]
    assert (retired["deprecation_date"], retired["successor_model"]) == ("2026-10-22", "veo-3.1")
    assert litellm.stats.count("GET /model_group/info") == 1

    litellm.settings.api_key = "k"
    status, body = await get_json(http, f"{litellm.root_url}/model_group/info")
    assert status == 401
    assert body["error"]["type"] == "auth_error"


async def test_litellm_v1_models_lists_the_groups_with_metadata_on_request(litellm, http):
    status, body = await get_json(http, f"{litellm.base_url}/models")
    assert status == 200
    assert [m["id"] for m in body["data"]] == ["sora-2", "sora-2-pro", "veo-3.1", "veo-3.1-preview"]
    assert all("metadata" not in m for m in body["data"])
    _, body = await get_json(
        http, f"{litellm.base_url}/models", params={"include_metadata": "true"}
    )
    metadata = {m["id"]: m["metadata"] for m in body["data"]}
    assert metadata["veo-3.1-preview"]["successor_model"] == "veo-3.1"
    assert metadata["sora-2-pro"]["output_cost_per_second"] == 0.3


async def test_litellm_says_the_billed_cost_on_create_and_on_a_completed_retrieve(litellm, http):
    async with http.post(
        f"{litellm.base_url}/videos",
        json={"model": "veo-3.1", "prompt": "x [duration=4]", "seconds": "8", "size": "1920x1080"},
    ) as r:
        assert r.status == 200
        assert float(r.headers[COST]) == pytest.approx(3.2)
        video = await r.json()
    async with http.get(video_url(litellm, video["id"])) as r:
        assert r.status == 200
        assert COST not in r.headers  # not billed-and-done yet
    litellm.advance(4)
    async with http.get(video_url(litellm, video["id"])) as r:
        assert (await r.json())["status"] == "completed"
        assert float(r.headers[COST]) == pytest.approx(3.2)

    _, sora = await create(http, litellm, "x", seconds="12")
    kept = litellm.job(sora["id"])
    assert kept is not None
    assert kept.cost == pytest.approx(1.2)


async def test_litellm_checks_veo_against_veos_own_values(litellm, http):
    status, body = await create_json(
        http, litellm, {"model": "veo-3.1", "prompt": "x", "seconds": "12"}
    )
    assert status == 400
    assert body["error"]["param"] == "seconds"
    status, _ = await create_json(
        http, litellm, {"model": "veo-3.1", "prompt": "x", "seconds": "6", "size": "1080x1920"}
    )
    assert status == 200


async def test_a_retired_group_answers_the_upstreams_404(litellm, http):
    status, body = await create_json(
        http, litellm, {"model": "veo-3.1-preview", "prompt": "x", "seconds": "8"}
    )
    assert status == 404
    assert body["error"]["code"] == "404"
    assert body["error"]["message"].startswith("litellm.NotFoundError")
    assert litellm.stats.creates == 0


async def test_a_failed_litellm_job_carries_no_cost_header(litellm, http):
    _, video = await create(http, litellm, "[fail] [duration=2]")
    litellm.advance(2)
    async with http.get(video_url(litellm, video["id"])) as r:
        assert r.status == 500
        assert COST not in r.headers
    status, _ = await retrieve(http, litellm, video["id"])
    assert status == 500
