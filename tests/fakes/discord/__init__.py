"""A strict fake Discord (REST + gateway) on 127.0.0.1 for wire-level tests of the real bot.

The unmodified bot connects to it through two seams, which ``fake.install()`` sets (and
``fake.uninstall()`` / leaving ``async with`` restores)::

    discord.http.Route.BASE = fake.rest_base                      # http://127.0.0.1:PORT/api/v10
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)  # ws://.../gateway

Usage::

    from tests.fakes.discord import FakeDiscord

    async with FakeDiscord() as fake:                 # REST + gateway on 127.0.0.1, port 0
        guild = fake.add_guild(name="Test")           # before the bot connects
        channel = fake.add_channel(guild, name="general")
        member = fake.add_member(guild, name="alice")
        bot = MyBot(...)                              # a commands.Bot, guild_ready_timeout=0.1
        async with fake.running(bot, "fake-token"):   # install + bot.start + wait_ready; closes it
            it = await fake.send_interaction(
                "video", [{"name": "prompt", "type": 3, "value": "a cat"}],
                guild=guild, channel=channel, member=member,
            )
            msg = await it.wait_final(attachments=True)  # or it.wait_for(predicate)
        fake.assert_spec_clean()
        fake.assert_no_unexpected_requests()

Without ``running``: ``fake.install()``, ``task = asyncio.create_task(bot.start(token))``,
``await fake.wait_ready()``, ...; at the end ``await bot.close()`` and ``await task``
(``running`` also lets the bot's command tasks finish first, and re-raises a crash of the
bot's task).

What tests read
    ``fake.requests`` (every REST request: method, route template, path, query, json /
    payload_json, files with bytes, status, response, error_code; ``aborted`` if the client
    hung up mid-body, which is no failure of the fake), ``fake.unexpected_requests``
    (routes the fake does not serve: 404 ``{"message": "404: Not Found", "code": 0}``),
    ``fake.command_syncs``, ``fake.registered``, ``fake.messages(channel)``,
    ``fake.interactions``, ``fake.spec_violations`` / ``fake.assert_spec_clean()``,
    ``fake.response_violations`` (the fake's own answers against the spec),
    ``fake.gateway_frames``, ``fake.identifies``, ``fake.count_50027(token)``.
    Per interaction (``FakeInteraction``): ``callbacks`` (type, data, time, status),
    ``acked_at``, ``response_type``, ``original`` (``FakeMessage``: content, embeds,
    components, attachments with ``data`` bytes, flags, ``edits``), ``edits``,
    ``followups``, ``final_message``, ``ephemeral``, ``count_50027``, and
    ``await it.wait_for(predicate, timeout)`` / ``await it.wait_final(timeout,
    attachments=False)`` (woken on every recorded change, no polling; a predicate over
    state outside the fake is only re-checked when the fake records something).
    ``fake.make_attachment(filename, data)`` makes a user upload for attachment options
    (pass it in ``attachments=``); its URL is served by the fake (``fake.cdn_requests``,
    ``fake.cdn_log``).

Users, modals and message commands
    ``fake.make_attachment(filename, data, content_type=None, *, width=None, height=None,
    description=None) -> FakeAttachment``: a user's upload (content type guessed from the
    name, width/height read from an image). Every attachment URL (uploads and message
    files) is signed as Discord's: ``<cdn>/attachments/<channel id or "ephemeral">/<id>/
    <name>?ex=<hex expiry>&is=<hex issue>&hm=<hmac>&``, valid 24 h on the fake clock. The
    CDN answers 404 "This content is no longer available." to an expired, tampered or
    unsigned URL (``fake.cdn_log``: path, query, status, reason). ``fake.advance(24 *
    3600)`` expires them all; ``fake.expire_attachment(att)`` kills every URL of one
    attachment handed out so far. Payloads rendered later (a GET of the message, a new
    interaction) carry a freshly signed URL, as on Discord (``att.url`` is the current one,
    ``att.url_expires_at`` its end).
    ``fake.post_user_message(channel, member_or_user, *, content="", attachments=[...],
    embeds=[...]) -> FakeMessage``: a user posts (uploads from ``make_attachment`` become
    the message's files); a live session with GUILD_MESSAGES / DIRECT_MESSAGES gets a
    MESSAGE_CREATE, without content / embeds / attachments unless it asked for
    MESSAGE_CONTENT (or it is a DM or mentions the bot); ``GET .../messages/{id}`` hides
    them likewise unless the app has that privileged intent.
    ``await fake.send_message_command(name, target_message, *, guild=None, channel=None,
    member=None, user=None) -> FakeInteraction``: the message command the bot synced
    (ValueError if it did not) used on ``target_message``: ``data = {"id", "name", "type":
    3, "target_id", "resolved": {"messages": {id: <full message payload>}}}`` (content,
    embeds and attachments whatever the intents); ``it.target`` is the message.
    ``await fake.send_autocomplete(name, options, *, guild=None, channel=None, member=None,
    user=None) -> FakeInteraction``: an APPLICATION_COMMAND_AUTOCOMPLETE (4) while the member
    types in the option marked ``"focused": True`` (its ``value`` the text typed, a string
    whatever the option's type; other options as filled in so far, required ones may be
    missing). ValueError unless the bot synced the command with ``autocomplete: true`` on
    that option. The answer must be an AUTOCOMPLETE_RESULT (8) within 3 s with at most 25
    choices of the option's type (400 50035); ``it.autocomplete_choices`` holds them.
    ``await fake.submit_modal(it, {custom_id: "text" | ["option", ...]}, *, member=None,
    at_age=0) -> FakeInteraction``: the user submits the modal ``it``'s MODAL (9) callback
    showed (``it.modal``: its components with the ids Discord gave them). A MODAL_SUBMIT (5)
    with ``data = {"custom_id", "components": [...]}`` mirroring the modal: action rows
    ``{"type": 1, "id", "components": [{"type": 4, "id", "custom_id", "value"}]}``, labels
    ``{"type": 18, "id", "component": {"type": 4, ..., "value"} | {"type": 3, ...,
    "values": [...]}}``, text displays ``{"type": 10, "id"}``; ``message`` when a component
    opened the modal. Its own token and 3 s / 15 min; ``at_age`` makes it arrive that late.
    What no client could submit raises ValueError (required inputs, lengths, options,
    min/max values, another user, a modal closed by an answered submit). ``submit.triggering``
    is ``it``; ``it.modal_submits`` lists the submits.

Channels, threads, spoilers and mentions
    ``fake.add_channel(guild, name, *, nsfw=False)``: ``nsfw`` marks it age-restricted;
    ``fake.set_nsfw(channel, True)`` changes that later (CHANNEL_UPDATE to a live session, as
    ``add_channel`` after the bot connected sends CHANNEL_CREATE). ``fake.add_thread(parent,
    name)``: a public thread (type 11) of ``parent``, with no ``nsfw`` of its own (its
    parent's counts); it is in GUILD_CREATE's ``threads``, or a THREAD_CREATE to a live
    session; interactions and channel routes work in it. An uploaded file named
    ``SPOILER_<name>`` (or sent with ``is_spoiler``) is a spoiler: ``attachment.spoiler``, and
    ``flags`` IS_SPOILER in its payload. A bot message's ``mentions`` / ``mention_roles`` /
    ``mention_everyone`` are the mentions in its content that notify under its
    ``allowed_mentions`` (absent: all of them); ``message.pings`` says whether any did.

User installs (an app added to a user's own account)
    ``fake.add_guild(name, with_bot=False)``: a server that never installed the app (in
    ``fake.external_guilds``; no gateway session hears of it). ``fake.add_private_channel(
    user, *others, name="")``: a DM between members (one other) or a group DM (several, or
    a name), the bot no recipient. Their channel routes, and ``GET /guilds/{id}`` of such a
    server, answer 403 / 50001. There a command runs only through the user's own install:
    ``send_interaction(..., user_install=True)`` (also ``send_autocomplete``; a click or a
    modal submit inherits it from the message's interaction), which needs the synced command
    to declare ``integration_types`` 1 and the context (0 server, 1 the bot's DM, 2 a group
    DM or a DM between members), else ValueError. The payload carries ``context``,
    ``authorizing_integration_owners`` (``{"1": user id}``, plus ``"0": guild id`` in a
    server that has the bot; ``{"0": "0"}`` for a server's install in the bot's DM) and,
    where the app is no member, ``app_permissions`` = ``rules.EXTERNAL_APP_PERMISSIONS``.
    There an interaction takes at most 5 follow-ups (400 / 40094 after;
    ``it.followup_posts``). ``POST /users/@me/channels`` opens the bot's DM with a user
    (400 / 50033 for an unknown one); ``fake.close_dms(user)`` makes messages to it answer
    403 / 50007 "Cannot send messages to this user". Sync payloads' ``integration_types`` /
    ``contexts`` are checked (non-empty, distinct, known values: 50035).

Rules enforced (details in ``rules.py`` / ``interactions.py``)
    3 s to the first callback (404 10062), one callback (400 40060), callback types per
    interaction type (a modal submit may update a message, 6 / 7, only when a component
    opened the modal), modals (1-5 components, unique custom ids, nothing disabled), token
    life 15 min for webhook routes (401 50027, counted), webhook routes before the ack (404
    10015), upload size per file (413 40005: the interaction's ``attachment_size_limit`` on
    interaction routes, the guild's ``upload_limit`` on channel routes), content / embed /
    component limits (400 50035 with Discord's ``errors`` tree), empty messages (400
    50006), ephemeral messages unreachable through channel routes (404 10008), bot
    permissions on channel routes (403 50001 / 50013), bot token on bot routes (401),
    command payload checks on sync (50035: slash names and descriptions, an option with both
    choices and autocomplete; message / user
    commands named 1-32 characters in any case with spaces, without description or
    options; at most 5 of each per scope, 400 30032), privileged intents (close 4014),
    gateway op/ordering rules (4001-4014 close codes), optional rate limits
    (``rate_limit_webhook`` / ``rate_limit_channel``: 429 with ``Via`` + X-RateLimit-*).
    Every request body is validated against the vendored OpenAPI spec subset
    (``tests/contracts/discord``); violations are recorded, not answered. The fake's own
    answers, and the messages, attachments, users and roles its interactions carry, are
    validated too (``fake.response_violations``).

Faults and removals (details in the methods' docstrings)
    ``fake.fail_requests(method, route, status=503, times=1, with_files=False, code=0)``
    answers matching requests with an error without applying them (``times=-1``: until
    ``fake.clear_faults()``; recorded with ``fault=True``; discord.py retries 5xx on
    webhook routes, so use a 4xx there for an immediate failure).
    ``fake.delete_message(msg)``: 404 10008 on every route to it (``it.original`` is an
    interaction's reply). ``fake.delete_channel(ch)``: 404 10003 on its channel routes,
    10008 for webhook edits of its messages. ``fake.remove_bot(guild)``: 403 50001 on its
    channel / guild routes, 404 10015 on its interaction webhooks. They send
    MESSAGE_DELETE / CHANNEL_DELETE / GUILD_DELETE to a live session that asked for them.

Time
    Every rule runs on ``fake.clock`` (real monotonic time + an offset). ``fake.advance(s)``
    moves it on, e.g. ``fake.advance(15 * 60)`` expires every token without waiting.
    Snowflakes (interaction ids) carry the fake clock's wall time. discord.py itself
    decides ``Interaction.is_expired()`` / ``expires_at`` from ``discord.utils.utcnow()``;
    if the bot consults them, wrap the test in ``with fake.patch_utcnow():`` so that
    ``discord.utils.utcnow`` follows the fake clock too (a time seam). Without it, the
    bot believes the token is still valid and meets the fake's 50027 instead, which is
    what happens when a real clock drifts. discord.py's own waits (429 ``retry_after``)
    are real sleeps: keep configured windows short.

Shards
    ``FakeDiscord(shards=2)`` makes ``GET /gateway/bot`` recommend 2 shards (with
    ``session_start_limit``), so an ``AutoShardedBot`` without ``shard_count`` connects 2
    sessions; ``sharding_required=True`` closes an IDENTIFY without ``shard`` or with fewer
    shards with 4011 "Sharding required" (an invalid ``shard`` is 4010). A guild is shard
    ``(guild_id >> 22) % num_shards``'s (``gateway.shard_of``): only that session lists it in
    READY, gets its GUILD_CREATE, events and interactions; DMs go to shard 0; a session that
    sent no ``shard`` is ``[0, 1]`` and hears everything. ``add_guild(on_shard=(1, 2))`` picks
    an id on shard 1 of 2. ``running`` waits for every shard the bot connects;
    ``wait_ready(sessions=n)`` counts sessions (each shard is one).

The gateway needs guilds configured before the bot connects. Members are sent in
GUILD_CREATE only when the bot asked for the GUILD_MEMBERS intent (as Discord does; the
interaction payload always carries the invoking member). Privileged intents must be enabled
with ``FakeDiscord(privileged_intents=...)`` or IDENTIFY is closed with 4014.
"""

from __future__ import annotations

from .cdn import CdnRequest
from .clock import FakeClock
from .records import (
    CallbackRecord,
    CommandSync,
    FakeAttachment,
    FakeChannel,
    FakeGuild,
    FakeInteraction,
    FakeMember,
    FakeMessage,
    FakeRole,
    FakeUser,
    MessageEdit,
    RecordedRequest,
    UploadedFile,
)
from .rules import DEFAULT_UPLOAD_LIMIT, DiscordError
from .server import ROUTES, FakeDiscord, drain_discord_tasks

__all__ = [
    "DEFAULT_UPLOAD_LIMIT",
    "ROUTES",
    "CallbackRecord",
    "CdnRequest",
    "CommandSync",
    "DiscordError",
    "FakeAttachment",
    "FakeChannel",
    "FakeClock",
    "FakeDiscord",
    "FakeGuild",
    "FakeInteraction",
    "FakeMember",
    "FakeMessage",
    "FakeRole",
    "FakeUser",
    "MessageEdit",
    "RecordedRequest",
    "UploadedFile",
    "drain_discord_tasks",
]
