"""Improving a prompt before spending, without Discord: the chat client against a fake chat
server, the per-member count of the day's rewrites on SQLite and PostgreSQL, and the façade's
`improve_prompt`, which checks the prompt as `submit` does and reserves nothing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from bot.catalogue import RequestRejected
from bot.config import ConfigError, load_settings
from bot.domain import (
    MAX_PROMPT,
    GuildPolicy,
    Limit,
    LimitReached,
    NotAllowed,
    PromptFlagged,
    PromptHelperUnavailable,
    Requester,
    Usage,
)
from bot.fake_api import FakeSettings, FakeVideosServer
from bot.service import VideoService, build_service
from bot.service.prompt_improver import PromptImprover, fit, plain_prompt
from bot.service.wiring import make_providers
from bot.store import open_database
from bot.store.rewrites import RewriteCounts
from tests.fakes.chat import FakeChat
from tests.fakes.moderation import FakeModeration

KEY = "chat-key-0123456789"
MODERATION_KEY = "mod-key-0123456789"
MEMBER = Requester(7, 70)
PROMPT = "un zorro rojo salta sobre un arroyo helado"
CREATES = "POST /v1/videos"


# -- the chat client ------------------------------------------------------------------------------


@pytest.fixture
async def chat() -> AsyncIterator[FakeChat]:
    async with FakeChat(key=KEY) as server:
        yield server


@pytest.fixture
async def improver(chat: FakeChat) -> AsyncIterator[PromptImprover]:
    helper = PromptImprover(chat.base_url, SecretStr(KEY), "gpt-4o-mini", timeout=2.0)
    try:
        yield helper
    finally:
        await helper.close()


async def test_a_rewrite_keeps_the_prompt_and_is_asked_for_as_openai_expects(
    chat: FakeChat, improver: PromptImprover
) -> None:
    rewrite = await improver.improve(PROMPT, seconds=8, limit=500)

    assert rewrite == FakeChat.improved(PROMPT)
    (call,) = chat.calls
    assert call.status == 200
    assert call.authorization == f"Bearer {KEY}"
    assert call.body["model"] == "gpt-4o-mini"
    assert [m["role"] for m in call.body["messages"]] == ["system", "user"]
    assert call.user == PROMPT
    # What a rewrite must keep, and its bounds.
    for rule in ("subject", "motion", "same language", "about 8 seconds", "At most 500"):
        assert rule in call.system


async def test_a_rewrite_is_plain_prompt_text(chat: FakeChat, improver: PromptImprover) -> None:
    chat.answer = '<think>The user wants a fox.</think>\n```\n"A red fox leaps at dawn."\n```'
    assert await improver.improve(PROMPT, seconds=4, limit=500) == "A red fox leaps at dawn."


async def test_a_rewrite_too_long_is_cut_after_its_last_whole_sentence(
    chat: FakeChat, improver: PromptImprover
) -> None:
    chat.answer = "A fox runs. " * 30 + "It jumps over the creek and the light is golden"
    rewrite = await improver.improve(PROMPT, seconds=4, limit=100)
    assert len(rewrite) <= 100
    assert rewrite.endswith("A fox runs.")


@pytest.mark.parametrize(
    ("outage", "calls"),
    # A refused connection and a 5xx are tried once more; the rest are not.
    [("close", 2), ("500", 2), ("401", 1), ("garbage", 1), ("empty", 1), ("slow", 1)],
)
async def test_every_failure_is_the_helper_unavailable(
    chat: FakeChat, outage: Any, calls: int, caplog: pytest.LogCaptureFixture
) -> None:
    chat.down = outage
    helper = PromptImprover(chat.base_url, SecretStr(KEY), "gpt-4o-mini", timeout=0.5)
    try:
        with caplog.at_level(logging.DEBUG), pytest.raises(PromptHelperUnavailable):
            await helper.improve(PROMPT, seconds=4, limit=500)
    finally:
        await helper.close()
    assert len(chat.calls) == calls
    assert KEY not in caplog.text
    assert KEY not in repr(helper)


async def test_an_unknown_model_is_the_helper_unavailable(chat: FakeChat) -> None:
    helper = PromptImprover(chat.base_url, SecretStr(KEY), "no-such-model")
    try:
        with pytest.raises(PromptHelperUnavailable, match="404"):
            await helper.improve(PROMPT, seconds=4, limit=500)
    finally:
        await helper.close()


async def test_a_server_that_is_not_there_is_the_helper_unavailable(
    unused_tcp_port: int,
) -> None:
    helper = PromptImprover(f"http://127.0.0.1:{unused_tcp_port}/v1", None, "m", timeout=2.0)
    try:
        with pytest.raises(PromptHelperUnavailable, match="no connection"):
            await helper.improve(PROMPT, seconds=4, limit=500)
    finally:
        await helper.close()


def test_fit_cuts_at_a_sentence_then_a_space_then_anywhere() -> None:
    assert fit("short", 10) == "short"
    assert fit("One. Two three four five", 12) == "One. Two"
    assert fit("Un zorro corre. Salta el arroyo helado", 30) == "Un zorro corre."
    assert fit("unzorrocorresaltaelarroyo helado", 30) == "unzorrocorresaltaelarroyo"
    assert fit("x" * 50, 30) == "x" * 30
    assert fit("狐が走る。小川を跳び越える。夕暮れの光", 16) == "狐が走る。小川を跳び越える。"


def test_plain_prompt_drops_what_is_not_the_prompt() -> None:
    assert plain_prompt("Prompt: «Un zorro rojo»") == "Un zorro rojo"
    assert plain_prompt("<think>\nhmm\n</think>A fox") == "A fox"
    assert plain_prompt("```text\nA fox\n```") == "A fox"


# -- the day's count, on both stores ---------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    server = request.getfixturevalue("postgres_server")
    return str(await server.new_database())


async def test_the_count_stops_at_the_limit_and_starts_again_the_next_day(
    database_url: str,
) -> None:
    database = await open_database(database_url)
    try:
        counts = RewriteCounts(database)
        assert [await counts.take(1, "2026-05-17", 2) for _ in range(3)] == [True, True, False]
        assert await counts.take(2, "2026-05-17", 2)  # another member's own
        await counts.give_back(1, "2026-05-17")
        assert await counts.take(1, "2026-05-17", 2)
        assert not await counts.take(1, "2026-05-17", 2)
        assert await counts.take(1, "2026-05-18", 2)  # a new day
        assert await counts.used(1, "2026-05-17") == 0  # the days before are dropped
        assert await counts.used(1, "2026-05-18") == 1
    finally:
        await database.close()


async def test_members_racing_for_the_last_rewrites_get_exactly_the_limit(
    database_url: str,
) -> None:
    # Two processes on one database: two stores, one member, many requests at once.
    first, second = await open_database(database_url), await open_database(database_url)
    try:
        stores = [RewriteCounts(first), RewriteCounts(second)]
        taken = await asyncio.gather(*(stores[i % 2].take(9, "2026-05-17", 5) for i in range(16)))
        assert sum(taken) == 5
        assert await stores[0].used(9, "2026-05-17") == 5
    finally:
        await first.close()
        await second.close()


# -- the façade ------------------------------------------------------------------------------------


@dataclass
class Stage:
    service: VideoService
    videos: FakeVideosServer
    chat: FakeChat
    moderation: FakeModeration

    async def nothing_spent(self) -> None:
        assert self.videos.stats.count(CREATES) == 0
        assert await self.service.recent_jobs(MEMBER.user_id) == []
        assert await self.service.usage(since=0, user_id=MEMBER.user_id) == Usage()


@pytest.fixture
async def stage(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Stage]:
    async with (
        FakeVideosServer(FakeSettings(default_duration=1.0)) as videos,
        FakeChat(key=KEY) as chat,
        FakeModeration(key=MODERATION_KEY, words={"gore": "violence"}) as moderation,
        aiohttp.ClientSession() as session,
    ):
        settings = load_settings(
            openai_base_url=videos.base_url,
            openai_api_key=None,
            data_dir=tmp_path,
            max_retries=0,
            request_timeout=2,
            moderation_url=moderation.base_url,
            moderation_key=MODERATION_KEY,
            prompt_url=chat.base_url,
            prompt_model="gpt-4o-mini",
            prompt_key=KEY,
            **getattr(request, "param", {}),
        )
        database = await open_database(settings.effective_database_url)
        service = build_service(settings, database, make_providers(session, settings), sinks={})
        await service.start(resume=False)
        try:
            yield Stage(service, videos, chat, moderation)
        finally:
            await service.close(grace=0)
            await database.close()


async def test_an_offer_is_checked_like_a_request_and_reserves_nothing(stage: Stage) -> None:
    offer = await stage.service.improve_prompt(MEMBER, PROMPT, seconds=8, max_length=4000)

    assert offer.original == PROMPT
    assert offer.rewrite == FakeChat.improved(PROMPT)
    assert offer.problem is None
    assert (offer.model, offer.size, offer.seconds) == ("sora-2", "720x1280", 8)
    assert str(offer.estimated_cost) == "0.80"
    assert offer.max_length == 4000
    assert [call.texts for call in stage.moderation.calls] == [[PROMPT], [offer.rewrite]]
    await stage.nothing_spent()


async def test_the_longest_prompt_is_the_models_or_the_front_ends(stage: Stage) -> None:
    offer = await stage.service.improve_prompt(MEMBER, PROMPT, max_length=10**6)
    assert offer.max_length == MAX_PROMPT
    assert f"At most {MAX_PROMPT} characters" in stage.chat.calls[-1].system


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        ({"model": "no-such-model"}, RequestRejected),
        ({"seconds": 7}, RequestRejected),
        ({"prompt": "   "}, RequestRejected),
        ({"prompt": "a fox [flag=hate]"}, PromptFlagged),
    ],
)
async def test_a_refused_prompt_asks_nothing_of_the_chat_model(
    stage: Stage, change: dict[str, Any], refusal: type[Exception]
) -> None:
    asked = {"prompt": PROMPT, **change}
    prompt = asked.pop("prompt")
    with pytest.raises(refusal):
        await stage.service.improve_prompt(MEMBER, prompt, **asked)
    assert stage.chat.calls == []
    await stage.nothing_spent()


async def test_the_servers_rules_apply_before_the_chat_model_is_asked(stage: Stage) -> None:
    await stage.service.change_policy(70, lambda p: p.evolve(max_seconds=4))
    with pytest.raises(RequestRejected, match="up to 4"):
        await stage.service.improve_prompt(MEMBER, PROMPT, seconds=8)
    await stage.service.change_policy(70, lambda p: GuildPolicy(enabled=False))
    with pytest.raises(NotAllowed):
        await stage.service.improve_prompt(MEMBER, PROMPT)
    assert stage.chat.calls == []


@pytest.mark.parametrize("stage", [{"prompt_daily": 2}], indirect=True)
async def test_the_days_rewrites_run_out_and_a_failed_one_is_not_counted(stage: Stage) -> None:
    stage.chat.down = "500"
    failed = await stage.service.improve_prompt(MEMBER, PROMPT)
    assert isinstance(failed.problem, PromptHelperUnavailable)
    assert failed.rewrite is None
    stage.chat.down = None
    for _ in range(2):
        assert (await stage.service.improve_prompt(MEMBER, PROMPT)).rewrite is not None
    used_up = await stage.service.improve_prompt(MEMBER, PROMPT)

    assert used_up.rewrite is None
    assert isinstance(used_up.problem, LimitReached)
    assert used_up.problem.limit is Limit.REWRITES
    assert str(used_up.problem) == "You have used your 2 prompt improvements for today."
    assert used_up.problem.resets_at is not None
    assert len(stage.chat.calls) == 2 + 2  # the failed one (tried twice), then two
    assert str(used_up.estimated_cost) == "0.40"  # the member's own prompt is still priced
    await stage.nothing_spent()


async def test_a_flagged_rewrite_is_offered_as_refused(stage: Stage) -> None:
    stage.chat.answer = "a fox and gore"
    offer = await stage.service.improve_prompt(MEMBER, PROMPT)

    assert offer.rewrite is None
    assert isinstance(offer.problem, PromptFlagged)
    await stage.nothing_spent()


# -- settings ------------------------------------------------------------------------------------


def test_the_option_needs_a_url_and_a_model() -> None:
    assert not load_settings().improves_prompts
    assert load_settings(prompt_url="http://127.0.0.1:1/v1/", prompt_model="m").improves_prompts
    assert load_settings(prompt_url="http://127.0.0.1:1/v1/", prompt_model="m").prompt_url == (
        "http://127.0.0.1:1/v1"
    )
    with pytest.raises(ConfigError, match="VIDEO_BOT_PROMPT_MODEL"):
        load_settings(prompt_url="http://127.0.0.1:1/v1")


def test_a_url_with_credentials_is_refused_without_showing_them() -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(prompt_url="https://user:hunter22@chat.example/v1", prompt_model="m")
    assert "VIDEO_BOT_PROMPT_KEY" in str(refused.value)
    assert "hunter22" not in str(refused.value)
    with pytest.raises(ConfigError, match="VIDEO_BOT_PROMPT_URL"):
        load_settings(prompt_url="ftp://chat.example", prompt_model="m")


def test_the_key_is_secret() -> None:
    settings = load_settings(prompt_url="http://127.0.0.1:1/v1", prompt_model="m", prompt_key=KEY)
    assert KEY not in repr(settings)
    assert KEY not in str(settings.model_dump())
