"""The bot's own web server, running inside the real bot: health and metrics (the 503 answers
are tested on the server itself, tests/http/test_server.py)."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.discord_adapter.harness import running_harness
from tests.discord_adapter.test_video_command import finished
from tests.discord_adapter.test_workflow_faults import store_locked


async def test_health_and_metrics_are_served_by_the_bot(
    tmp_path: Path, unused_tcp_port: int
) -> None:
    async with running_harness(
        tmp_path, web_port=unused_tcp_port, metrics_token="scrape-me-please"
    ) as h:
        it = await h.video("a kite [duration=1]")
        await it.wait_for(finished, timeout=20)
        base = f"http://127.0.0.1:{unused_tcp_port}"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/healthz") as resp:
                assert resp.status == 200
            async with http.get(f"{base}/metrics") as resp:
                assert resp.status == 401  # the token is required
            headers = {"Authorization": "Bearer scrape-me-please"}
            async with http.get(f"{base}/metrics", headers=headers) as resp:
                assert resp.status == 200
                text = await resp.text()
            samples = {
                (s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text)
                for s in family.samples
            }
            assert samples[("video_bot_queue_waiting", ())] == 0
            assert samples[("video_bot_jobs", (("state", "delivered"),))] == 1
            assert samples[("video_bot_estimated_spend_usd", (("billing", "charged"),))] == 0.4
            # Labelled with the catalogue's provider whose base URL the request went to.
            creates = (
                ("endpoint", "create"),
                ("method", "POST"),
                ("provider", "default"),
                ("status", "200"),
            )
            assert samples[("video_bot_provider_requests_total", creates)] == 1
            assert samples[("video_bot_status_reads_total", ())] >= 1
            assert samples[("video_bot_discord_edits_total", ())] >= 2


async def test_health_turns_503_naming_the_store_while_it_cannot_be_read(
    tmp_path: Path, unused_tcp_port: int
) -> None:
    async with running_harness(tmp_path, web_port=unused_tcp_port) as h:
        await h.bot.wait_until_ready()
        url = f"http://127.0.0.1:{unused_tcp_port}/healthz"
        async with aiohttp.ClientSession() as http:
            async with http.get(url) as resp:
                assert resp.status == 200
            # Another process holds the database's write lock (a migration, a backup tool).
            async with store_locked(tmp_path / "video-bot.sqlite3"):
                async with http.get(url) as resp:
                    assert resp.status == 503
                    body = await resp.json()
                assert body["failing"] == ["store"]
                assert body["checks"] == {"loop": True, "store": False, "gateway": True}
            async with http.get(url) as resp:
                assert resp.status == 200
