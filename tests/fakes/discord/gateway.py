"""The fake gateway: one websocket endpoint speaking Discord's gateway v10 (JSON, text frames).

Sessions outlive connections, so a client can RESUME (op 6) on ``resume_gateway_url`` and get
the dispatches it missed. Close codes follow Discord: 4001 unknown opcode, 4002 decode error,
4003 not authenticated, 4004 authentication failed, 4005 already authenticated, 4010 invalid
shard, 4011 sharding required, 4012 invalid API version, 4014 disallowed intents.

Sharding follows Discord: IDENTIFY's ``shard: [shard_id, num_shards]`` makes a session one
shard; a guild belongs to shard ``(guild_id >> 22) % num_shards`` and only that shard's session
hears of it (READY's guild list, GUILD_CREATE, its events and interactions); DMs go to shard 0.
A session that sent no ``shard`` is shard ``[0, 1]``: it hears everything.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

if TYPE_CHECKING:
    from .records import FakeGuild
    from .server import FakeDiscord

OP_DISPATCH = 0
OP_HEARTBEAT = 1
OP_IDENTIFY = 2
OP_PRESENCE_UPDATE = 3
OP_VOICE_STATE_UPDATE = 4
OP_RESUME = 6
OP_RECONNECT = 7
OP_REQUEST_GUILD_MEMBERS = 8
OP_INVALID_SESSION = 9
OP_HELLO = 10
OP_HEARTBEAT_ACK = 11

INTENT_GUILDS = 1 << 0
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_PRESENCES = 1 << 8
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_DIRECT_MESSAGES = 1 << 12
INTENT_MESSAGE_CONTENT = 1 << 15
PRIVILEGED_INTENTS = INTENT_GUILD_MEMBERS | INTENT_GUILD_PRESENCES | INTENT_MESSAGE_CONTENT

# Application flags that say which privileged intents are enabled (the *_LIMITED variants).
_INTENT_FLAGS = {
    INTENT_GUILD_PRESENCES: 1 << 13,
    INTENT_GUILD_MEMBERS: 1 << 15,
    INTENT_MESSAGE_CONTENT: 1 << 19,
}


def shard_of(guild_id: int | None, num_shards: int) -> int:
    """The shard that hears of a guild (Discord's formula); DMs are shard 0's."""
    return 0 if guild_id is None else (guild_id >> 22) % num_shards


def application_flags(privileged_intents: int) -> int:
    flags = 1 << 23  # APPLICATION_COMMAND_BADGE
    for intent, flag in _INTENT_FLAGS.items():
        if privileged_intents & intent:
            flags |= flag
    return flags


@dataclass
class GatewayFrame:
    """One frame on the wire, as recorded: ``direction`` is "in" (from the bot) or "out"."""

    direction: str
    op: int | None
    t: str | None
    d: Any
    at: float


@dataclass
class GatewaySession:
    id: str
    identify: dict[str, Any]
    intents: int
    shard: list[int] | None
    seq: int = 0
    sent: list[dict[str, Any]] = field(default_factory=list)
    connection: GatewayConnection | None = None
    ready: bool = False
    resumes: int = 0

    def covers(self, guild_id: int | None) -> bool:
        """Whether this session is the shard of ``guild_id`` (None: a DM, shard 0's)."""
        if self.shard is None:
            return True
        shard_id, num_shards = self.shard
        return shard_of(guild_id, num_shards) == shard_id


class GatewayConnection:
    """One websocket connection (a session may see several)."""

    def __init__(self, fake: FakeDiscord, ws: web.WebSocketResponse) -> None:
        self.fake = fake
        self.ws = ws
        self.session: GatewaySession | None = None
        self._send_lock = asyncio.Lock()

    async def send(self, frame: dict[str, Any]) -> None:
        self.fake.gateway_frames.append(
            GatewayFrame(
                "out", frame.get("op"), frame.get("t"), frame.get("d"), self.fake.clock.now()
            )
        )
        async with self._send_lock:
            if not self.ws.closed:
                await self.ws.send_str(json.dumps(frame))

    async def close(self, code: int, reason: str) -> None:
        self.fake.gateway_closes.append((code, reason))
        await self.ws.close(code=code, message=reason.encode())

    async def run(self, request: web.Request) -> None:
        fake = self.fake
        if request.query.get("v") != "10":
            await self.close(4012, "Invalid API version")
            return
        if request.query.get("encoding", "json") != "json":
            await self.close(4002, "Decode error: only encoding=json is served")
            return
        await self.send(
            {
                "op": OP_HELLO,
                "d": {"heartbeat_interval": fake.heartbeat_interval_ms},
                "s": None,
                "t": None,
            }
        )
        try:
            async for msg in self.ws:
                if msg.type is not WSMsgType.TEXT:
                    await self.close(4002, "Decode error")
                    return
                try:
                    frame = json.loads(msg.data)
                    op = frame["op"]
                except (ValueError, KeyError, TypeError):
                    await self.close(4002, "Decode error")
                    return
                fake.gateway_frames.append(
                    GatewayFrame("in", op, frame.get("t"), frame.get("d"), fake.clock.now())
                )
                if not await self._handle(op, frame.get("d")):
                    return
                fake.notify()
        finally:
            if self.session is not None and self.session.connection is self:
                self.session.connection = None
            fake.notify()

    async def _handle(self, op: int, data: Any) -> bool:
        """Handle one frame; False ends the connection."""
        if op == OP_HEARTBEAT:
            await self.send({"op": OP_HEARTBEAT_ACK, "d": None, "s": None, "t": None})
            return True
        if op == OP_IDENTIFY:
            return await self._identify(data)
        if op == OP_RESUME:
            return await self._resume(data)
        if op in (OP_PRESENCE_UPDATE, OP_VOICE_STATE_UPDATE, OP_REQUEST_GUILD_MEMBERS):
            if self.session is None:
                await self.close(4003, "Not authenticated.")
                return False
            if op == OP_REQUEST_GUILD_MEMBERS:
                await self._members_chunk(data)
            return True
        await self.close(4001, "Unknown opcode.")
        return False

    def _token_ok(self, token: Any) -> bool:
        expected = self.fake.token
        return isinstance(token, str) and bool(token) and (expected is None or token == expected)

    async def _identify(self, data: Any) -> bool:
        fake = self.fake
        if self.session is not None:
            await self.close(4005, "Already authenticated.")
            return False
        if not isinstance(data, dict) or not self._token_ok(data.get("token")):
            await self.close(4004, "Authentication failed.")
            return False
        intents = data.get("intents")
        if not isinstance(intents, int) or intents < 0:
            await self.close(4013, "Invalid intent(s).")
            return False
        if intents & PRIVILEGED_INTENTS & ~fake.privileged_intents:
            await self.close(4014, "Disallowed intent(s).")
            return False
        shard = data.get("shard")
        if shard is not None and (
            not isinstance(shard, list)
            or len(shard) != 2
            or not all(isinstance(n, int) and not isinstance(n, bool) for n in shard)
            or not 0 <= shard[0] < shard[1]
        ):
            await self.close(4010, "Invalid shard.")
            return False
        if fake.sharding_required and (shard is None or shard[1] < fake.shards):
            # On Discord the session would have held too many guilds; here: too few shards.
            await self.close(4011, "Sharding required.")
            return False
        fake.identifies.append(data)
        session = GatewaySession(
            id=secrets.token_hex(16), identify=data, intents=intents, shard=shard
        )
        fake.gateway_sessions.append(session)
        self.session = session
        session.connection = self
        await self.dispatch("READY", self._ready_payload(session))
        if intents & INTENT_GUILDS:
            for guild in fake.guilds.values():
                if session.covers(guild.id):
                    await self.dispatch("GUILD_CREATE", self._guild_create(guild, intents))
        session.ready = True
        fake.ready_count += 1
        return True

    async def _resume(self, data: Any) -> bool:
        fake = self.fake
        if self.session is not None:
            await self.close(4005, "Already authenticated.")
            return False
        if not isinstance(data, dict) or not self._token_ok(data.get("token")):
            await self.close(4004, "Authentication failed.")
            return False
        session = next((s for s in fake.gateway_sessions if s.id == data.get("session_id")), None)
        seq = data.get("seq")
        if session is None or not isinstance(seq, int) or seq > session.seq or not session.ready:
            await self.send({"op": OP_INVALID_SESSION, "d": False, "s": None, "t": None})
            return True
        if session.connection is not None and session.connection is not self:
            await session.connection.close(4000, "Session resumed elsewhere")
        self.session = session
        session.connection = self
        session.resumes += 1
        for frame in session.sent:
            if frame["s"] > seq:
                await self.send(frame)
        await self.dispatch("RESUMED", {"_trace": ["fake-discord"]})
        return True

    async def _members_chunk(self, data: Any) -> None:
        assert self.session is not None
        if not isinstance(data, dict):
            return
        guild = self.fake.guilds.get(int(data.get("guild_id", 0)))
        if guild is None:
            return
        members = [
            m
            for m in guild.members
            if self.session.intents & INTENT_GUILD_MEMBERS or m.user.id == self.fake.bot_user.id
        ]
        payload: dict[str, Any] = {
            "guild_id": str(guild.id),
            "members": [m.to_payload() for m in members],
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if data.get("nonce") is not None:
            payload["nonce"] = data["nonce"]
        await self.dispatch("GUILD_MEMBERS_CHUNK", payload)

    async def dispatch(self, event: str, data: Any) -> None:
        assert self.session is not None
        await dispatch(self.session, event, data)

    def _ready_payload(self, session: GatewaySession) -> dict[str, Any]:
        fake = self.fake
        user = fake.bot_user.to_payload()
        user.update({"verified": True, "mfa_enabled": False, "email": None, "bot": True})
        payload: dict[str, Any] = {
            "v": 10,
            "user_settings": {},
            "user": user,
            "session_type": "normal",
            "session_id": session.id,
            "resume_gateway_url": fake.gateway_url,
            "relationships": [],
            "private_channels": [],
            "presences": [],
            "guilds": [
                {"id": str(g), "unavailable": True} for g in fake.guilds if session.covers(g)
            ],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["fake"],
            "auth": {},
            "application": {"id": str(fake.app_id), "flags": fake.application_flags},
            "_trace": ["fake-discord"],
        }
        if session.shard is not None:
            payload["shard"] = session.shard
        return payload

    def _guild_create(self, guild: FakeGuild, intents: int) -> dict[str, Any]:
        fake = self.fake
        payload = guild.to_payload()
        members = [
            m
            for m in guild.members
            if intents & INTENT_GUILD_MEMBERS or m.user.id == fake.bot_user.id
        ]
        bot_member = guild.member(fake.bot_user.id)
        payload.update(
            {
                "joined_at": bot_member.joined_at if bot_member else fake.clock.iso(),
                "large": False,
                "unavailable": False,
                "lazy": True,
                "member_count": len(guild.members),
                "members": [m.to_payload() for m in members],
                "channels": [c.to_payload(in_guild_create=True) for c in guild.channels],
                "threads": [t.to_payload() for t in guild.threads if not t.deleted],
                "presences": [],
                "voice_states": [],
                "stage_instances": [],
                "guild_scheduled_events": [],
                "soundboard_sounds": [],
                "embedded_activities": [],
                "application_command_counts": {},
            }
        )
        return payload


async def dispatch(session: GatewaySession, event: str, data: Any) -> None:
    """Send (or buffer, while the client reconnects) one op 0 dispatch of ``session``."""
    session.seq += 1
    frame = {"op": OP_DISPATCH, "t": event, "s": session.seq, "d": data}
    session.sent.append(frame)
    if session.connection is not None:
        await session.connection.send(frame)
