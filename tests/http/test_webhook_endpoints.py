"""Webhook endpoints through the real `openai` SDK's `client.webhooks`, against the real bot
between the fakes: events signed with each endpoint's own secret, checked by the SDK."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from pathlib import Path
from typing import Any

import openai
import pytest

from bot.store import ApiKeyStore, open_database
from tests.discord_adapter.harness import running_harness
from tests.http.conftest import Receiver, Team, webhook_receiver
from tests.store.raw import run_sql

BOTH = ["video.completed", "video.failed"]


async def settled(team: Team) -> None:
    """Every delivery started so far has ended: what was not sent by now never will be."""
    sender = team.h.bot._webhooks
    assert sender is not None
    async with asyncio.timeout(30):
        await sender.idle()


def events(client: openai.AsyncOpenAI, receiver: Receiver, secret: str) -> list[Any]:
    """What the receiver got, each checked with `secret` by the SDK itself."""
    return [
        client.webhooks.unwrap(body, headers, secret=secret) for body, headers in receiver.received
    ]


async def test_an_endpoint_hears_of_the_keys_video_signed_with_its_own_secret(team: Team) -> None:
    client = team.client()
    async with webhook_receiver(fail_first=1) as receiver:  # down once: the event is retried
        made = await client.webhooks.create(name="ci", url=receiver.url, event_types=BOTH)
        assert made.object == "webhook_endpoint"
        assert made.id.startswith("we_")
        assert made.name == "ci"
        assert made.url == receiver.url
        assert made.event_types == BOTH
        assert made.signing_secret.startswith("whsec_")
        assert made.signing_secret_hint == f"whsec_****{made.signing_secret[-4:]}"
        assert made.updated_at == made.created_at

        video = await client.videos.create(prompt="a signed hook [duration=1]")
        await receiver.wait_for(1)
        (event,) = events(client, receiver, made.signing_secret)
        assert event.type == "video.completed"
        assert event.data.id == video.id
        assert event.object == "event"

    # The secret is shown once: never by a read.
    raw = await client.webhooks.with_raw_response.retrieve(made.id)
    shown = json.loads(raw.content)
    assert "signing_secret" not in shown
    assert made.signing_secret not in raw.content.decode()
    assert shown["signing_secret_hint"] == made.signing_secret_hint
    assert (await client.webhooks.event_types.list()).data == BOTH
    await client.close()


async def test_list_retrieve_update_and_delete(team: Team) -> None:
    client = team.client()
    made = [
        await client.webhooks.create(
            name=f"hook {n}", url=f"http://127.0.0.1:9/{n}", event_types=["video.completed"]
        )
        for n in range(3)
    ]
    first = await client.webhooks.list(limit=2)
    assert len(first.data) == 2
    assert first.has_more is True
    everything = [e.id async for e in client.webhooks.list(limit=2)]  # the SDK follows `after`
    assert sorted(everything) == sorted(e.id for e in made)

    target = made[1]
    changed = await client.webhooks.update(
        target.id, name="renamed", event_types=["video.failed", "video.failed"]
    )
    assert changed.name == "renamed"
    assert changed.event_types == ["video.failed"]
    assert changed.url == target.url  # what was not given stays
    moved = await client.webhooks.update(target.id, url="http://127.0.0.1:9/elsewhere")
    assert moved.url == "http://127.0.0.1:9/elsewhere"
    assert moved.name == "renamed"
    assert (await client.webhooks.retrieve(target.id)).model_dump() == moved.model_dump()

    deleted = await client.webhooks.delete(target.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (
        target.id,
        "webhook_endpoint.deleted",
        True,
    )
    for gone in (client.webhooks.retrieve(target.id), client.webhooks.delete(target.id)):
        with pytest.raises(openai.NotFoundError) as missing:
            await gone
        assert missing.value.code == "webhook_endpoint_not_found"
    assert len([e async for e in client.webhooks.list()]) == 2
    await client.close()


async def test_bad_fields_are_refused_in_the_openai_envelope(team: Team) -> None:
    client = team.client()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"name": "x", "url": "ftp://example.org/x", "event_types": BOTH}, "url"),
        ({"name": "x", "url": "http://127.0.0.1:9/", "event_types": []}, "event_types"),
        (
            {"name": "x", "url": "http://127.0.0.1:9/", "event_types": ["batch.completed"]},
            "event_types",
        ),
        ({"name": "  ", "url": "http://127.0.0.1:9/", "event_types": BOTH}, "name"),
    ]
    for fields, param in cases:
        with pytest.raises(openai.BadRequestError) as refused:
            await client.webhooks.create(**fields)
        assert refused.value.param == param, fields
    assert [e async for e in client.webhooks.list()] == []
    await client.close()


async def test_each_endpoint_gets_only_the_events_it_asked_for(team: Team) -> None:
    client = team.client()
    async with (
        webhook_receiver() as done,
        webhook_receiver() as failed,
        webhook_receiver() as every,
    ):
        hooks = {
            "done": await client.webhooks.create(
                name="done", url=done.url, event_types=["video.completed"]
            ),
            "failed": await client.webhooks.create(
                name="failed", url=failed.url, event_types=["video.failed"]
            ),
            "every": await client.webhooks.create(name="every", url=every.url, event_types=BOTH),
        }
        good = await client.videos.create(prompt="it works [duration=1]")
        bad = await client.videos.create(prompt="it breaks [fail] [duration=1]")
        await done.wait_for(1)
        await failed.wait_for(1)
        await every.wait_for(2)
        await settled(team)
        assert [
            (e.type, e.data.id) for e in events(client, done, hooks["done"].signing_secret)
        ] == [("video.completed", good.id)]
        assert [
            (e.type, e.data.id) for e in events(client, failed, hooks["failed"].signing_secret)
        ] == [("video.failed", bad.id)]
        assert sorted(
            (e.type, e.data.id) for e in events(client, every, hooks["every"].signing_secret)
        ) == sorted([("video.completed", good.id), ("video.failed", bad.id)])
    await client.close()


async def test_rotating_the_secret_and_testing_the_endpoint(team: Team) -> None:
    client = team.client()
    async with webhook_receiver(fail_first=1) as receiver:
        made = await client.webhooks.create(name="ci", url=receiver.url, event_types=BOTH)
        # The receiver's answer is reported, whatever it is (here: down once).
        down = await client.webhooks.test(made.id, event_type="video.failed")
        assert (down.object, down.success, down.status_code) == ("webhook_endpoint.test", True, 503)
        assert down.webhook_endpoint_id == made.id
        assert down.event_type == "video.failed"

        rotated = await client.webhooks.rotate_secret(made.id)
        assert rotated.id == made.id
        assert rotated.signing_secret.startswith("whsec_")
        assert rotated.signing_secret != made.signing_secret
        assert rotated.signing_secret_hint == f"whsec_****{rotated.signing_secret[-4:]}"
        up = await client.webhooks.test(made.id, event_type="video.completed")
        assert up.status_code == 204
        (body, headers) = receiver.received[0]
        event = client.webhooks.unwrap(body, headers, secret=rotated.signing_secret)
        assert event.type == "video.completed"
        with pytest.raises(openai.InvalidWebhookSignatureError):
            client.webhooks.verify_signature(body, headers, secret=made.signing_secret)

        # Keeping the old secret for a day: each delivery is signed by both.
        again = await client.webhooks.rotate_secret(
            made.id, keep_old_secret_active_for_24_hours=True
        )
        await client.webhooks.test(made.id, event_type="video.completed")
        (body, headers) = receiver.received[1]
        for secret in (again.signing_secret, rotated.signing_secret):
            client.webhooks.verify_signature(body, headers, secret=secret)
        with pytest.raises(openai.InvalidWebhookSignatureError):
            client.webhooks.verify_signature(body, headers, secret=made.signing_secret)

        # A video's event is signed the same way.
        video = await client.videos.create(prompt="after the rotation [duration=1]")
        await receiver.wait_for(3)
        (body, headers) = receiver.received[2]
        assert (
            client.webhooks.unwrap(body, headers, secret=again.signing_secret).data.id == video.id
        )
        client.webhooks.verify_signature(body, headers, secret=rotated.signing_secret)

    # Nobody answers any more: the test says so, in the envelope.
    with pytest.raises(openai.BadRequestError) as unanswered:
        await client.webhooks.test(made.id, event_type="video.completed")
    assert unanswered.value.code == "webhook_delivery_failed"
    with pytest.raises(openai.BadRequestError) as odd:
        await client.webhooks.test(made.id, event_type="batch.completed")
    assert odd.value.param == "event_type"
    await client.close()


async def test_a_key_sees_and_hears_only_its_own_endpoints(team: Team) -> None:
    mine = team.client()
    _, other_secret = await team.new_key(name="other team")
    theirs = team.client(other_secret)
    async with webhook_receiver() as my_receiver, webhook_receiver() as their_receiver:
        made = await mine.webhooks.create(name="mine", url=my_receiver.url, event_types=BOTH)
        calls = [
            theirs.webhooks.retrieve(made.id),
            theirs.webhooks.update(made.id, name="taken over", url=their_receiver.url),
            theirs.webhooks.delete(made.id),
            theirs.webhooks.rotate_secret(made.id),
            theirs.webhooks.test(made.id, event_type="video.completed"),
        ]
        for call in calls:
            with pytest.raises(openai.NotFoundError) as hidden:
                await call
            assert hidden.value.code == "webhook_endpoint_not_found"
        assert [e async for e in theirs.webhooks.list()] == []
        with pytest.raises(openai.NotFoundError):
            await theirs.webhooks.list(after=made.id)
        still = await mine.webhooks.retrieve(made.id)
        assert (still.name, still.url, still.updated_at) == (
            "mine",
            my_receiver.url,
            made.updated_at,
        )

        # The other key's video is told to its own endpoint only.
        their_hook = await theirs.webhooks.create(
            name="theirs", url=their_receiver.url, event_types=BOTH
        )
        video = await theirs.videos.create(prompt="someone else's [duration=1]")
        await their_receiver.wait_for(1)
        await settled(team)
        (event,) = events(theirs, their_receiver, their_hook.signing_secret)
        assert event.data.id == video.id
        assert my_receiver.received == []
        assert their_receiver.received == [their_receiver.received[0]]
    await mine.close()
    await theirs.close()


async def test_a_private_address_is_refused_at_create_and_update(
    tmp_path: Path, unused_tcp_port: int
) -> None:
    async with running_harness(tmp_path, web_port=unused_tcp_port) as h:  # private refused
        _, secret = await h.bot.service.keys.create(
            name="ci", guild_id=h.guild.id, channels=[h.channel.id]
        )
        client = openai.AsyncOpenAI(
            api_key=secret, base_url=f"http://127.0.0.1:{unused_tcp_port}/v1", max_retries=0
        )
        for url, why in [
            ("http://127.0.0.1:9/hook", "loopback"),
            ("http://localhost:9/hook", "loopback"),  # a name that resolves to one
            ("http://[::1]:9/hook", "loopback"),
            ("http://10.1.2.3/hook", "private"),
            ("http://169.254.169.254/latest/meta-data", "link-local"),
        ]:
            with pytest.raises(openai.BadRequestError) as refused:
                await client.webhooks.create(name="ci", url=url, event_types=BOTH)
            assert refused.value.code == "invalid_url"
            assert refused.value.param == "url"
            assert why in refused.value.message, url
        # A public address passes (nothing is sent to it: no video is made).
        public = await client.webhooks.create(
            name="ci", url="https://93.184.215.14/hook", event_types=BOTH
        )
        with pytest.raises(openai.BadRequestError) as moved:
            await client.webhooks.update(public.id, url="http://192.168.1.10/hook")
        assert "private" in moved.value.message
        assert (await client.webhooks.retrieve(public.id)).url == "https://93.184.215.14/hook"
        assert [e.id async for e in client.webhooks.list()] == [public.id]
        await client.close()


async def test_a_keys_webhook_from_before_is_its_first_endpoint(
    tmp_path: Path, unused_tcp_port: int
) -> None:
    """A key made with `--webhook-url` before version 10 keeps its URL and secret: its
    receiver goes on checking events with the secret it has."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'video-bot.sqlite3'}"
    database = await open_database(url)
    key, plaintext = await ApiKeyStore(database).create(name="legacy", guild_id=1, channels=[1])
    await database.close()
    legacy_secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    async with webhook_receiver() as receiver:
        await run_sql(  # back to version 9: the key's one webhook in its own row
            url,
            "DROP TABLE webhook_endpoints",
            "ALTER TABLE api_keys ADD COLUMN webhook_url TEXT",
            "ALTER TABLE api_keys ADD COLUMN webhook_secret TEXT NOT NULL DEFAULT ''",
            (
                "UPDATE api_keys SET webhook_url = :url, webhook_secret = :secret",
                {"url": receiver.url, "secret": legacy_secret},
            ),
            "UPDATE schema_version SET version = 9",
        )
        async with running_harness(
            tmp_path, web_port=unused_tcp_port, webhook_allow_private=True
        ) as h:
            await run_sql(  # the fake Discord's server and channel, known now
                url,
                (
                    "UPDATE api_keys SET guild_id = :guild, channels = :channels",
                    {"guild": h.guild.id, "channels": json.dumps([h.channel.id])},
                ),
            )
            client = openai.AsyncOpenAI(
                api_key=plaintext, base_url=f"http://127.0.0.1:{unused_tcp_port}/v1", max_retries=0
            )
            (endpoint,) = [e async for e in client.webhooks.list()]
            assert endpoint.url == receiver.url
            assert endpoint.event_types == BOTH
            assert endpoint.created_at == int(key.created_at)
            assert endpoint.signing_secret_hint == f"whsec_****{legacy_secret[-4:]}"
            video = await client.videos.create(prompt="as before [duration=1]")
            await receiver.wait_for(1)
            (body, headers) = receiver.received[0]
            event = client.webhooks.unwrap(body, headers, secret=legacy_secret)
            assert (event.type, event.data.id) == ("video.completed", video.id)
            await client.close()
