"""The bot's Videos API against its own OpenAPI document (`GET /v1/openapi.json`): the real bot
between the fakes, driven by schemathesis with cases drawn from the document. Every answer must
be a documented status with the documented content type, body and headers, and never a 5xx."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.errors import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from bot.http import team_api
from bot.http.openapi import build_openapi
from tests.discord_adapter.harness import running_harness
from tests.http.conftest import webhook_receiver

EXAMPLES = 20
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def on_own_video(case: schemathesis.Case, video_id: str, endpoint_id: str) -> schemathesis.Case:
    """The case about the key's finished video (or its webhook endpoint), in the key's default
    channel: the way to the answers that are not errors."""
    if "video_id" in (case.path_parameters or {}):
        case.path_parameters["video_id"] = video_id
    if "webhook_endpoint_id" in (case.path_parameters or {}):
        case.path_parameters["webhook_endpoint_id"] = endpoint_id
    if isinstance(case.body, dict):
        if "video" in case.body:
            case.body["video"] = {"id": video_id}
        case.body.pop("discord_channel_id", None)
    return case


def at_receiver(case: schemathesis.Case, hook_url: str) -> schemathesis.Case:
    """A webhook endpoint's URL is the local receiver's: a drawn host name would be looked up
    in DNS (checked where it leads), and a test event sent there."""
    if isinstance(case.body, dict) and "url" in case.body:
        case.body["url"] = hook_url
    return case


def fuzz(
    doc: dict[str, Any],
    base_url: str,
    secret: str,
    video_id: str,
    *,
    endpoint_id: str,
    hook_url: str,
) -> list[str]:
    """Draw cases for every operation and call the live bot; the failures, described."""
    schema = schemathesis.openapi.from_dict(doc)
    failures: list[str] = []
    answers: dict[str, Counter[int]] = {}
    session = requests.Session()
    headers = {"Authorization": f"Bearer {secret}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    # Deleting the finished video last keeps it for the operations that read it.
    operations.sort(key=lambda op: op.method.upper() == "DELETE")
    for operation in operations:
        strategy = operation.as_strategy()
        strategy = st.one_of(
            strategy, strategy.map(lambda case: on_own_video(case, video_id, endpoint_id))
        ).map(lambda case: at_receiver(case, hook_url))

        @given(case=strategy)
        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            try:
                response = case.call_and_validate(
                    base_url=base_url, session=session, headers=headers, checks=CHECKS, timeout=10
                )
            except (Exception, FailureGroup) as exc:
                curl = case.as_curl_command(base_url=base_url)
                failures.append(f"{case.operation.label}: {exc}\n{curl}")
            else:
                answers.setdefault(case.operation.label, Counter())[response.status_code] += 1

        run()
    session.close()
    # Each operation was reached beyond its errors (a 2xx drawn), so its answers were checked.
    failures.extend(
        f"{label}: never answered 2xx ({dict(statuses)})"
        for label, statuses in answers.items()
        if not any(200 <= status < 300 for status in statuses)
    )
    failures.extend(f"{op.label}: never answered" for op in operations if op.label not in answers)
    return failures


async def test_the_api_answers_as_its_openapi_document_says(
    tmp_path: Path, unused_tcp_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fuzzing outruns a key's rate limit; a 429 is documented but would test nothing else.
    monkeypatch.setattr(team_api, "RATE_BURST", 100_000)
    base = f"http://127.0.0.1:{unused_tcp_port}"
    async with (
        running_harness(
            tmp_path, web_port=unused_tcp_port, max_queued_per_user=1000, webhook_allow_private=True
        ) as h,
        webhook_receiver() as receiver,
    ):
        _, secret = await h.bot.service.keys.create(
            name="fuzz", guild_id=h.guild.id, channels=[h.channel.id]
        )
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/v1/openapi.json") as response:
                assert response.status == 200
                doc = await response.json()
            # A finished video, for the operations on one.
            auth = {"Authorization": f"Bearer {secret}"}
            async with http.post(
                f"{base}/v1/videos", json={"prompt": "a finished one [duration=1]"}, headers=auth
            ) as response:
                assert response.status == 200
                video_id = (await response.json())["id"]
            async with asyncio.timeout(20):
                while True:
                    async with http.get(f"{base}/v1/videos/{video_id}", headers=auth) as response:
                        if (await response.json())["status"] == "completed":
                            break
                    await asyncio.sleep(0.1)
            # A 2 MiB JSON body (a reference as a data URL) is read, and answered in the
            # envelope: this one is not base64.
            big = {"prompt": "x", "input_reference": {"image_url": "data:," + "A" * 2**21}}
            async with http.post(f"{base}/v1/videos", json=big, headers=auth) as response:
                assert response.status == 400
                assert "base64" in (await response.json())["error"]["message"]
            # An Idempotency-Key longer than the store keeps is a 400, not a 500.
            long_key = {**auth, "Idempotency-Key": "k" * 256}
            async with http.post(
                f"{base}/v1/videos", json={"prompt": "x"}, headers=long_key
            ) as response:
                assert response.status == 400
            # A webhook endpoint, for the operations on one.
            hook = {"name": "fuzz", "url": receiver.url, "event_types": ["video.completed"]}
            async with http.post(
                f"{base}/v1/webhook_endpoints", json=hook, headers=auth
            ) as response:
                assert response.status == 200
                endpoint_id = (await response.json())["id"]
        assert doc == build_openapi(h.bot.service.catalogue)
        assert doc["info"]["title"] == "video-bot"
        schemathesis.openapi.from_dict(doc).validate()  # a valid OpenAPI 3.1 document
        failures = await asyncio.to_thread(
            fuzz,
            doc,
            f"{base}/v1",
            secret,
            video_id,
            endpoint_id=endpoint_id,
            hook_url=receiver.url,
        )
        assert not failures, "\n\n".join(failures)
