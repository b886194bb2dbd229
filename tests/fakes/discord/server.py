"""FakeDiscord: the aiohttp app (REST under /api/v10, gateway at /gateway, a tiny CDN)."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import mimetypes
import re
import traceback
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

from aiohttp import BodyPartReader, web

from . import gateway, interactions, rules, spec
from .cdn import GONE, CdnRequest, UrlSigner, image_size
from .clock import FakeClock, Snowflakes
from .messages import MessageStore
from .ratelimits import RateLimiter
from .records import (
    DM,
    GROUP_DM,
    PUBLIC_THREAD,
    CommandSync,
    FakeAttachment,
    FakeChannel,
    FakeGuild,
    FakeInteraction,
    FakeMember,
    FakeMessage,
    FakeRole,
    FakeUser,
    RecordedRequest,
    UploadedFile,
)

T = TypeVar("T")
API_PREFIX = "/api/v10"


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    handler: str
    auth: bool  # needs "Authorization: Bot <token>"
    ratelimit: tuple[str, str] | None = None  # (kind, path parameter that keys the bucket)
    regex: re.Pattern[str] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        parts = re.split(r"(\{[a-z_]+\})", self.template)
        pattern = "".join(
            f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts
        )
        object.__setattr__(self, "regex", re.compile(f"^{pattern}$"))


_WEBHOOK = ("webhook", "webhook_token")
_CHANNEL = ("channel", "channel_id")
_ORIGINAL = "/webhooks/{webhook_id}/{webhook_token}/messages/@original"
_WEBHOOK_MESSAGE = "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"
_CHANNEL_MESSAGE = "/channels/{channel_id}/messages/{message_id}"

ROUTES: tuple[Route, ...] = (
    Route("GET", "/users/@me", "_users_me", auth=True),
    Route("GET", "/oauth2/applications/@me", "_application_me", auth=True),
    Route("GET", "/gateway", "_gateway", auth=False),
    Route("GET", "/gateway/bot", "_gateway_bot", auth=True),
    Route("GET", "/applications/{application_id}/commands", "_get_commands", auth=True),
    Route("PUT", "/applications/{application_id}/commands", "_put_commands", auth=True),
    Route(
        "GET",
        "/applications/{application_id}/guilds/{guild_id}/commands",
        "_get_commands",
        auth=True,
    ),
    Route(
        "PUT",
        "/applications/{application_id}/guilds/{guild_id}/commands",
        "_put_commands",
        auth=True,
    ),
    Route(
        "POST",
        "/interactions/{interaction_id}/{interaction_token}/callback",
        "_callback",
        auth=False,
    ),
    Route("POST", "/webhooks/{webhook_id}/{webhook_token}", "_followup", False, _WEBHOOK),
    Route("GET", _ORIGINAL, "_webhook_get", False, _WEBHOOK),
    Route("PATCH", _ORIGINAL, "_webhook_patch", False, _WEBHOOK),
    Route("DELETE", _ORIGINAL, "_webhook_delete", False, _WEBHOOK),
    Route("GET", _WEBHOOK_MESSAGE, "_webhook_get", False, _WEBHOOK),
    Route("PATCH", _WEBHOOK_MESSAGE, "_webhook_patch", False, _WEBHOOK),
    Route("DELETE", _WEBHOOK_MESSAGE, "_webhook_delete", False, _WEBHOOK),
    Route("GET", "/channels/{channel_id}", "_get_channel", auth=True),
    Route("POST", "/channels/{channel_id}/messages", "_post_message", True, _CHANNEL),
    Route("GET", _CHANNEL_MESSAGE, "_get_message", True, _CHANNEL),
    Route("PATCH", _CHANNEL_MESSAGE, "_patch_message", True, _CHANNEL),
    Route("DELETE", _CHANNEL_MESSAGE, "_delete_message", True, _CHANNEL),
    Route("GET", "/guilds/{guild_id}", "_get_guild", auth=True),
    Route("POST", "/users/@me/channels", "_create_dm", auth=True),
)


@dataclass
class Context:
    request: web.Request
    record: RecordedRequest
    route: Route
    params: dict[str, str]
    query: dict[str, list[str]]
    body: Any
    files: list[UploadedFile]


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class _BodyError(Exception):
    pass


def uploads_video(files: Sequence[UploadedFile]) -> bool:
    """Whether a request uploads a video (not only a thumbnail or an image)."""
    return any(
        (f.content_type or "").startswith("video/")
        or f.filename.lower().endswith((".mp4", ".webm"))
        for f in files
    )


@dataclass
class _Fault:
    """One ``fail_requests`` rule; ``remaining`` -1 means until ``clear_faults()``."""

    method: str
    route: str
    status: int
    code: int
    with_files: bool
    remaining: int
    files_over: int = 0

    def matches(self, record: RecordedRequest) -> bool:
        uploaded = sum(len(f.data) for f in record.files)
        return (
            record.method == self.method
            and record.route == self.route
            and (bool(record.files) or not self.with_files)
            and uploaded >= self.files_over
        )


class FakeDiscord:
    """A strict fake of Discord's REST API and gateway on 127.0.0.1 (see the package docstring).

    ``app_id`` / ``bot_user_id``: snowflakes (default: fresh; the bot user id defaults to the
    application id, as for current apps). ``token``: the bot token the fake accepts on bot
    routes and IDENTIFY (default: any non-empty token). ``privileged_intents``: the intent
    bits enabled for the app (GUILD_MEMBERS 1<<1, GUILD_PRESENCES 1<<8, MESSAGE_CONTENT
    1<<15); asking for others closes the gateway with 4014. ``heartbeat_interval_ms``: sent
    in HELLO (Discord's 41250 by default: discord.py beats once on HELLO, then rarely).
    ``shards``: the shard count ``GET /gateway/bot`` recommends (what an ``AutoShardedBot``
    without a count connects); with ``sharding_required`` an IDENTIFY without ``shard``, or
    with fewer shards than that, is closed with 4011 "Sharding required" (on Discord: the
    session would hold too many guilds). Each guild, its events and its interactions belong
    to one shard's session (see ``gateway``); ``add_guild(on_shard=...)`` places a guild.
    """

    def __init__(
        self,
        app_id: int | None = None,
        bot_user_id: int | None = None,
        *,
        bot_name: str = "FakeBot",
        token: str | None = None,
        privileged_intents: int = 0,
        heartbeat_interval_ms: int = 41_250,
        host: str = "127.0.0.1",
        shards: int = 1,
        sharding_required: bool = False,
    ) -> None:
        if shards < 1:
            raise ValueError("shards: 1 or more")
        self.clock = FakeClock()
        self.snowflakes = Snowflakes(self.clock)
        self.app_id: int = app_id or self.snowflakes.next()
        self.bot_user = FakeUser(bot_user_id or self.app_id, bot_name, bot=True)
        self.owner = FakeUser(self.snowflakes.next(), "owner")
        self.token = token
        self.privileged_intents = privileged_intents
        self.application_flags = gateway.application_flags(privileged_intents)
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.host = host
        self.shards = shards
        self.sharding_required = sharding_required
        self.port: int | None = None

        self.users: dict[int, FakeUser] = {
            self.bot_user.id: self.bot_user,
            self.owner.id: self.owner,
        }
        self.guilds: dict[int, FakeGuild] = {}
        self.removed_guilds: dict[int, FakeGuild] = {}  # remove_bot: guilds the bot left
        # add_guild(with_bot=False): servers that never installed the app
        self.external_guilds: dict[int, FakeGuild] = {}
        self.channels: dict[int, FakeChannel] = {}
        self.cdn: dict[int, FakeAttachment] = {}
        self.cdn_signer = UrlSigner(self.clock)
        self.store = MessageStore(self)
        self.ratelimits = RateLimiter(self.clock)

        self.interactions: list[FakeInteraction] = []
        self.interactions_by_id: dict[int, FakeInteraction] = {}
        self.interactions_by_token: dict[str, FakeInteraction] = {}
        self.registered: dict[int | None, list[dict[str, Any]]] = {}
        self.command_syncs: list[CommandSync] = []

        self.requests: list[RecordedRequest] = []
        self.cdn_requests: list[str] = []  # paths asked of the CDN (cdn_log: with answers)
        self.cdn_log: list[CdnRequest] = []
        self.spec_violations: list[str] = []
        self.response_violations: list[str] = []
        self.internal_errors: list[str] = []
        # (method, route, seconds, which uploads: False any request, True with files, "video").
        self._holds: list[tuple[str, str, float, bool | str]] = []
        # Set by release_holds/stop: answers held back go out at once (see hold_responses).
        self._holds_released = asyncio.Event()
        self._faults: list[_Fault] = []
        # dispatches sent for the synchronous world changes (delete_channel, remove_bot...)
        self._dispatch_tasks: set[asyncio.Task[None]] = set()
        self._token_failures: Counter[str] = Counter()

        self.gateway_frames: list[gateway.GatewayFrame] = []
        self.gateway_closes: list[tuple[int, str]] = []
        self.gateway_sessions: list[gateway.GatewaySession] = []
        self.identifies: list[dict[str, Any]] = []
        self.ready_count = 0
        self._connections: list[gateway.GatewayConnection] = []

        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._saved: tuple[str, Any] | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.uninstall()
        await self.stop()
        if exc_type is None and self.internal_errors:
            raise AssertionError(
                "the fake Discord failed internally:\n" + "\n".join(self.internal_errors)
            )

    async def start(self) -> None:
        app = web.Application(client_max_size=1 << 30)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        # A held answer whose client is gone (a killed bot) would keep aiohttp's cleanup
        # waiting for its handler, up to its 60 s shutdown timeout: let it go now.
        self.release_holds()
        await self._flush_dispatches()
        for connection in list(self._connections):
            if not connection.ws.closed:
                await connection.ws.close(code=1001, message=b"fake Discord stopping")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("start the fake first (async with FakeDiscord() as fake)")
        return f"http://{self.host}:{self.port}"

    @property
    def rest_base(self) -> str:
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        return f"ws://{self.host}:{self.port}/gateway"

    @property
    def cdn_base(self) -> str:
        return self.base_url + "/attachments"

    def install(self) -> None:
        """Point discord.py at the fake: ``Route.BASE`` and ``DiscordWebSocket.DEFAULT_GATEWAY``."""
        import discord.gateway
        import discord.http
        import yarl

        if self._saved is None:
            self._saved = (
                discord.http.Route.BASE,
                discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY,
            )
        discord.http.Route.BASE = self.rest_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)

    def uninstall(self) -> None:
        if self._saved is None:
            return
        import discord.gateway
        import discord.http

        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = self._saved
        self._saved = None

    @contextlib.contextmanager
    def installed(self) -> Iterator[FakeDiscord]:
        self.install()
        try:
            yield self
        finally:
            self.uninstall()

    @contextlib.asynccontextmanager
    async def running(
        self,
        bot: Any,
        token: str = "fake-token",  # noqa: S107 - a fake's token
        *,
        ready_timeout: float = 10.0,
        drain_timeout: float = 5.0,
    ) -> AsyncIterator[asyncio.Task[None]]:
        """Install, ``bot.start(token)``, wait for READY (of every shard it connects); on exit
        finish its work and close it.

        On exit, command and event tasks the bot is still running get ``drain_timeout``
        seconds to finish (then they are cancelled), the bot is closed and its task awaited,
        so no task or session leaks out of the test. If the bot's task died with an error,
        leaving the block raises it.
        """
        self.install()
        first = len(self.gateway_sessions)
        task: asyncio.Task[None] = asyncio.create_task(bot.start(token), name="fake-discord-bot")
        try:
            ready = asyncio.create_task(self._wait_shards(bot, first, ready_timeout))
            await asyncio.wait({ready, task}, return_when=asyncio.FIRST_COMPLETED)
            if not ready.done():
                ready.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ready
                task.result()  # raises the bot's error
                raise RuntimeError("the bot stopped before it was ready")
            ready.result()
            yield task
        finally:
            await drain_discord_tasks(drain_timeout)
            await bot.close()
            if not task.done():
                try:
                    await asyncio.wait_for(asyncio.shield(task), timeout=10)
                except TimeoutError:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                except Exception:  # noqa: S110 - raised below via task.exception()
                    pass
            self.uninstall()
        if not task.cancelled() and task.exception() is not None:
            raise RuntimeError("the bot's task failed") from task.exception()

    async def _wait_shards(self, bot: Any, first: int, timeout: float) -> None:  # noqa: ASYNC109
        """Until every shard ``bot`` connects has a ready session (one without sharding).

        The shards it connects: discord.py's ``shard_ids`` if it was given some, else all
        ``num_shards`` of its first IDENTIFY.
        """

        def ready() -> bool:
            new = [s for s in self.gateway_sessions[first:] if s.ready]
            if not new:
                return False
            if new[0].shard is None:
                return True
            wanted = set(getattr(bot, "shard_ids", None) or range(new[0].shard[1]))
            return wanted <= {s.shard[0] for s in new if s.shard is not None}

        await self.wait_for(ready, timeout=timeout)

    # -- world building -------------------------------------------------------------------------

    def add_user(
        self, name: str = "user", user_id: int | None = None, *, bot: bool = False
    ) -> FakeUser:
        user = FakeUser(user_id or self.snowflakes.next(), name, bot=bot)
        self.users[user.id] = user
        return user

    def add_guild(
        self,
        guild_id: int | None = None,
        name: str = "Test",
        upload_limit: int = rules.DEFAULT_UPLOAD_LIMIT,
        *,
        locale: str = "en-US",
        everyone_permissions: int = rules.DEFAULT_PERMISSIONS,
        on_shard: tuple[int, int] | None = None,
        with_bot: bool = True,
    ) -> FakeGuild:
        """A guild the bot is in (configure guilds before the bot connects).

        ``on_shard=(shard_id, num_shards)``: a fresh id that lands on that shard when the bot
        connects ``num_shards`` shards (``gateway.shard_of`` tells where an id lands).

        ``with_bot=False``: a server that never installed the app (``guild.bot_member`` is
        False, it is in ``fake.external_guilds``): no gateway session hears of it, its channel
        and guild routes answer 403 / 50001, and its members use the app there only through
        their own install (``send_interaction(..., user_install=True)``).
        """
        if on_shard is not None and guild_id is None:
            guild_id = self.snowflakes.on_shard(*on_shard)
        guild_id = guild_id or self.snowflakes.next()
        guild = FakeGuild(
            id=guild_id,
            name=name,
            upload_limit=upload_limit,
            owner_id=self.owner.id,
            locale=locale,
            bot_member=with_bot,
        )
        guild.roles.append(
            FakeRole(id=guild_id, name="@everyone", permissions=everyone_permissions)
        )
        if not with_bot:
            self.external_guilds[guild_id] = guild
            return guild
        self.guilds[guild_id] = guild
        guild.members.append(
            FakeMember(
                user=self.bot_user,
                guild=guild,
                roles=[],
                permissions=everyone_permissions,
                joined_at=self.clock.iso(),
            )
        )
        return guild

    def add_role(self, guild: FakeGuild, name: str, permissions: int = 0) -> FakeRole:
        role = FakeRole(
            id=self.snowflakes.next(), name=name, permissions=permissions, position=len(guild.roles)
        )
        guild.roles.append(role)
        # Discord tells bots with the GUILDS intent of every new role (discord.py caches it).
        self._dispatch_soon(
            "GUILD_ROLE_CREATE",
            {"guild_id": str(guild.id), "role": role.to_payload()},
            gateway.INTENT_GUILDS,
            guild,
        )
        return role

    def add_channel(
        self,
        guild: FakeGuild,
        name: str = "general",
        *,
        channel_id: int | None = None,
        bot_permissions: int = rules.DEFAULT_PERMISSIONS,
        nsfw: bool = False,
    ) -> FakeChannel:
        """A text channel; ``nsfw``: age-restricted (``set_nsfw`` changes it later). A live
        session with GUILDS gets a CHANNEL_CREATE, as from Discord."""
        channel = FakeChannel(
            id=channel_id or self.snowflakes.next(),
            name=name,
            guild=guild,
            position=len(guild.channels),
            bot_permissions=bot_permissions,
            nsfw=nsfw,
        )
        guild.channels.append(channel)
        self.channels[channel.id] = channel
        self._dispatch_soon("CHANNEL_CREATE", channel.to_payload(), gateway.INTENT_GUILDS, guild)
        return channel

    def add_thread(self, parent: FakeChannel, name: str = "thread") -> FakeChannel:
        """A public thread of ``parent`` (its messages, permissions and age restriction follow
        the parent's). Active threads are in GUILD_CREATE's ``threads``; a live session with
        GUILDS gets a THREAD_CREATE."""
        guild = parent.guild
        if guild is None or parent.is_thread:
            raise ValueError("a thread needs a guild channel that is not a thread")
        thread = FakeChannel(
            id=self.snowflakes.next(),
            name=name,
            guild=guild,
            type=PUBLIC_THREAD,
            bot_permissions=parent.bot_permissions,
            parent=parent,
            created_iso=self.clock.iso(),
        )
        guild.threads.append(thread)
        self.channels[thread.id] = thread
        self._dispatch_soon(
            "THREAD_CREATE",
            {**thread.to_payload(), "newly_created": True},
            gateway.INTENT_GUILDS,
            guild,
        )
        return thread

    def set_nsfw(self, channel: FakeChannel, nsfw: bool = True) -> None:
        """Mark a channel age-restricted or not, as an admin does in its settings; a live
        session with GUILDS gets a CHANNEL_UPDATE (discord.py updates its cache)."""
        if channel.is_thread or channel.guild is None:
            raise ValueError("only a guild channel is age-restricted (a thread follows its parent)")
        channel.nsfw = nsfw
        self._dispatch_soon(
            "CHANNEL_UPDATE", channel.to_payload(), gateway.INTENT_GUILDS, channel.guild
        )

    def add_member(
        self,
        guild: FakeGuild,
        user_id: int | None = None,
        name: str = "alice",
        roles: Sequence[int | FakeRole] = (),
        permissions: int | str | None = None,
    ) -> FakeMember:
        """A member; ``permissions`` is what interactions report (default: @everyone's)."""
        user = self.users.get(user_id) if user_id is not None else None
        if user is None:
            user = self.add_user(name, user_id)
        role_ids = [r.id if isinstance(r, FakeRole) else int(r) for r in roles]
        if permissions is None:
            perms = guild.everyone_role.permissions
            for role in guild.roles:
                if role.id in role_ids:
                    perms |= role.permissions
        else:
            perms = int(permissions)
        member = FakeMember(
            user=user, guild=guild, roles=role_ids, permissions=perms, joined_at=self.clock.iso()
        )
        guild.members.append(member)
        return member

    def dm_channel(self, user: FakeUser) -> FakeChannel:
        """The bot's DM channel with ``user`` (created on first use)."""
        for channel in self.channels.values():
            if channel.type == DM and channel.recipient is user:
                return channel
        channel = FakeChannel(
            id=self.snowflakes.next(), name=None, guild=None, type=DM, recipient=user
        )
        self.channels[channel.id] = channel
        return channel

    def add_private_channel(self, user: FakeUser, *others: FakeUser, name: str = "") -> FakeChannel:
        """A DM between ``user`` and one other user (type 1), or a group DM (type 3) with
        several: the bot is no recipient, so its channel routes answer 403 / 50001 and the
        app is used there only through a user's own install (context 2)."""
        if not others:
            raise ValueError("a private channel needs another user besides user")
        channel = FakeChannel(
            id=self.snowflakes.next(),
            name=name or None,
            guild=None,
            type=GROUP_DM if len(others) > 1 or name else DM,
            private_recipients=[user, *others],
        )
        self.channels[channel.id] = channel
        return channel

    def close_dms(self, user: FakeUser, closed: bool = True) -> None:
        """The user closes their DMs to the bot: a message to their DM channel answers 403 /
        50007 "Cannot send messages to this user" (opening the channel still works)."""
        user.dms_closed = closed

    def make_attachment(
        self,
        filename: str,
        data: bytes,
        content_type: str | None = None,
        *,
        width: int | None = None,
        height: int | None = None,
        description: str | None = None,
    ) -> FakeAttachment:
        """A user's upload: for an attachment option (``send_interaction(attachments=)``) or
        a user's message (``post_user_message``).

        Its ``url`` is served by the fake's CDN, signed and expiring 24 h later on the fake
        clock (see ``FakeAttachment``). ``content_type`` defaults to the one the filename
        suggests; ``width`` / ``height`` default to the image's own (for image types).
        """
        if content_type is None:
            content_type = mimetypes.guess_type(filename)[0]
        return self.new_cdn_attachment(
            filename=filename,
            data=data,
            content_type=content_type,
            folder="ephemeral",
            description=description,
            ephemeral=True,
            width=width,
            height=height,
        )

    def new_cdn_attachment(
        self,
        *,
        filename: str,
        data: bytes,
        content_type: str | None,
        folder: str,
        description: str | None = None,
        ephemeral: bool = False,
        width: int | None = None,
        height: int | None = None,
    ) -> FakeAttachment:
        """A file on the CDN at ``/attachments/<folder>/<id>/<filename>`` (folder: a channel
        id, or "ephemeral" for uploads not yet in a message)."""
        attachment_id = self.snowflakes.next()
        if width is None or height is None:
            width, height = image_size(data, content_type)
        attachment = FakeAttachment(
            id=attachment_id,
            filename=filename,
            data=data,
            content_type=content_type,
            base_url=f"{self.cdn_base}/{folder}/{attachment_id}/{quote(filename)}",
            description=description,
            ephemeral=ephemeral,
            width=width,
            height=height,
            signer=self.cdn_signer,
        )
        self.cdn[attachment_id] = attachment
        return attachment

    def expire_attachment(self, attachment: FakeAttachment) -> None:
        """Every URL of ``attachment`` handed out so far dies: the CDN answers 404.

        As if its signatures had expired (Discord's last 24 h; ``advance(24 * 3600)`` gets
        there too). Payloads rendered afterwards (a GET of its message, a new interaction's
        resolved data, ``attachment.url``) carry a freshly signed URL that works, as on
        Discord, so a bot that fetches the message again recovers.
        """
        attachment.generation += 1
        self.notify()

    def post_user_message(
        self,
        channel: FakeChannel,
        author: FakeMember | FakeUser,
        *,
        content: str = "",
        attachments: Sequence[FakeAttachment] = (),
        embeds: Sequence[Mapping[str, Any]] = (),
    ) -> FakeMessage:
        """``author`` (a member of the channel's guild, or the user of a DM channel) posts a
        message, e.g. for a message command to be used on.

        ``attachments`` are uploads made by ``make_attachment`` and not yet in a message:
        they become the message's files (same objects and ids; their URL moves to
        ``/attachments/<channel id>/...`` and they are no longer ephemeral). What a real
        client could not send raises ValueError (an empty message, over 2000 characters,
        embeds over Discord's limits, over 10 files). ``<@id>`` in ``content`` mentions that
        user.

        A live session that asked for GUILD_MESSAGES (guild) / DIRECT_MESSAGES (DM) gets a
        MESSAGE_CREATE, sent from a task like ``delete_message``'s dispatch; without the
        MESSAGE_CONTENT intent its content, embeds, attachments and components are empty
        (unless it is a DM or mentions the bot), and so they are through
        ``GET /channels/{id}/messages/{id}`` for an app without that privileged intent. A
        message command's resolved message always carries them.
        """
        user = author.user if isinstance(author, FakeMember) else author
        if channel.deleted:
            raise ValueError(f"channel {channel.name!r} was deleted")
        if channel.guild is not None:
            if channel.guild.bot_removed:
                raise ValueError(f"the bot was removed from guild {channel.guild.name!r}")
            if channel.guild.member(user.id) is None:
                raise ValueError(f"{user.name!r} is not a member of {channel.guild.name!r}")
        elif channel.recipient is not user:
            raise ValueError(f"{user.name!r} is not the user of that DM channel")
        if not (content or attachments or embeds):
            raise ValueError("a client cannot send an empty message")
        errors = rules.FormErrors()
        rules.check_message_body({"content": content, "embeds": list(embeds)}, errors)
        if errors or len(attachments) > rules.MAX_FILES:
            raise ValueError(f"a client could not send that message: {errors.tree or 'files'}")
        for attachment in attachments:
            if self.cdn.get(attachment.id) is not attachment or not attachment.ephemeral:
                raise ValueError(
                    f"{attachment.filename!r} is not an upload of make_attachment (or it is"
                    " already in a message)"
                )
        for attachment in attachments:
            attachment.base_url = (
                f"{self.cdn_base}/{channel.id}/{attachment.id}/{quote(attachment.filename)}"
            )
            attachment.ephemeral = False
        mentioned = {int(m) for m in re.findall(r"<@!?(\d+)>", content)}
        message = FakeMessage(
            id=self.snowflakes.next(),
            channel=channel,
            author=user,
            content=content,
            embeds=[{"type": "rich", **copy.deepcopy(dict(e))} for e in embeds],
            components=[],
            attachments=list(attachments),
            flags=0,
            timestamp=self.clock.iso(),
            created_at=self.clock.now(),
            mentions=[self.users[i] for i in sorted(mentioned) if i in self.users],
        )
        channel.messages.append(message)
        self.notify()

        def create_event(session: gateway.GatewaySession) -> dict[str, Any]:
            requested = bool(session.intents & gateway.INTENT_MESSAGE_CONTENT)
            visible = self.content_visible(message, intent=requested)
            data = message.to_payload(content_visible=visible)
            if channel.guild is not None:
                member = channel.guild.member(user.id)
                assert member is not None
                data["guild_id"] = str(channel.guild.id)
                data["member"] = {k: v for k, v in member.to_payload().items() if k != "user"}
            return data

        intent = gateway.INTENT_GUILD_MESSAGES if channel.guild else gateway.INTENT_DIRECT_MESSAGES
        self._dispatch_soon("MESSAGE_CREATE", create_event, intent, channel.guild)
        return message

    def content_visible(self, message: FakeMessage, *, intent: bool | None = None) -> bool:
        """Whether the app sees ``message``'s content (Discord's MESSAGE_CONTENT rules):
        its own messages, DMs, messages that mention it, or with the privileged intent
        (``intent``; default: enabled for the app, ``privileged_intents``)."""
        if intent is None:
            intent = bool(self.privileged_intents & gateway.INTENT_MESSAGE_CONTENT)
        return (
            intent
            or message.author.id == self.bot_user.id
            or message.channel.guild is None
            or any(user.id == self.bot_user.id for user in message.mentions)
        )

    # -- interactions ---------------------------------------------------------------------------

    async def send_interaction(
        self,
        name: str,
        options: Sequence[Mapping[str, Any]] | None = None,
        *,
        guild: FakeGuild | None = None,
        channel: FakeChannel | None = None,
        member: FakeMember | None = None,
        user: FakeUser | None = None,
        attachments: Any = None,
        attachment_size_limit: int | None = None,
        locale: str = "en-US",
        command_type: int = 1,
        target_id: int | None = None,
        resolved: Mapping[str, Any] | None = None,
        user_install: bool = False,
    ) -> FakeInteraction:
        """Dispatch an APPLICATION_COMMAND ``INTERACTION_CREATE`` to the connected bot (the
        session of the guild's shard; shard 0's for a DM).

        ``user_install``: the user runs the command through their own install of the app
        (``authorizing_integration_owners`` ``{"1": user id}``, plus ``"0"`` in a server that
        has the bot): the only way in a server that never installed it (``add_guild(
        with_bot=False)``), a group DM or a DM between members (``add_private_channel``),
        where ``context`` is 2 and ``app_permissions`` an external app's. The command must
        declare that installation type and context (``integration_types`` / ``contexts``).
        """
        self._live_session()
        interaction = interactions.build_command_interaction(
            self,
            name=name,
            options=options,
            guild=guild,
            channel=channel,
            member=member,
            user=user,
            attachments=attachments,
            attachment_size_limit=attachment_size_limit,
            locale=locale,
            command_type=command_type,
            target_id=target_id,
            resolved=resolved,
            user_install=user_install,
        )
        await self._dispatch_interaction(interaction)
        return interaction

    async def send_autocomplete(
        self,
        name: str,
        options: Sequence[Mapping[str, Any]],
        *,
        guild: FakeGuild | None = None,
        channel: FakeChannel | None = None,
        member: FakeMember | None = None,
        user: FakeUser | None = None,
        locale: str = "en-US",
        user_install: bool = False,
    ) -> FakeInteraction:
        """Dispatch an APPLICATION_COMMAND_AUTOCOMPLETE (4) interaction: the member is typing
        in the option marked ``"focused": True`` of the synced command ``name`` (through
        their own install with ``user_install``, as for ``send_interaction``).

        ``options`` are those filled in so far (required ones may be missing), the focused
        one's ``value`` the text typed (a string, whatever the option's type: else
        TypeError). Raises ValueError when the bot synced no such command, or the focused
        option was not registered with ``autocomplete: true`` (a client never asks then).
        The bot answers
        with an AUTOCOMPLETE_RESULT (8) within 3 s; ``it.autocomplete_choices`` holds its
        choices once accepted (at most 25, values of the option's type).
        """
        self._live_session()
        interaction = interactions.build_command_interaction(
            self,
            name=name,
            options=options,
            guild=guild,
            channel=channel,
            member=member,
            user=user,
            attachments=None,
            attachment_size_limit=None,
            locale=locale,
            command_type=interactions.COMMAND_CHAT_INPUT,
            target_id=None,
            resolved=None,
            require_registered=True,
            itype=interactions.AUTOCOMPLETE,
            user_install=user_install,
        )
        await self._dispatch_interaction(interaction)
        return interaction

    async def send_component_interaction(
        self,
        message: FakeMessage,
        custom_id: str,
        member: FakeMember | None = None,
        *,
        user: FakeUser | None = None,
        values: Sequence[str] | None = None,
        attachment_size_limit: int | None = None,
        locale: str = "en-US",
        user_install: bool | None = None,
    ) -> FakeInteraction:
        """Dispatch a MESSAGE_COMPONENT interaction: ``member`` (or ``user`` outside a
        server) clicked ``custom_id``; ``user_install`` None: authorized as the interaction
        that made the message was (a message the bot posted: by the user's own install
        where the app is no member)."""
        self._live_session()
        interaction = interactions.build_component_interaction(
            self,
            message=message,
            custom_id=custom_id,
            member=member,
            user=user,
            values=values,
            attachment_size_limit=attachment_size_limit,
            locale=locale,
            user_install=user_install,
        )
        await self._dispatch_interaction(interaction)
        return interaction

    async def send_message_command(
        self,
        name: str,
        target: FakeMessage,
        *,
        guild: FakeGuild | None = None,
        channel: FakeChannel | None = None,
        member: FakeMember | None = None,
        user: FakeUser | None = None,
        attachment_size_limit: int | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """``member`` uses the message command ``name`` (Apps > name) on ``target``.

        An APPLICATION_COMMAND interaction with ``data = {"id": <the synced command's id>,
        "name", "type": 3, "target_id": <message id>, "resolved": {"messages": {<id>:
        <the message's full payload>}}}`` (plus ``guild_id`` for a guild command), from the
        message's channel. The resolved message always carries its content, embeds and
        attachments (freshly signed URLs, size, content_type, width/height of images):
        Discord sends them to message commands whatever the app's intents. Raises
        ValueError if the bot did not sync a message command of that name (for this guild
        or globally), if ``channel`` is not the message's, or if the message was deleted or
        is ephemeral (a client offers no apps on those).
        """
        self._live_session()
        if target.deleted or target.channel.deleted:
            raise ValueError("that message was deleted")
        if target.ephemeral:
            raise ValueError("a client offers no message commands on an ephemeral message")
        if channel is not None and channel is not target.channel:
            raise ValueError("a message command is used in the channel of its message")
        interaction = interactions.build_command_interaction(
            self,
            name=name,
            options=None,
            guild=guild,
            channel=target.channel,
            member=member,
            user=user,
            attachments=None,
            attachment_size_limit=attachment_size_limit,
            locale=locale,
            command_type=interactions.COMMAND_MESSAGE,
            target_id=target.id,
            resolved={"messages": {str(target.id): target.to_payload()}},
            require_registered=True,
        )
        interaction.target = target
        await self._dispatch_interaction(interaction)
        return interaction

    async def submit_modal(
        self,
        it: FakeInteraction,
        values: Mapping[str, str | Sequence[str]],
        *,
        member: FakeMember | None = None,
        user: FakeUser | None = None,
        at_age: float = 0.0,
    ) -> FakeInteraction:
        """The user submits the modal that ``it``'s MODAL (9) callback showed.

        ``values`` by custom_id: a ``str`` for a text input (4), a list of option values for
        a string select (3); an input left out keeps its pre-filled ``value`` (a select:
        its ``default`` options). Dispatches the MODAL_SUBMIT (5) interaction Discord sends:
        ``data = {"custom_id": <the modal's>, "components": [...]}`` mirroring the modal's
        top-level layout with the ids Discord gave its components (see ``it.modal``):
        ``{"type": 1, "id", "components": [{"type": 4, "id", "custom_id", "value"}]}`` for
        an action row, ``{"type": 18, "id", "component": {"type": 4, "id", "custom_id",
        "value"}}`` or ``{"type": 18, "id", "component": {"type": 3, "id", "custom_id",
        "values": [...]}}`` for a label, ``{"type": 10, "id"}`` for a text display. A modal
        opened from a component carries ``message`` (and may be answered with 6 / 7).

        What a real client could not submit raises ValueError: ``it`` did not show a modal,
        a custom_id the modal lacks, a required input left empty, a text outside
        ``min_length`` / ``max_length`` (or a newline in a short one), select values that
        are not options, repeated, or outside ``min_values`` / ``max_values``, someone else
        than the user who was shown it, or a modal already closed by an answered submit (an
        unanswered submit leaves it open, so it can be submitted again). Other modal
        components (user / role / channel selects, file uploads...) are not supported yet.

        The new interaction has its own id and token and the usual 3 s / 15 min rules;
        ``at_age`` (seconds) makes it reach the bot that long after Discord created it
        (its id's timestamp and ``created_at`` are that far in the past, as with a slow
        gateway). The modal itself never expires.
        """
        self._live_session()
        interaction = interactions.build_modal_submit(
            self, it, values, member=member, user=user, at_age=at_age
        )
        await self._dispatch_interaction(interaction)
        return interaction

    async def _dispatch_interaction(self, interaction: FakeInteraction) -> None:
        guild_id = interaction.payload.get("guild_id")
        session = self._shard_session(None if guild_id is None else int(guild_id))
        # the parts of the payload the spec describes (messages, attachments, users)
        self.response_violations.extend(spec.validate_interaction(interaction.payload))
        self.interactions.append(interaction)
        self.interactions_by_id[interaction.id] = interaction
        self.interactions_by_token[interaction.token] = interaction
        await self._flush_dispatches()  # what happened before this interaction arrives first
        await gateway.dispatch(session, "INTERACTION_CREATE", interaction.payload)
        self.notify()

    def _live_session(self) -> gateway.GatewaySession:
        for session in reversed(self.gateway_sessions):
            if session.ready:
                return session
        raise RuntimeError("no bot has identified on the fake gateway (await fake.wait_ready())")

    def _shard_session(self, guild_id: int | None) -> gateway.GatewaySession:
        """The newest ready session of the shard of ``guild_id`` (None: a DM, shard 0)."""
        for session in reversed(self.gateway_sessions):
            if session.ready and session.covers(guild_id):
                return session
        self._live_session()  # none at all: say so
        where = "DMs" if guild_id is None else f"guild {guild_id}"
        raise RuntimeError(f"no session on the fake gateway is the shard of {where}")

    def registered_command(
        self,
        name: str,
        *,
        command_type: int = 1,
        guild: FakeGuild | None = None,
        context: int | None = None,
        user_install: bool = False,
    ) -> dict[str, Any] | None:
        """The synced command a client offers here, or None; ValueError where a client would
        not offer it: a context (0 server, 1 the bot's DM, 2 a group DM or a DM between
        members) it does not list, or an installation type (0 a server's, 1 the user's own)
        not among its ``integration_types``."""
        scopes: list[int | None] = [guild.id] if guild is not None and guild.has_bot else []
        scopes.append(None)
        if context is None:
            context = 0 if guild is not None else 1
        install = 1 if user_install else 0
        for scope in scopes:
            for command in self.registered.get(scope, []):
                if command["name"] == name and command.get("type", 1) == command_type:
                    contexts = command.get("contexts")
                    if contexts is not None and context not in contexts:
                        raise ValueError(f"/{name} is not available in this context ({context})")
                    if guild is None and command.get("dm_permission") is False:
                        raise ValueError(f"/{name} is not available in DMs (dm_permission false)")
                    installs = command.get("integration_types") or [0]
                    if install not in installs:
                        raise ValueError(
                            f"/{name} is not installable that way ({install}; it declares"
                            f" integration_types {installs})"
                        )
                    return command
        return None

    # -- gateway control ------------------------------------------------------------------------

    async def wait_ready(
        self,
        timeout: float = 10.0,  # noqa: ASYNC109 - the tests' API takes a timeout
        *,
        sessions: int = 1,
    ) -> None:
        """Until ``sessions`` IDENTIFYs were answered with READY and the GUILD_CREATEs."""
        await self.wait_for(lambda: self.ready_count >= sessions, timeout=timeout)

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT; discord.py then RESUMEs on ``resume_gateway_url``."""
        session = self._live_session()
        await self._flush_dispatches()
        if session.connection is not None:
            await session.connection.send(
                {"op": gateway.OP_RECONNECT, "d": None, "s": None, "t": None}
            )

    async def invalidate_session(self) -> None:
        """Send op 9 INVALID_SESSION, not resumable: discord.py IDENTIFYs a new session."""
        session = self._live_session()
        await self._flush_dispatches()
        if session.connection is not None:
            await session.connection.send(
                {"op": gateway.OP_INVALID_SESSION, "d": False, "s": None, "t": None}
            )

    # -- time -----------------------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        """Move the fake clock on (token expiry, 3 s deadline, rate-limit windows)."""
        self.clock.advance(seconds)
        self.notify()

    def patch_utcnow(self) -> contextlib.AbstractContextManager[None]:
        """Context manager: ``discord.utils.utcnow`` follows the fake clock (``is_expired``)."""
        return self.clock.patch_discord_utcnow()

    # -- rate limits ----------------------------------------------------------------------------

    def rate_limit_webhook(
        self, per_token: int = 5, per_seconds: float = 5.0, *, announce: bool = True
    ) -> None:
        """Limit ``/webhooks/{app}/{token}...`` to ``per_token`` requests per window per token.

        Over the limit: 429 ``{"message": "You are being rate limited.", "retry_after": s,
        "global": false, "code": 0}`` with ``Via`` and X-RateLimit-* headers. With
        ``announce=False`` successful answers carry no X-RateLimit-* headers, so discord.py
        cannot pre-empt the limit and actually meets the 429.
        """
        self.ratelimits.configure("webhook", limit=per_token, per=per_seconds, announce=announce)

    def rate_limit_channel(
        self, per_channel: int = 5, per_seconds: float = 5.0, *, announce: bool = True
    ) -> None:
        """Same for ``/channels/{id}/messages...`` (per channel)."""
        self.ratelimits.configure("channel", limit=per_channel, per=per_seconds, announce=announce)

    def hold_responses(
        self,
        method: str,
        route: str,
        seconds: float,
        *,
        with_files: bool = False,
        with_video: bool = False,
    ) -> None:
        """Apply matching requests at once but answer only after ``seconds`` (a slow link),
        or as soon as ``release_holds`` is called, whichever comes first.

        ``with_files``: only requests that upload a file; ``with_video``: only those that
        upload a video (the delivery, not a progress card's thumbnail). The change is recorded
        before the answer leaves, as when a response is lost in transit: a bot killed
        meanwhile cannot know its request took effect.
        """
        self._holds.append((method, route, seconds, "video" if with_video else with_files))

    def release_holds(self) -> None:
        """The link is fast again: answers held back now go out, later ones are not held."""
        self._holds.clear()
        self._holds_released.set()
        self._holds_released = asyncio.Event()

    # -- faults and removals -------------------------------------------------------------------

    def fail_requests(
        self,
        method: str,
        route: str,
        *,
        status: int = 503,
        times: int = 1,
        with_files: bool = False,
        code: int = 0,
        files_over: int = 0,
    ) -> None:
        """Answer the next ``times`` matching requests with an error, without applying them.

        ``method`` and ``route`` name one of ``ROUTES`` (e.g. ``"PATCH"``,
        ``"/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"``; anything else is
        a ValueError); with ``with_files`` only requests that upload a file match, with
        ``files_over`` only those uploading at least that many bytes (a 413 is about size). A
        matching request (one that passed the bot-token check) is answered ``status`` with
        ``{"message": ..., "code": code}`` (the code's own message if the fake knows it,
        else e.g. "503: Service Unavailable") before its handler runs: no message, edit,
        callback record or rate-limit slot comes of it, as when Discord fails a request it
        never applied. It is still in ``fake.requests`` with its status and ``fault=True``.
        ``times=-1`` fails every match until ``clear_faults()``; rules are used up in the
        order they were set.

        Mind discord.py's retries (each retry is a new request, and uses up a count). On
        bot-token routes (``/channels/...``, commands, ``/guilds/...``) the default 503
        raises ``DiscordServerError`` at once, while 500/502/504/524 are retried after
        sleeping 1 + 2n s. On the token routes (the callback and ``/webhooks/...``: defer,
        ``edit_original_response``, followups) its webhook adapter retries *every* 5xx, up
        to 5 tries sleeping 1, 3, 5, 7, 9 s: a 503 with ``times=1`` costs the bot 1 s and
        then succeeds, and only ``times>=5`` makes it raise (after 25 s). For an immediate
        failure there, give a 4xx (e.g. ``status=404, code=10008``). 5xx answers are not
        checked against the spec (it declares none: they come from Discord's edge, not the
        API). 429 is refused: use ``rate_limit_webhook`` / ``rate_limit_channel``, whose
        answers carry ``retry_after``.
        """
        if not any(r.method == method and r.template == route for r in ROUTES):
            raise ValueError(f"the fake serves no {method} {route} (see ROUTES)")
        if status == 429 or not 400 <= status <= 599:
            raise ValueError(f"status {status}: give a 4xx/5xx other than 429")
        if times == 0 or times < -1:
            raise ValueError("times: a positive count, or -1 for until clear_faults()")
        self._faults.append(_Fault(method, route, status, code, with_files, times, files_over))

    def clear_faults(self) -> None:
        """Forget every ``fail_requests`` rule, used up or not."""
        self._faults.clear()

    def delete_message(self, message: FakeMessage) -> None:
        """A moderator deletes ``message`` (for an ephemeral one: its user dismisses it).

        Afterwards every GET/PATCH/DELETE of it answers 404 / 10008 "Unknown Message":
        through ``/channels/{id}/messages/{id}``, through the interaction's webhook routes
        (``@original`` and by id) and as an UPDATE_MESSAGE (7) callback; it cannot be clicked
        any more (``send_component_interaction`` raises). If a bot session is live and asked
        for the GUILD_MESSAGES (guild) / DIRECT_MESSAGES (DM) intent, a MESSAGE_DELETE
        dispatch follows (none for ephemeral messages, as on Discord); it is sent from a task,
        so ``await fake.wait_for(...)`` before asserting what the bot made of it. Deleting it
        twice changes nothing. An interaction's reply is ``it.original`` (the message its
        callback made, e.g. the deferred "thinking..." one that the bot's edits fill in).
        """
        if message.deleted:
            return
        message.deleted = True
        self.notify()
        if message.ephemeral:
            return
        channel = message.channel
        data: dict[str, Any] = {"id": str(message.id), "channel_id": str(channel.id)}
        if channel.guild is not None:
            data["guild_id"] = str(channel.guild.id)
            intent = gateway.INTENT_GUILD_MESSAGES
        else:
            intent = gateway.INTENT_DIRECT_MESSAGES
        self._dispatch_soon("MESSAGE_DELETE", data, intent, channel.guild)

    def delete_channel(self, channel: FakeChannel) -> None:
        """The channel is deleted (``channel.deleted``; its ``messages`` stay readable here).

        Channel routes for it answer 404 / 10003 "Unknown Channel". Its messages are gone:
        webhook GET/PATCH/DELETE of them answer 404 / 10008 "Unknown Message", and so does an
        UPDATE_MESSAGE callback; a callback (4, 5) or followup that would post a new message
        into it answers 404 / 10003 (the fake's choice). New interactions cannot come from
        it. A guild channel is also dropped from the guild, so a later GUILD_CREATE leaves it
        out, and a live session with the GUILDS intent gets a CHANNEL_DELETE (sent from a
        task, like ``delete_message``'s dispatch). Deleting it twice changes nothing.
        """
        if channel.deleted:
            return
        channel.deleted = True
        self.channels.pop(channel.id, None)
        if channel.guild is not None:
            if channel in channel.guild.channels:
                channel.guild.channels.remove(channel)
            self._dispatch_soon(
                "CHANNEL_DELETE", channel.to_payload(), gateway.INTENT_GUILDS, channel.guild
            )
        self.notify()

    def remove_bot(self, guild: FakeGuild) -> None:
        """The bot is kicked from ``guild`` (``guild.bot_removed``).

        Channel routes for the guild's channels, ``GET /guilds/{id}`` and its command routes
        answer 403 / 50001 "Missing Access". The interaction webhooks of the guild's
        interactions answer 404 / 10015 "Unknown Webhook" on every route (edits, deletes,
        followups): that is the fake's choice, so a bot meets one clear code; Discord itself
        may keep an interaction token usable for its 15 minutes, since apps need not be in a
        guild to answer interactions. Callbacks are left alone. The guild leaves
        ``fake.guilds`` (READY and a new IDENTIFY no longer list it), the bot's member leaves
        it, and no new interaction can come from it. A live session with the GUILDS intent
        gets a GUILD_DELETE ``{"id": ...}`` (no ``unavailable``: a removal, not an outage;
        discord.py then fires ``on_guild_remove``), sent from a task like
        ``delete_message``'s dispatch. Removing it twice changes nothing.
        """
        if guild.bot_removed:
            return
        guild.bot_removed = True
        self.guilds.pop(guild.id, None)
        self.removed_guilds[guild.id] = guild
        guild.members = [m for m in guild.members if m.user.id != self.bot_user.id]
        self._dispatch_soon("GUILD_DELETE", {"id": str(guild.id)}, gateway.INTENT_GUILDS, guild)
        self.notify()

    def _dispatch_soon(
        self,
        event: str,
        data: dict[str, Any] | Callable[[gateway.GatewaySession], dict[str, Any]],
        intent: int,
        guild: FakeGuild | None,
    ) -> None:
        """Send a dispatch from a task, for the synchronous world changes above.

        Only to the newest ready session of ``guild``'s shard (shard 0 for a DM), and only
        if it asked for ``intent``; ``data`` may be a function of that session (what it sees
        depends on its intents). The sequence number is taken when the task runs, and every
        awaited dispatch of the fake (``send_interaction``, ``request_reconnect``) first waits
        for these tasks, so frames go out in the order the test made the changes.
        """
        if guild is not None and not guild.bot_member:
            return  # a server that never installed the app: no session hears of it
        guild_id = None if guild is None else guild.id
        session = next(
            (s for s in reversed(self.gateway_sessions) if s.ready and s.covers(guild_id)), None
        )
        if session is None or not session.intents & intent:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no event loop, so no bot connected to tell
        payload = data(session) if callable(data) else data
        task = loop.create_task(self._send_dispatch(session, event, payload))
        self._dispatch_tasks.add(task)
        task.add_done_callback(self._dispatch_tasks.discard)

    async def _send_dispatch(
        self, session: gateway.GatewaySession, event: str, data: dict[str, Any]
    ) -> None:
        try:
            await gateway.dispatch(session, event, data)
        except ConnectionResetError:
            pass  # the connection is going away; the frame stays in session.sent for a RESUME
        except Exception as exc:
            self.internal_errors.append(f"dispatch {event}: {exc!r}\n{traceback.format_exc()}")
        self.notify()

    async def _flush_dispatches(self) -> None:
        while self._dispatch_tasks:
            await asyncio.wait(set(self._dispatch_tasks))

    # -- inspection -----------------------------------------------------------------------------

    def notify(self) -> None:
        """Wake ``wait_for`` waiters (called on every recorded change)."""
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait_for(self, predicate: Callable[[], T], timeout: float = 10.0) -> T:  # noqa: ASYNC109 - the tests' API takes a timeout
        """Wait until ``predicate()`` is truthy, re-checking on every recorded change."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    changed = self._changed
                    result = predicate()
                    if result:
                        return result
                    await changed.wait()
        except TimeoutError:
            recent = "\n  ".join(repr(r) for r in self.requests[-8:])
            raise TimeoutError(
                f"condition not met within {timeout}s; last requests:\n  {recent}"
            ) from None

    def messages(self, channel: FakeChannel, *, ephemeral: bool = True) -> list[FakeMessage]:
        """The channel's messages in order (deleted ones left out)."""
        return [m for m in channel.messages if not m.deleted and (ephemeral or not m.ephemeral)]

    def count_50027(self, token: str | FakeInteraction) -> int:
        """How many 401 / 50027 answers were given for this interaction token."""
        key = token.token if isinstance(token, FakeInteraction) else token
        return self._token_failures[key]

    def count_token_failure(self, token: str) -> None:
        self._token_failures[token] += 1

    @property
    def unexpected_requests(self) -> list[RecordedRequest]:
        """Requests to routes the fake does not serve (answered 404/405)."""
        return [r for r in self.requests if r.route is None]

    def requests_to(self, method: str, route: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and r.route == route]

    def assert_spec_clean(self) -> None:
        if self.spec_violations:
            raise AssertionError(
                "requests that break Discord's spec:\n" + "\n".join(self.spec_violations)
            )

    def assert_no_unexpected_requests(self) -> None:
        if self.unexpected_requests:
            raise AssertionError(
                f"requests to routes the fake does not serve: {self.unexpected_requests}"
            )

    # -- HTTP plumbing --------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path in ("/gateway", "/gateway/"):
            return await self._websocket(request)
        if path.startswith("/attachments/"):
            return self._serve_attachment(request)
        query: dict[str, list[str]] = {}
        for key, value in request.query.items():
            query.setdefault(key, []).append(value)
        record = RecordedRequest(
            method=request.method,
            path=path.removeprefix(API_PREFIX),
            route=None,
            query=query,
            headers=dict(request.headers),
            at=self.clock.now(),
        )
        self.requests.append(record)
        self.notify()  # a request arrived (its answer notifies again)
        reply: Reply
        try:
            reply = await self._process(request, record, query)
        except rules.DiscordError as exc:
            reply = Reply(exc.status, exc.body())
        except ConnectionResetError:
            # The client hung up while sending (e.g. a bot closed mid-upload): nothing was
            # applied and nobody is left to answer; not a failure of the fake.
            record.aborted = True
            self.notify()
            return web.Response(status=400, text="the client hung up")  # goes nowhere
        except Exception as exc:
            self.internal_errors.append(
                f"{request.method} {path}: {exc!r}\n{traceback.format_exc()}"
            )
            reply = Reply(400, {"message": f"fake Discord internal error: {exc!r}", "code": 0})
        record.status = reply.status
        record.response = reply.body
        if isinstance(reply.body, dict) and reply.status >= 400:
            record.error_code = reply.body.get("code")
        # The spec declares no 5xx answers: an injected one is the edge's, not the API's.
        if record.route is not None and not (record.fault and reply.status >= 500):
            self.response_violations.extend(
                spec.validate_response(request.method, record.route, reply.status, reply.body)
            )
        self.notify()
        released = self._holds_released
        for method, route, seconds, files in list(self._holds):
            matches = record.method == method and record.route == route
            if files == "video":
                matches = matches and uploads_video(record.files)
            elif files:
                matches = matches and bool(record.files)
            if matches:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(released.wait(), seconds)
        headers = {"Via": "1.1 google", **reply.headers}
        if reply.body is not None:
            headers["Content-Type"] = "application/json"
        record.response_headers = dict(headers)
        if reply.body is None:
            return web.Response(status=reply.status, headers=headers)
        return web.Response(
            status=reply.status, body=json.dumps(reply.body).encode(), headers=headers
        )

    def _match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        known_path = False
        for route in ROUTES:
            found = route.regex.match(path)
            if found is None:
                continue
            if route.method == method:
                return route, found.groupdict()
            known_path = True
        raise rules.method_not_allowed() if known_path else rules.route_not_found()

    async def _process(
        self, request: web.Request, record: RecordedRequest, query: dict[str, list[str]]
    ) -> Reply:
        if not request.path.startswith(API_PREFIX + "/"):
            raise rules.route_not_found()
        route, params = self._match(request.method, record.path)
        record.route = route.template
        try:
            content_type, has_body, fields = await self._read_body(request, record)
        except _BodyError as exc:
            self.spec_violations.append(f"{request.method} {route.template}: {exc}")
            raise rules.DiscordError(400, 50109, "The request body contains invalid JSON.") from exc
        problems = spec.validate_request(
            request.method,
            route.template,
            path_params=params,
            query=query,
            content_type=content_type,
            body=record.body,
            has_body=has_body,
            multipart_fields=fields,
        )
        record.spec_problems = problems
        self.spec_violations.extend(problems)

        if route.auth:
            auth = request.headers.get("Authorization", "")
            given = auth.removeprefix("Bot ") if auth.startswith("Bot ") else None
            if not given or (self.token is not None and given != self.token):
                raise rules.unauthorized()

        fault = self._take_fault(record)
        if fault is not None:
            record.fault = True
            raise rules.injected_error(fault.status, fault.code)

        limit_headers: dict[str, str] = {}
        if route.ratelimit is not None:
            kind, key_param = route.ratelimit
            verdict = self.ratelimits.check(kind, params[key_param])
            if verdict is not None:
                if verdict.retry_after is not None:
                    body = {
                        "message": "You are being rate limited.",
                        "retry_after": verdict.retry_after,
                        "global": False,
                        "code": 0,
                    }
                    return Reply(429, body, verdict.headers)
                limit_headers = verdict.headers

        context = Context(
            request=request,
            record=record,
            route=route,
            params=params,
            query=query,
            body=record.body,
            files=record.files,
        )
        handler: Callable[[Context], Awaitable[Reply]] = getattr(self, route.handler)
        try:
            reply = await handler(context)
        except rules.DiscordError as exc:
            reply = Reply(exc.status, exc.body())
        reply.headers.update(limit_headers)
        return reply

    def _take_fault(self, record: RecordedRequest) -> _Fault | None:
        """The first ``fail_requests`` rule ``record`` matches, counted down."""
        for fault in self._faults:
            if fault.matches(record):
                if fault.remaining > 0:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                return fault
        return None

    async def _read_body(
        self, request: web.Request, record: RecordedRequest
    ) -> tuple[str | None, bool, list[str] | None]:
        content_type = request.headers.get("Content-Type")
        media = (content_type or "").split(";")[0].strip().lower()
        if media == "multipart/form-data":
            reader = await request.multipart()
            fields: list[str] = []
            while True:
                part = await reader.next()
                if part is None:
                    break
                if not isinstance(part, BodyPartReader):
                    fields.append("<nested multipart>")
                    continue
                name = part.name or ""
                fields.append(name)
                data = bytes(await part.read(decode=False))
                if name == "payload_json":
                    try:
                        record.payload_json = json.loads(data)
                    except ValueError as exc:
                        raise _BodyError(f"payload_json is not JSON: {exc}") from exc
                elif part.filename is not None:
                    record.files.append(
                        UploadedFile(
                            field=name,
                            filename=part.filename,
                            content_type=part.headers.get("Content-Type"),
                            data=data,
                        )
                    )
            return content_type, True, fields
        raw = await request.read()
        if not raw:
            return content_type, False, None
        if media == "application/json":
            try:
                record.json = json.loads(raw)
            except ValueError as exc:
                raise _BodyError(f"body is not JSON: {exc}") from exc
        else:
            record.json = None
        return content_type, True, None

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(request)
        connection = gateway.GatewayConnection(self, ws)
        self._connections.append(connection)
        try:
            await connection.run(request)
        finally:
            self._connections.remove(connection)
            if not ws.closed:
                await ws.close()
        return ws

    def _serve_attachment(self, request: web.Request) -> web.StreamResponse:
        """``/attachments/<folder>/<id>/<name>?ex=&is=&hm=``: 404 unless signed and alive."""
        self.cdn_requests.append(request.path)
        record = CdnRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            at=self.clock.now(),
        )
        self.cdn_log.append(record)
        parts = request.path.split("/")
        attachment = None
        if len(parts) == 5 and parts[3].isdigit():
            attachment = self.cdn.get(int(parts[3]))
        if attachment is None or attachment.path != request.path:
            record.reason = "unknown"
        elif request.method not in ("GET", "HEAD"):
            record.reason = "method"
        else:
            record.reason = self.cdn_signer.refusal(attachment, record.query)
        self.notify()
        if record.reason is not None or attachment is None:
            record.status = 404
            return web.Response(status=404, text=GONE)
        record.status = 200
        return web.Response(
            body=attachment.data,
            headers={"Content-Type": attachment.content_type or "application/octet-stream"},
        )

    # -- REST handlers: identity ----------------------------------------------------------------

    async def _users_me(self, ctx: Context) -> Reply:
        user = self.bot_user.to_payload()
        user.update(
            {"bot": True, "mfa_enabled": False, "locale": "en-US", "verified": True, "email": None}
        )
        return Reply(200, user)

    async def _application_me(self, ctx: Context) -> Reply:
        return Reply(
            200,
            {
                "id": str(self.app_id),
                "name": self.bot_user.name,
                "icon": None,
                "description": "",
                "type": None,
                "bot": self.bot_user.to_payload() | {"bot": True},
                "summary": "",
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "flags": self.application_flags,
                "flags_new": str(self.application_flags),
                "redirect_uris": [],
                "interactions_endpoint_url": None,
                "role_connections_verification_url": None,
                "owner": self.owner.to_payload(),
                "approximate_guild_count": len(self.guilds),
                "approximate_user_install_count": 0,
                "approximate_user_authorization_count": 0,
                "explicit_content_filter": 0,
                "team": None,
                "eligible_oauth2_scopes": [],
                "tags": [],
                "hook": True,
                # installable to servers and to users' own accounts (the portal's setting)
                "integration_types_config": {"0": {}, "1": {}},
            },
        )

    async def _gateway(self, ctx: Context) -> Reply:
        return Reply(200, {"url": self.gateway_url})

    async def _gateway_bot(self, ctx: Context) -> Reply:
        return Reply(
            200,
            {
                "url": self.gateway_url,
                "shards": self.shards,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 1000 - len(self.identifies),
                    "reset_after": 86_400_000,
                    "max_concurrency": 1,
                },
            },
        )

    # -- REST handlers: commands ----------------------------------------------------------------

    def _command_scope(self, ctx: Context) -> int | None:
        if ctx.params["application_id"] != str(self.app_id):
            raise rules.missing_access()
        if "guild_id" not in ctx.params:
            return None
        guild = (
            self.guilds.get(int(ctx.params["guild_id"]))
            if ctx.params["guild_id"].isdigit()
            else None
        )
        if guild is None:
            raise rules.missing_access()
        return guild.id

    async def _get_commands(self, ctx: Context) -> Reply:
        scope = self._command_scope(ctx)
        return Reply(200, copy.deepcopy(self.registered.get(scope, [])))

    async def _put_commands(self, ctx: Context) -> Reply:
        scope = self._command_scope(ctx)
        body = ctx.body
        if not isinstance(body, list):
            raise rules.invalid_form_body(
                {"_errors": [{"code": "BASE_TYPE_ARRAY", "message": "Must be an array."}]}
            )
        check_commands(body)
        previous = {(c["type"], c["name"]): c for c in self.registered.get(scope, [])}
        stored: list[dict[str, Any]] = []
        for command in body:
            ctype = command.get("type") or 1
            old = previous.get((ctype, command["name"]))
            entry: dict[str, Any] = {
                "id": old["id"] if old else str(self.snowflakes.next()),
                "application_id": str(self.app_id),
                "version": str(self.snowflakes.next()),
                "default_member_permissions": command.get("default_member_permissions"),
                "type": ctype,
                "name": command["name"],
                "name_localizations": command.get("name_localizations"),
                "description": command.get("description") or "",
                "description_localizations": command.get("description_localizations"),
                "dm_permission": command.get("dm_permission", True),
                "contexts": command.get("contexts"),
                "integration_types": command.get("integration_types") or [0],
                "nsfw": bool(command.get("nsfw", False)),
            }
            if command.get("options"):
                entry["options"] = copy.deepcopy(command["options"])
            if scope is not None:
                entry["guild_id"] = str(scope)
                entry.pop("dm_permission")
            stored.append(entry)
        self.registered[scope] = stored
        self.command_syncs.append(
            CommandSync(
                guild_id=scope,
                commands=copy.deepcopy(body),
                at=self.clock.now(),
                response=copy.deepcopy(stored),
            )
        )
        return Reply(200, copy.deepcopy(stored))

    # -- REST handlers: interactions ------------------------------------------------------------

    async def _callback(self, ctx: Context) -> Reply:
        raw_id = ctx.params["interaction_id"]
        it = self.interactions_by_id.get(int(raw_id)) if raw_id.isdigit() else None
        if it is None:
            raise rules.unknown_interaction()
        if ctx.params["interaction_token"] != it.token:
            raise rules.invalid_webhook_token()
        status, body = interactions.handle_callback(
            self,
            it,
            ctx.body,
            ctx.files,
            with_response=ctx.query.get("with_response"),
            route=ctx.route.template,
        )
        return Reply(status, body)

    def _webhook_interaction(self, ctx: Context) -> FakeInteraction:
        it = interactions.webhook_interaction(
            self, ctx.params["webhook_id"], ctx.params["webhook_token"]
        )
        it.webhook_requests.append(ctx.record)
        if it.guild is not None and it.guild.bot_removed and not it.user_install:
            raise rules.unknown_webhook()  # the fake's choice, see remove_bot
        return it

    async def _followup(self, ctx: Context) -> Reply:
        it = self._webhook_interaction(ctx)
        if it.channel.deleted:
            raise rules.unknown_channel()
        payload = rules.check_body_is_object(ctx.body)
        message = interactions.execute_followup(
            self, it, payload, ctx.files, route=ctx.route.template
        )
        wait = ctx.query.get("wait")
        if wait and wait[-1].lower() in ("1", "true"):
            return Reply(200, message.to_payload())
        return Reply(204)

    async def _webhook_get(self, ctx: Context) -> Reply:
        it = self._webhook_interaction(ctx)
        message = interactions.webhook_message(it, ctx.params.get("message_id", "@original"))
        return Reply(200, message.to_payload())

    async def _webhook_patch(self, ctx: Context) -> Reply:
        it = self._webhook_interaction(ctx)
        message = interactions.webhook_message(it, ctx.params.get("message_id", "@original"))
        payload = rules.check_body_is_object(ctx.body)
        self.store.edit(
            message,
            payload,
            ctx.files,
            limit=it.attachment_size_limit,
            via="webhook",
            method="PATCH",
            route=ctx.route.template,
        )
        return Reply(200, message.to_payload())

    async def _webhook_delete(self, ctx: Context) -> Reply:
        it = self._webhook_interaction(ctx)
        message = interactions.webhook_message(it, ctx.params.get("message_id", "@original"))
        message.deleted = True
        return Reply(204)

    # -- REST handlers: users -------------------------------------------------------------------

    async def _create_dm(self, ctx: Context) -> Reply:
        """``POST /users/@me/channels {"recipient_id"}``: the bot's DM channel with a user
        (the same channel every time). Opening it works even when the user's DMs are closed;
        sending there does not (403 / 50007)."""
        body = rules.check_body_is_object(ctx.body)
        raw = str(body.get("recipient_id"))  # a digit string, or a number (discord.py)
        user = self.users.get(int(raw)) if raw.isdigit() else None
        if user is None or user.bot:
            raise rules.invalid_recipients()
        return Reply(200, self.dm_channel(user).to_payload())

    # -- REST handlers: channels and guilds -----------------------------------------------------

    def _channel(self, ctx: Context, needed: int = rules.PERM_VIEW_CHANNEL) -> FakeChannel:
        raw = ctx.params["channel_id"]
        channel = self.channels.get(int(raw)) if raw.isdigit() else None
        if channel is None or channel.deleted:
            raise rules.unknown_channel()
        if not channel.bot_present:
            # a server without the bot, a group DM, a DM between members: invisible to it
            raise rules.missing_access()
        if channel.guild is not None:
            if channel.guild.bot_removed:
                raise rules.missing_access()
            if not channel.bot_permissions & rules.PERM_VIEW_CHANNEL:
                raise rules.missing_access()
            if channel.bot_permissions & needed != needed:
                raise rules.missing_permissions()
        return channel

    def _channel_message(self, ctx: Context, channel: FakeChannel) -> FakeMessage:
        raw = ctx.params["message_id"]
        message = next((m for m in channel.messages if str(m.id) == raw), None)
        # Ephemeral messages exist only for their user: not through the channel routes.
        if message is None or message.deleted or message.ephemeral:
            raise rules.unknown_message()
        return message

    async def _get_channel(self, ctx: Context) -> Reply:
        return Reply(200, self._channel(ctx).to_payload())

    async def _post_message(self, ctx: Context) -> Reply:
        needed = rules.PERM_VIEW_CHANNEL | rules.PERM_SEND_MESSAGES
        if ctx.files:
            needed |= rules.PERM_ATTACH_FILES
        channel = self._channel(ctx, needed)
        if channel.recipient is not None and channel.recipient.dms_closed:
            raise rules.cannot_message_user()
        payload = rules.check_body_is_object(ctx.body)
        message = self.store.create(
            channel=channel,
            author=self.bot_user,
            payload=payload,
            files=ctx.files,
            limit=channel.upload_limit,
            allow_ephemeral=False,
        )
        return Reply(200, message.to_payload())

    async def _get_message(self, ctx: Context) -> Reply:
        channel = self._channel(ctx, rules.PERM_VIEW_CHANNEL | rules.PERM_READ_MESSAGE_HISTORY)
        message = self._channel_message(ctx, channel)
        return Reply(200, message.to_payload(content_visible=self.content_visible(message)))

    async def _patch_message(self, ctx: Context) -> Reply:
        channel = self._channel(ctx)
        message = self._channel_message(ctx, channel)
        if message.author.id != self.bot_user.id:
            raise rules.cannot_edit_foreign_message()
        payload = rules.check_body_is_object(ctx.body)
        self.store.edit(
            message,
            payload,
            ctx.files,
            limit=channel.upload_limit,
            via="channel",
            method="PATCH",
            route=ctx.route.template,
        )
        return Reply(200, message.to_payload())

    async def _delete_message(self, ctx: Context) -> Reply:
        channel = self._channel(ctx)
        message = self._channel_message(ctx, channel)
        if message.author.id != self.bot_user.id:
            raise rules.missing_permissions()
        message.deleted = True
        return Reply(204)

    async def _get_guild(self, ctx: Context) -> Reply:
        raw = ctx.params["guild_id"]
        guild = self.guilds.get(int(raw)) if raw.isdigit() else None
        if guild is None:
            if raw.isdigit() and (
                int(raw) in self.removed_guilds or int(raw) in self.external_guilds
            ):
                raise rules.missing_access()
            raise rules.unknown_guild()
        with_counts = ctx.query.get("with_counts", ["false"])[-1].lower() in ("1", "true")
        return Reply(200, guild.to_payload(with_counts=with_counts))


_COMMAND_NAME = re.compile(r"^[-_'\w]{1,32}$")
CONTEXT_MENU_TYPES = (2, 3)  # USER, MESSAGE
MAX_CONTEXT_MENUS = 5  # per type and scope (global, or one guild)
MAX_CHAT_INPUT = 100
# Discord's locales, from the vendored spec (AvailableLocalesEnum).
DISCORD_LOCALES = frozenset(
    choice["const"]
    for choice in spec.spec()["components"]["schemas"]["AvailableLocalesEnum"]["oneOf"]
)


def _check_locale_keys(node: Any, errors: rules.FormErrors, where: list[Any]) -> None:
    """Every `*_localizations` key is one of Discord's locales (the spec's schema lets any
    key through; Discord refuses e.g. "ja-JP" or "zh_CN"), wherever it sits: command, option
    or choice."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            _check_locale_keys(item, errors, [*where, index])
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key.endswith("_localizations") and isinstance(value, dict):
            for locale in value:
                if locale not in DISCORD_LOCALES:
                    errors.add(
                        [*where, key, locale],
                        "BASE_TYPE_CHOICES",
                        f"Value must be one of {sorted(DISCORD_LOCALES)}.",
                    )
        elif isinstance(value, list | dict):
            _check_locale_keys(value, errors, [*where, key])


# A command's installation types (0 a server's install, 1 a user's own) and contexts (0 a
# server, 1 the bot's DM, 2 a group DM or a DM between members); the fake app is installable
# both ways (its integration_types_config).
INSTALL_TYPES = (0, 1)
CONTEXTS = (0, 1, 2)


def _check_install_places(command: dict[str, Any], errors: rules.FormErrors, index: int) -> None:
    """``integration_types`` and ``contexts``: absent or null (Discord's defaults), else a
    non-empty list of distinct known values (Discord answers 50035 otherwise)."""
    for key, known in (("integration_types", INSTALL_TYPES), ("contexts", CONTEXTS)):
        value = command.get(key)
        if value is None:
            continue
        if not isinstance(value, list) or not value:
            errors.add([index, key], "BASE_TYPE_BAD_LENGTH", "Must be 1 or more in length.")
            continue
        for position, item in enumerate(value):
            if isinstance(item, bool) or item not in known:
                errors.add(
                    [index, key, position],
                    "BASE_TYPE_CHOICES",
                    f"Value must be one of {set(known)}.",
                )
        if len({repr(item) for item in value}) != len(value):
            errors.add([index, key], "BASE_TYPE_DUPLICATES", "Values must be unique.")


def check_commands(commands: list[Any]) -> None:
    """The checks Discord makes on a bulk overwrite that the spec's schema cannot express.

    CHAT_INPUT (1): a lowercase name of word characters, ``-`` and ``'`` (1-32), a
    description of 1-100. USER (2) / MESSAGE (3) context menus: a name of 1-32 characters
    in any case, spaces allowed; no description (absent, null or ""; else
    ``APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION_INVALID``, Discord's code) and no options
    (the fake's code ``APPLICATION_COMMAND_CONTEXT_MENU_OPTIONS_INVALID``). At most 100
    CHAT_INPUT and 5 of each context menu type per scope (400 / 30032, as Discord answers
    when the limit is reached).
    """
    errors = rules.FormErrors()
    seen: set[tuple[int, str]] = set()
    counts: Counter[int] = Counter()
    _check_locale_keys(commands, errors, [])
    for index, command in enumerate(commands):
        if not isinstance(command, dict) or not isinstance(command.get("name"), str):
            errors.add([index, "name"], "BASE_TYPE_REQUIRED", "This field is required")
            continue
        ctype = command.get("type") or 1
        name = command["name"]
        counts[ctype] += 1
        if ctype == 1 and (not _COMMAND_NAME.match(name) or name != name.lower()):
            errors.add(
                [index, "name"], "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid"
            )
        if ctype in CONTEXT_MENU_TYPES:
            if not 1 <= len(name) <= 32:
                errors.add(
                    [index, "name"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length."
                )
            if command.get("description"):
                errors.add(
                    [index, "description"],
                    "APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION_INVALID",
                    "Context menu commands cannot have description",
                )
            if command.get("options"):
                errors.add(
                    [index, "options"],
                    "APPLICATION_COMMAND_CONTEXT_MENU_OPTIONS_INVALID",
                    "Context menu commands cannot have options",
                )
        if (ctype, name) in seen:
            errors.add(
                [index, "name"],
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                f"Application command names must be unique: {name}",
            )
        seen.add((ctype, name))
        _check_install_places(command, errors, index)
        if ctype == 1:
            description = command.get("description")
            if not isinstance(description, str) or not 1 <= len(description) <= 100:
                errors.add(
                    [index, "description"],
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 100 in length.",
                )
            _check_command_options(command.get("options") or [], errors, [index, "options"])
    errors.raise_if_any()
    for ctype, limit in ((1, MAX_CHAT_INPUT), (2, MAX_CONTEXT_MENUS), (3, MAX_CONTEXT_MENUS)):
        if counts[ctype] > limit:
            raise rules.DiscordError(
                400, 30032, f"Maximum number of application commands reached ({limit})"
            )


def _check_command_options(
    options: list[Any], errors: rules.FormErrors, path: list[str | int]
) -> None:
    if len(options) > 25:
        errors.max_length(path, 25)
    optional_seen = False
    for index, option in enumerate(options):
        if not isinstance(option, dict):
            continue
        if option.get("type") in (1, 2):
            _check_command_options(option.get("options") or [], errors, [*path, index, "options"])
            continue
        if option.get("required"):
            if optional_seen:
                errors.add(
                    [*path, index, "required"],
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            optional_seen = True
        name = option.get("name")
        if not isinstance(name, str) or not _COMMAND_NAME.match(name) or name != name.lower():
            errors.add(
                [*path, index, "name"],
                "APPLICATION_COMMAND_INVALID_NAME",
                "Command name is invalid",
            )
        # Discord: "autocomplete may not be set to true if choices are present" (the code is
        # the fake's own; Discord answers 50035 too).
        if option.get("autocomplete") and option.get("choices"):
            errors.add(
                [*path, index, "autocomplete"],
                "APPLICATION_COMMAND_OPTION_AUTOCOMPLETE_WITH_CHOICES",
                "Autocomplete cannot be set on an option with choices",
            )


async def drain_discord_tasks(timeout: float = 5.0) -> None:  # noqa: ASYNC109 - the tests' API takes a timeout
    """Let discord.py's command/event tasks finish (cancel them after ``timeout``)."""
    current = asyncio.current_task()
    tasks = [
        t
        for t in asyncio.all_tasks()
        if t is not current
        and not t.done()
        and (t.get_name() == "CommandTree-invoker" or t.get_name().startswith("discord.py: "))
    ]
    if not tasks:
        return
    _done, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=1)
