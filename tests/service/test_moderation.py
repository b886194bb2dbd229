"""The prompt check before spending, over the wire: the real service between a fake Videos API
and a fake moderation server. A refused prompt reserves nothing and sends nothing; a
spoiler-only category makes the video and records why it goes behind a spoiler; the server's
mode and the operator's fail setting decide the rest."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image

from bot.config import ConfigError, load_settings
from bot.domain import (
    JobState,
    JobSummary,
    JobView,
    ModerationUnavailable,
    PromptFlagged,
    ReplyHandle,
    Requester,
    Upload,
    Usage,
)
from bot.fake_api import FakeSettings, FakeVideosServer
from bot.service import VideoService, build_service
from bot.service.wiring import make_providers
from bot.store import open_database
from tests.fakes.moderation import FakeModeration
from tests.service.test_providers import Reply

CREATES = "POST /v1/videos"
MEMBER = Requester(7, 70)
KEY = "mod-key-0123456789"
UNAVAILABLE = "The safety check is unavailable right now; try again later."


@dataclass
class Stage:
    service: VideoService
    videos: FakeVideosServer
    moderation: FakeModeration
    replies: dict[str, Reply] = field(default_factory=dict)

    def opener(self) -> Any:
        stage = self

        class Opener:
            async def open(self, view: JobView) -> ReplyHandle:
                stage.replies[view.ref] = Reply()
                return ReplyHandle("test", view.ref)

        return Opener()

    async def ask(
        self, prompt: str, *, image: bytes | None = None, requester: Requester = MEMBER, **more: Any
    ) -> JobView:
        reference = None
        if image is not None:
            data = image

            async def read() -> bytes:
                return data

            reference = Upload("image/png", len(data), "a.png", read)
        return await self.service.submit(
            requester, prompt, reply=self.opener(), reference=reference, **more
        )

    async def finished(self, job_id: str) -> JobSummary:
        await asyncio.wait_for(self.replies[job_id].done.wait(), timeout=20)
        async with asyncio.timeout(10):
            while True:
                summary = await self.service.job(job_id)
                if summary is not None and summary.state.is_final:
                    return summary
                await asyncio.sleep(0.02)

    @property
    def creates(self) -> int:
        return self.videos.stats.count(CREATES)

    async def nothing_spent(self) -> None:
        """Nothing reserved, stored or sent for the member."""
        assert await self.service.usage(since=0, user_id=MEMBER.user_id) == Usage()
        assert await self.service.recent_jobs(MEMBER.user_id) == []
        assert self.creates == 0


@pytest.fixture
async def stage(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Stage]:
    options: dict[str, Any] = {
        "moderation_key": KEY,
        "moderation_spoiler_only": "violence",
        **getattr(request, "param", {}),
    }
    async with (
        FakeVideosServer(FakeSettings(default_duration=1.0)) as videos,
        FakeModeration(key=KEY, slow_seconds=3.0) as moderation,
        aiohttp.ClientSession() as session,
    ):
        settings = load_settings(
            openai_base_url=videos.base_url,
            openai_api_key=None,
            data_dir=tmp_path,
            poll_min_interval=0.05,
            poll_max_interval=0.2,
            poll_fixed_interval=0.1,
            max_retries=0,
            moderation_url=moderation.base_url,
            **options,
        )
        database = await open_database(settings.effective_database_url)
        stage = Stage(
            build_service(settings, database, make_providers(session, settings), sinks={}),
            videos,
            moderation,
        )
        stage.service.engine.replies._builders["test"] = lambda h: stage.replies[h.public]
        await stage.service.start(resume=False)
        try:
            yield stage
        finally:
            await stage.service.close(grace=0)
            await database.close()


def png(colour: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    picture = io.BytesIO()
    Image.new("RGB", (64, 36), colour).save(picture, format="PNG")
    return picture.getvalue()


# -- refused, made ---------------------------------------------------------------------------


async def test_a_flagged_prompt_is_refused_before_anything_is_reserved_or_sent(
    stage: Stage,
) -> None:
    prompt = "a scene [flag=self-harm/intent]"
    with pytest.raises(PromptFlagged) as refused:
        await stage.ask(prompt)

    assert str(refused.value) == "This prompt was flagged for: self-harm."
    assert refused.value.categories == ("self-harm/intent",)
    await stage.nothing_spent()
    # What the moderation server was asked, as OpenAI's API has it, with the operator's key.
    (call,) = stage.moderation.calls
    assert call.authorization == f"Bearer {KEY}"
    assert call.body == {
        "model": "omni-moderation-latest",
        "input": [{"type": "text", "text": prompt}],
    }


async def test_categories_are_named_in_plain_words_once_each(stage: Stage) -> None:
    with pytest.raises(PromptFlagged) as refused:
        await stage.ask("[flag=hate,hate/threatening,sexual]")
    assert str(refused.value) == "This prompt was flagged for: hate, sexual content."
    assert refused.value.categories == ("hate", "hate/threatening", "sexual")
    assert stage.creates == 0


async def test_a_clean_prompt_is_made(stage: Stage) -> None:
    view = await stage.ask("a lighthouse at dawn")
    summary = await stage.finished(view.ref)

    assert summary.state is JobState.DELIVERED
    assert summary.spoiler is None
    assert view.spoiler is None
    assert len(stage.moderation.calls) == 1
    assert stage.creates == 1


async def test_a_spoiler_only_category_makes_the_video_behind_a_spoiler(stage: Stage) -> None:
    # VIDEO_BOT_MODERATION_SPOILER_ONLY=violence covers violence/graphic.
    view = await stage.ask("a duel at noon [flag=violence,violence/graphic]")
    summary = await stage.finished(view.ref)

    assert summary.state is JobState.DELIVERED
    assert summary.spoiler == "violence"
    assert view.spoiler == "violence"
    assert stage.replies[view.ref].delivered[-1].spoiler == "violence"
    record = await stage.service.engine.store.get(view.ref)
    assert record is not None
    assert record.spoiler == "violence"
    assert stage.creates == 1


async def test_a_spoiler_only_category_with_another_one_is_refused(stage: Stage) -> None:
    with pytest.raises(PromptFlagged) as refused:
        await stage.ask("[flag=violence,harassment]")
    assert refused.value.categories == ("harassment", "violence")
    await stage.nothing_spent()


# -- the server's mode -------------------------------------------------------------------------


async def test_a_strict_server_refuses_the_spoiler_only_categories_too(stage: Stage) -> None:
    await stage.service.change_policy(70, lambda p: p.evolve(moderation="strict"))
    with pytest.raises(PromptFlagged, match=r"^This prompt was flagged for: violence\.$"):
        await stage.ask("a duel at noon [flag=violence]")
    await stage.nothing_spent()

    # Another server keeps the operator's rule.
    view = await stage.ask("a duel at noon [flag=violence]", requester=Requester(7, 71))
    assert (await stage.finished(view.ref)).spoiler == "violence"


async def test_a_server_that_turned_moderation_off_is_not_checked(stage: Stage) -> None:
    await stage.service.change_policy(70, lambda p: p.evolve(moderation="off"))
    view = await stage.ask("a scene [flag=harassment]")
    summary = await stage.finished(view.ref)

    assert summary.state is JobState.DELIVERED
    assert summary.spoiler is None
    assert stage.moderation.calls == []


async def test_outside_a_server_the_operators_settings_apply(stage: Stage) -> None:
    with pytest.raises(PromptFlagged):
        await stage.ask("[flag=harassment]", requester=Requester(7, None))
    assert len(stage.moderation.calls) == 1
    assert stage.creates == 0


async def test_the_operators_own_terminal_is_not_checked(stage: Stage) -> None:
    view = await stage.ask("[flag=harassment]", bounded=False)
    assert (await stage.finished(view.ref)).state is JobState.DELIVERED
    assert stage.moderation.calls == []


# -- the reference image ------------------------------------------------------------------------


async def test_the_reference_image_is_checked_with_the_prompt(stage: Stage) -> None:
    stage.moderation.image_flags = frozenset({"sexual"})
    with pytest.raises(PromptFlagged, match="sexual content") as refused:
        await stage.ask("this picture, moving", image=png(), size="1280x720")

    assert refused.value.categories == ("sexual",)
    await stage.nothing_spent()
    (call,) = stage.moderation.calls
    assert [part["type"] for part in call.body["input"]] == ["text", "image_url"]
    assert call.image_types == ["image/jpeg"]
    # The fitted reference, as the provider would get it: a JPEG of the video's size.
    (sent,) = call.images
    assert Image.open(io.BytesIO(sent)).size == (1280, 720)


async def test_a_clean_reference_image_is_sent_and_the_video_made(stage: Stage) -> None:
    view = await stage.ask("this picture, moving", image=png())
    assert (await stage.finished(view.ref)).state is JobState.DELIVERED
    (call,) = stage.moderation.calls
    assert call.image_types == ["image/jpeg"]


# -- follow-ups --------------------------------------------------------------------------------


async def test_a_follow_ups_own_prompt_is_checked(stage: Stage) -> None:
    source = await stage.ask("a fox in the snow")
    await stage.finished(source.ref)

    with pytest.raises(PromptFlagged, match="harassment"):
        await stage.service.follow_up(
            "remix", source.ref, MEMBER, reply=stage.opener(), prompt="the fox [flag=harassment]"
        )
    assert stage.moderation.calls[-1].texts == ["the fox [flag=harassment]"]
    assert stage.creates == 1  # the source only
    assert stage.videos.stats.count("POST /v1/videos/{video_id}/remix") == 0
    assert len(await stage.service.recent_jobs(MEMBER.user_id)) == 1

    remix = await stage.service.follow_up(
        "remix", source.ref, MEMBER, reply=stage.opener(), prompt="the fox [flag=violence]"
    )
    assert (await stage.finished(remix.ref)).spoiler == "violence"
    assert stage.videos.stats.count("POST /v1/videos/{video_id}/remix") == 1


async def test_a_retry_is_checked_again_with_its_reference_image(stage: Stage) -> None:
    source = await stage.ask("this picture, moving", image=png())
    await stage.finished(source.ref)
    stage.moderation.image_flags = frozenset({"violence/graphic"})

    retry = await stage.service.follow_up("retry", source.ref, MEMBER, reply=stage.opener())

    assert stage.moderation.calls[-1].image_types == ["image/jpeg"]
    assert stage.moderation.calls[-1].images == stage.moderation.calls[0].images
    assert (await stage.finished(retry.ref)).spoiler == "violence"


# -- when the moderation server cannot answer --------------------------------------------------


@pytest.mark.parametrize("outage", ["500", "close", "slow", "garbage"])
@pytest.mark.parametrize("stage", [{"request_timeout": 1.0}], indirect=True)
async def test_failing_closed_refuses_while_the_check_cannot_be_made(
    stage: Stage, outage: Any, caplog: pytest.LogCaptureFixture
) -> None:
    stage.moderation.down = outage
    with (
        caplog.at_level(logging.DEBUG, logger="bot.service.moderation"),
        pytest.raises(ModerationUnavailable) as refused,
    ):
        await stage.ask("a lighthouse at dawn")

    assert str(refused.value) == UNAVAILABLE
    await stage.nothing_spent()
    assert KEY not in caplog.text
    # A refused connection and a 5xx are tried once more at once; a timeout is not.
    assert len(stage.moderation.calls) == (2 if outage in ("500", "close") else 1)

    stage.moderation.down = None
    view = await stage.ask("a lighthouse at dawn")
    assert (await stage.finished(view.ref)).state is JobState.DELIVERED


@pytest.mark.parametrize("stage", [{"moderation_fail": "open"}], indirect=True)
async def test_failing_open_makes_the_video_unchecked_and_warns_once(
    stage: Stage, caplog: pytest.LogCaptureFixture
) -> None:
    stage.moderation.down = "500"
    with caplog.at_level(logging.INFO, logger="bot.service.moderation"):
        first = await stage.ask("a lighthouse at dawn [flag=harassment]")
        second = await stage.ask("a fox in the snow")
        stage.moderation.down = None
        with pytest.raises(PromptFlagged):
            await stage.ask("a heron [flag=harassment]")

    assert (await stage.finished(first.ref)).state is JobState.DELIVERED
    assert (await stage.finished(second.ref)).state is JobState.DELIVERED
    assert stage.creates == 2
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "unchecked" in warnings[0].getMessage()
    assert any("answers again" in r.getMessage() for r in caplog.records)
    assert KEY not in caplog.text


@pytest.mark.parametrize("stage", [{"moderation_key": None}], indirect=True)
async def test_a_key_the_moderation_server_refuses_fails_closed(stage: Stage) -> None:
    with pytest.raises(ModerationUnavailable):
        await stage.ask("a lighthouse at dawn")
    assert stage.moderation.calls[0].authorization is None
    await stage.nothing_spent()


# -- settings ----------------------------------------------------------------------------------


def test_the_moderation_settings_are_checked_at_start_up(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^VIDEO_BOT_MODERATION_URL must not contain") as bad:
        load_settings(data_dir=tmp_path, moderation_url="https://user:hunter22@mod.example/v1")
    assert "hunter22" not in str(bad.value)
    with pytest.raises(ConfigError, match=r"^VIDEO_BOT_MODERATION_SPOILER_ONLY: must be"):
        load_settings(data_dir=tmp_path, moderation_spoiler_only="Violence!")
    with pytest.raises(ConfigError, match=r"^VIDEO_BOT_MODERATION_FAIL"):
        load_settings(data_dir=tmp_path, moderation_fail="maybe")
    settings = load_settings(
        data_dir=tmp_path,
        moderation_url="https://mod.example/v1/",
        moderation_spoiler_only="violence, self-harm/intent",
    )
    assert settings.moderation_url == "https://mod.example/v1"
    assert settings.moderation_spoiler_categories == {"violence", "self-harm/intent"}
    assert settings.moderation_fail == "closed"
    assert settings.moderation_model == "omni-moderation-latest"
