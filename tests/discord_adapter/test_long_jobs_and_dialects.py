"""Jobs that outlive the interaction token, and every provider dialect, through the real bot."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.fake_api import FakeSettings
from tests.discord_adapter.harness import running_harness
from tests.discord_adapter.test_video_command import embed, finished


def progress_shown(it) -> bool:
    return any("%" in str(e.payload.get("embeds", "")) for e in it.edits)


async def test_a_job_past_15_minutes_moves_to_the_channel_before_the_token_dies(
    tmp_path: Path,
) -> None:
    async with running_harness(tmp_path) as harness:
        with harness.discord.patch_utcnow():
            it = await harness.video("an epic voyage [duration=1200]")
            await it.wait_for(progress_shown, timeout=10)
            harness.discord.advance(16 * 60)
            harness.videos.advance(16 * 60)
            await it.wait_for(lambda i: any(e.via == "channel" for e in i.edits), timeout=10)
            harness.videos.advance(10 * 60)
            message = await it.wait_for(
                lambda i: (m := finished(i)) and m.components and m, timeout=20
            )
    assert embed(message)["title"] == "Your video is ready"
    assert [a.data for a in message.videos] == [harness.videos.asset_bytes()]
    late = [e for e in it.edits if e.at - it.created_at > 15 * 60]
    assert late
    assert all(e.via == "channel" for e in late)
    assert it.count_50027 == 0
    assert harness.creates == 1
    harness.discord.assert_spec_clean()


async def test_a_token_that_dies_early_is_abandoned_after_its_first_50027(tmp_path: Path) -> None:
    # Without the utcnow seam the bot's own clock says the token is fresh (clock drift):
    # Discord's 50027 is the only signal, and one must be enough.
    async with running_harness(tmp_path) as harness:
        it = await harness.video("drifting clocks [duration=1200]")
        await it.wait_for(progress_shown, timeout=10)
        harness.discord.advance(16 * 60)
        harness.videos.advance(16 * 60)
        await it.wait_for(lambda i: any(e.via == "channel" for e in i.edits), timeout=10)
        harness.videos.advance(10 * 60)
        message = await it.wait_for(lambda i: (m := finished(i)) and m.components and m, timeout=20)
    assert [a.data for a in message.videos] == [harness.videos.asset_bytes()]
    assert it.count_50027 == 1


DIALECT_CATALOGUES = {
    "vllm_omni": 'send_model = false\nsizes = ["1280x720"]\nseconds = [4]\n',
    "trtllm": 'sizes = ["1280x720"]\nseconds = [4]\nseconds_format = "float"\n',
    "sglang": 'send_model = false\nsizes = ["832x480"]\nseconds = [5]\nseconds_format = "int"\n',
}


@pytest.mark.parametrize(
    "dialect", ["openai", "sglang", "vllm_omni", "trtllm", "newapi", "litellm"]
)
async def test_every_dialect_delivers(tmp_path: Path, dialect: str) -> None:
    overrides = {}
    if dialect in DIALECT_CATALOGUES:
        path = tmp_path / "models.toml"
        path.write_text(
            f'[[models]]\nname = "house-model"\n{DIALECT_CATALOGUES[dialect]}', encoding="utf-8"
        )
        overrides["catalogue_file"] = path
    fake = FakeSettings(dialect=dialect, default_duration=2.0)
    async with running_harness(tmp_path / "data", fake_settings=fake, **overrides) as harness:
        it = await harness.video("a lighthouse in fog")
        message = await it.wait_for(finished, timeout=30)
        assert embed(message)["title"] == "Your video is ready"
        video, still = message.attachments
        assert video.data == harness.videos.asset_bytes()
        # The provider's thumbnail where it has one, else a frame of the video.
        assert still.filename in ("thumbnail.webp", "thumbnail.jpg")
        assert harness.creates == 1
        harness.discord.assert_spec_clean()


async def test_a_failure_reported_as_an_http_error_is_still_a_failure(tmp_path: Path) -> None:
    fake = FakeSettings(dialect="vllm_omni", default_duration=2.0)
    path = tmp_path / "models.toml"
    path.write_text(
        f'[[models]]\nname = "wan"\n{DIALECT_CATALOGUES["vllm_omni"]}', encoding="utf-8"
    )
    async with running_harness(tmp_path / "d", fake_settings=fake, catalogue_file=path) as h:
        it = await h.video("doomed [fail]")
        message = await it.wait_for(finished, timeout=30)
        assert embed(message)["title"] == "No video this time"
