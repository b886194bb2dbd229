"""The team API over several providers: an API job follows the same fallback chain as `/video`,
its Video names the model that made it, and the download comes from that model's provider."""

from __future__ import annotations

import socket
from pathlib import Path

import openai

from bot.fake_api import FakeSettings, FakeVideosServer
from tests.discord_adapter.harness import running_harness


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_an_api_job_falls_back_and_its_video_names_the_model_that_made_it(
    tmp_path: Path, unused_tcp_port: int
) -> None:
    async with FakeVideosServer(FakeSettings(dialect="openrouter", default_duration=1.0)) as router:
        catalogue = tmp_path / "catalogue.toml"
        catalogue.write_text(
            f"""
[providers.router]
dialect = "openrouter"
base_url = "{router.base_url}"

[[models]]
name = "sora-2"
sizes = ["1280x720"]
seconds = [4]
fallbacks = ["veo"]

[[models]]
name = "veo"
provider = "router"
api_model = "google/veo-3.1"
sizes = ["1280x720"]
seconds = [4]
""",
            encoding="utf-8",
        )
        async with running_harness(
            tmp_path,
            web_port=unused_tcp_port,
            # The default provider refuses every connection: nothing can have been billed there.
            openai_base_url=f"http://127.0.0.1:{closed_port()}/v1",
            catalogue_file=catalogue,
            max_retries=0,
        ) as h:
            _, secret = await h.bot.service.keys.create(
                name="release-bot", guild_id=h.guild.id, channels=[h.channel.id]
            )
            client = openai.AsyncOpenAI(
                api_key=secret, base_url=f"http://127.0.0.1:{unused_tcp_port}/v1", max_retries=0
            )
            video = await client.videos.create_and_poll(
                prompt="a teaser for release 2.0",
                model="sora-2",
                size="1280x720",
                seconds="4",
                poll_interval_ms=250,
            )
            content = await client.videos.download_content(video.id)
            await client.close()
    assert video.status == "completed"
    assert video.model == "veo"
    assert content.content == router.asset_bytes()
    assert router.stats.count("POST /api/v1/videos") == 1
