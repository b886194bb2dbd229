"""What the fake knows and records: guilds, users, messages, interactions, requests.

Every object here can render itself as the JSON Discord would send (``to_payload``); tests read
the plain attributes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote, urlsplit

from . import rules

if TYPE_CHECKING:
    from .cdn import UrlSigner
    from .server import FakeDiscord

T = TypeVar("T")


@dataclass
class FakeUser:
    id: int
    name: str
    bot: bool = False
    global_name: str | None = None
    # FakeDiscord.close_dms: the bot's messages to this user fail (403 / 50007)
    dms_closed: bool = False

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": str(self.id),
            "username": self.name,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
            "public_flags": 0,
            "flags": 0,
            "primary_guild": None,
            "avatar_decoration_data": None,
            "collectibles": None,
            "display_name_styles": None,
            "banner": None,
            "accent_color": None,
        }
        if self.bot:
            payload["bot"] = True
        return payload


@dataclass
class FakeRole:
    id: int
    name: str
    permissions: int
    position: int = 0

    def to_payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "description": None,
            "permissions": str(self.permissions),
            "position": self.position,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }


@dataclass
class FakeGuild:
    id: int
    name: str
    upload_limit: int
    owner_id: int
    locale: str = "en-US"
    channels: list[FakeChannel] = field(default_factory=list)
    threads: list[FakeChannel] = field(default_factory=list)  # active ones (add_thread)
    roles: list[FakeRole] = field(default_factory=list)
    members: list[FakeMember] = field(default_factory=list)
    bot_removed: bool = False  # FakeDiscord.remove_bot: the bot was kicked
    # False: a server that never installed the app (add_guild(with_bot=False)); members use it
    # there only through their own install
    bot_member: bool = True

    @property
    def has_bot(self) -> bool:
        """Whether the bot is a member now (installed, and not removed)."""
        return self.bot_member and not self.bot_removed

    @property
    def everyone_role(self) -> FakeRole:
        return self.roles[0]

    def member(self, user_id: int) -> FakeMember | None:
        return next((m for m in self.members if m.user.id == user_id), None)

    def to_payload(self, *, with_counts: bool = False) -> dict[str, Any]:
        """``GET /guilds/{id}`` (GuildWithCountsResponse)."""
        payload: dict[str, Any] = {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "description": None,
            "home_header": None,
            "splash": None,
            "discovery_splash": None,
            "features": [],
            "banner": None,
            "owner_id": str(self.owner_id),
            "application_id": None,
            "region": "deprecated",
            "afk_channel_id": None,
            "afk_timeout": 300,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "widget_enabled": False,
            "widget_channel_id": None,
            "verification_level": 0,
            "roles": [role.to_payload() for role in self.roles],
            "default_message_notifications": 0,
            "mfa_level": 0,
            "explicit_content_filter": 0,
            "max_presences": None,
            "max_members": 250000,
            "max_stage_video_channel_users": 50,
            "max_video_channel_users": 25,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": self.locale,
            "rules_channel_id": None,
            "safety_alerts_channel_id": None,
            "public_updates_channel_id": None,
            "premium_progress_bar_enabled": False,
            "nsfw": False,
            "nsfw_level": 0,
            "emojis": [],
            "stickers": [],
            "incidents_data": None,
        }
        if with_counts:
            payload["approximate_member_count"] = len(self.members)
            payload["approximate_presence_count"] = 0
        return payload


@dataclass
class FakeMember:
    user: FakeUser
    guild: FakeGuild
    roles: list[int]
    permissions: int
    joined_at: str
    nick: str | None = None

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def name(self) -> str:
        return self.user.name

    def to_payload(self, *, with_permissions: bool = False) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "user": self.user.to_payload(),
            "nick": self.nick,
            "avatar": None,
            "banner": None,
            "roles": [str(r) for r in self.roles],
            "joined_at": self.joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
            "unusual_dm_activity_until": None,
        }
        if with_permissions:
            payload["permissions"] = str(self.permissions)
        return payload


GUILD_TEXT = 0
DM = 1
GROUP_DM = 3
PUBLIC_THREAD = 11


@dataclass
class FakeChannel:
    id: int
    name: str | None
    guild: FakeGuild | None
    type: int = GUILD_TEXT
    position: int = 0
    bot_permissions: int = rules.DEFAULT_PERMISSIONS
    recipient: FakeUser | None = None
    messages: list[FakeMessage] = field(default_factory=list)
    # FakeDiscord.delete_channel; ``messages`` stay readable for the test's assertions
    deleted: bool = False
    # Age-restricted ("NSFW" in the API); a thread has no flag of its own: its parent's counts
    nsfw: bool = False
    parent: FakeChannel | None = None  # a thread's channel (FakeDiscord.add_thread)
    created_iso: str = ""  # a thread's creation time, for its metadata
    # A DM between members or a group DM (FakeDiscord.add_private_channel): its users, the
    # bot not among them; None for guild channels and the bot's own DMs
    private_recipients: list[FakeUser] | None = None

    @property
    def bot_present(self) -> bool:
        """Whether the bot can see the channel at all: a channel of a server it is in, or its
        own DM (not a group DM or a DM between members)."""
        if self.guild is not None:
            return self.guild.has_bot
        return self.private_recipients is None

    @property
    def is_thread(self) -> bool:
        return self.type == PUBLIC_THREAD

    @property
    def upload_limit(self) -> int:
        return self.guild.upload_limit if self.guild is not None else rules.DEFAULT_UPLOAD_LIMIT

    def to_payload(self, *, in_guild_create: bool = False) -> dict[str, Any]:
        if self.private_recipients is not None:
            return self._private_payload()
        if self.type == DM:
            assert self.recipient is not None
            return {
                "id": str(self.id),
                "type": DM,
                "last_message_id": None,
                "flags": 0,
                "recipients": [self.recipient.to_payload()],
            }
        if self.is_thread:
            return self._thread_payload()
        payload: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "name": self.name,
            "position": self.position,
            "flags": 0,
            "parent_id": None,
            "topic": None,
            "nsfw": self.nsfw,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "permission_overwrites": [],
        }
        if not in_guild_create and self.guild is not None:
            payload["guild_id"] = str(self.guild.id)
        return payload

    def _private_payload(self) -> dict[str, Any]:
        """A DM between members (type 1) or a group DM (type 3), as an interaction there
        carries it."""
        assert self.private_recipients is not None
        payload: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "last_message_id": None,
            "flags": 0,
            "recipients": [user.to_payload() for user in self.private_recipients],
        }
        if self.type == GROUP_DM:
            payload.update(
                {
                    "name": self.name,
                    "icon": None,
                    "owner_id": str(self.private_recipients[0].id),
                    "managed": False,
                }
            )
        return payload

    def _thread_payload(self) -> dict[str, Any]:
        """A public thread as Discord sends it: no ``nsfw`` of its own (its parent's holds)."""
        assert self.guild is not None
        assert self.parent is not None
        return {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild.id),
            "parent_id": str(self.parent.id),
            "owner_id": str(self.guild.owner_id),
            "name": self.name,
            "flags": 0,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "message_count": len(self.messages),
            "member_count": 1,
            "total_message_sent": len(self.messages),
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": 1440,
                "archive_timestamp": self.created_iso,
                "locked": False,
                "create_timestamp": self.created_iso,
            },
        }


@dataclass
class UploadedFile:
    """One ``files[n]`` part of a multipart request."""

    field: str
    filename: str
    content_type: str | None
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class FakeAttachment:
    """A file on the fake's CDN: a user's upload (``make_attachment``) or a message's file.

    ``url`` (and ``proxy_url`` in payloads) is signed and expires 24 h after it was issued on
    the fake clock, as Discord's are (``?ex=<hex>&is=<hex>&hm=<hex>&``, see ``cdn.py``); once
    it is dead, reading ``url`` issues a fresh one, as Discord does in every payload it sends
    later. ``base_url`` is the unsigned URL, ``path`` its decoded path (what the CDN serves).
    """

    id: int
    filename: str
    data: bytes
    content_type: str | None
    base_url: str
    description: str | None = None
    ephemeral: bool = False
    width: int | None = None
    height: int | None = None
    # Marked a spoiler: uploaded as ``SPOILER_<name>`` or with ``is_spoiler`` (blurred until
    # clicked); its payload's ``flags`` carry IS_SPOILER
    spoiler: bool = False
    # bumped by FakeDiscord.expire_attachment: every URL signed before stops working
    generation: int = 0
    signer: UrlSigner | None = field(default=None, repr=False, compare=False)

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def path(self) -> str:
        return unquote(urlsplit(self.base_url).path)

    @property
    def url(self) -> str:
        return self.signer.signed_url(self) if self.signer is not None else self.base_url

    @property
    def url_expires_at(self) -> float | None:
        """Unix time (fake clock) at which the current ``url`` stops working."""
        return self.signer.expires_at(self) if self.signer is not None else None

    def to_payload(self) -> dict[str, Any]:
        url = self.url
        payload: dict[str, Any] = {
            "id": str(self.id),
            "filename": self.filename,
            "size": self.size,
            "url": url,
            "proxy_url": url,
        }
        if self.content_type:
            payload["content_type"] = self.content_type
        if self.width is not None and self.height is not None:
            payload["width"] = self.width
            payload["height"] = self.height
        if self.description is not None:
            payload["description"] = self.description
        if self.ephemeral:
            payload["ephemeral"] = True
        if self.spoiler:
            payload["flags"] = rules.ATTACHMENT_IS_SPOILER
        return payload


@dataclass
class MessageEdit:
    """One change of a message: a PATCH (webhook or channel route) or an UPDATE callback."""

    via: str  # "webhook", "channel", "callback" or "followup"
    method: str
    route: str  # route template, e.g. /webhooks/{webhook_id}/{webhook_token}/messages/@original
    at: float  # fake-clock seconds (FakeClock.now())
    payload: dict[str, Any]
    files: list[UploadedFile]


@dataclass
class FakeMessage:
    id: int
    channel: FakeChannel
    author: FakeUser
    content: str
    embeds: list[dict[str, Any]]
    components: list[dict[str, Any]]
    attachments: list[FakeAttachment]
    flags: int
    timestamp: str
    created_at: float  # fake clock
    type: int = 0
    webhook_id: int | None = None
    application_id: int | None = None
    interaction: FakeInteraction | None = None
    tts: bool = False
    edited_timestamp: str | None = None
    deleted: bool = False
    edits: list[MessageEdit] = field(default_factory=list)
    # The mentions that notify (``allowed_mentions`` applied): users, roles, @everyone/@here
    mentions: list[FakeUser] = field(default_factory=list)
    mention_roles: list[int] = field(default_factory=list)
    mention_everyone: bool = False

    @property
    def pings(self) -> bool:
        """Whether posting it notified anyone through a mention."""
        return bool(self.mentions or self.mention_roles or self.mention_everyone)

    @property
    def videos(self) -> list[FakeAttachment]:
        """The attached videos (a thumbnail or other image may sit beside them)."""
        return [
            a
            for a in self.attachments
            if (a.content_type or "").startswith("video/") or a.filename.endswith(".mp4")
        ]

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & rules.FLAG_EPHEMERAL)

    @property
    def loading(self) -> bool:
        return bool(self.flags & rules.FLAG_LOADING)

    @property
    def files(self) -> dict[str, bytes]:
        """Attachment bytes by filename."""
        return {a.filename: a.data for a in self.attachments}

    def to_payload(self, *, content_visible: bool = True) -> dict[str, Any]:
        """The message as Discord sends it; ``content_visible=False``: as an app without the
        MESSAGE_CONTENT intent sees a user's message (content, embeds, attachments and
        components empty)."""
        payload: dict[str, Any] = {
            "type": self.type,
            "content": self.content if content_visible else "",
            "mentions": [user.to_payload() for user in self.mentions],
            "mention_roles": [str(r) for r in self.mention_roles],
            "attachments": [a.to_payload() for a in self.attachments] if content_visible else [],
            "embeds": self.embeds if content_visible else [],
            "timestamp": self.timestamp,
            "edited_timestamp": self.edited_timestamp,
            "flags": self.flags,
            "components": self.components if content_visible else [],
            "id": str(self.id),
            "channel_id": str(self.channel.id),
            "author": self.author.to_payload(),
            "pinned": False,
            "mention_everyone": self.mention_everyone,
            "tts": self.tts,
        }
        if self.webhook_id is not None:
            payload["webhook_id"] = str(self.webhook_id)
        if self.application_id is not None:
            payload["application_id"] = str(self.application_id)
        it = self.interaction
        if it is not None:
            payload["interaction_metadata"] = it.metadata(message=self)
            payload["interaction"] = {
                "id": str(it.id),
                "type": it.type,
                "name": it.name or "",
                "user": it.user.to_payload(),
            }
        return payload


@dataclass
class CallbackRecord:
    type: int
    data: dict[str, Any] | None
    time: float  # fake-clock seconds after the interaction's creation
    status: int
    files: list[UploadedFile] = field(default_factory=list)
    error_code: int | None = None


@dataclass
class CommandSync:
    guild_id: int | None  # None for the global commands
    commands: list[dict[str, Any]]  # the request body as the bot sent it
    at: float
    response: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RecordedRequest:
    method: str
    path: str  # below /api/v10
    route: str | None  # the matched template, None if the fake does not serve it
    query: dict[str, list[str]]
    headers: dict[str, str]
    at: float  # fake clock
    json: Any = None
    payload_json: Any = None
    files: list[UploadedFile] = field(default_factory=list)
    status: int | None = None
    response: Any = None
    response_headers: dict[str, str] = field(default_factory=dict)
    error_code: int | None = None
    spec_problems: list[str] = field(default_factory=list)
    fault: bool = False  # answered by FakeDiscord.fail_requests, not applied
    aborted: bool = False  # the client hung up before its body was read (no answer)

    @property
    def body(self) -> Any:
        """The JSON body, or the parsed ``payload_json`` of a multipart request."""
        return self.payload_json if self.payload_json is not None else self.json

    def __repr__(self) -> str:
        path = "/".join(p if len(p) <= 24 else p[:12] + "..." for p in self.path.split("/"))
        code = f" code {self.error_code}" if self.error_code else ""
        fault = " (injected fault)" if self.fault else ""
        return f"<{self.method} {path} -> {self.status}{code}{fault}>"


class FakeInteraction:
    """One interaction the fake dispatched, with everything the bot did with it."""

    def __init__(
        self,
        fake: FakeDiscord,
        *,
        id: int,
        token: str,
        type: int,
        name: str | None,
        command_type: int | None,
        user: FakeUser,
        member: FakeMember | None,
        guild: FakeGuild | None,
        channel: FakeChannel,
        created_at: float,
        attachment_size_limit: int,
        payload: dict[str, Any],
        message: FakeMessage | None = None,
    ) -> None:
        self._fake = fake
        self.id = id
        self.token = token
        self.type = type
        self.name = name
        self.command_type = command_type
        self.user = user
        self.member = member
        self.guild = guild
        self.channel = channel
        self.created_at = created_at  # fake clock (FakeClock.now())
        self.attachment_size_limit = attachment_size_limit
        self.payload = payload
        # component interactions: the message clicked; modal submits: the message whose
        # component opened the modal (None if a command opened it)
        self.message = message
        self.target: FakeMessage | None = None  # message commands: the message used on
        # modal submits: the interaction whose MODAL (9) callback showed the modal
        self.triggering: FakeInteraction | None = None
        # the modal this interaction's accepted MODAL callback showed (its components with
        # the ids Discord gave them), and the submits of it (FakeDiscord.submit_modal)
        self.modal: dict[str, Any] | None = None
        self.modal_submits: list[FakeInteraction] = []
        self.callbacks: list[CallbackRecord] = []
        self.response_type: int | None = None  # type of the accepted callback
        self.acked_at: float | None = None  # seconds after creation of the accepted callback
        self.original: FakeMessage | None = None
        self.followups: list[FakeMessage] = []
        # follow-up requests accepted (POST /webhooks/{app}/{token}); where the app is no
        # member, Discord accepts MAX_EXTERNAL_FOLLOWUPS (400 / 40094 after)
        self.followup_posts = 0
        self.webhook_requests: list[RecordedRequest] = []
        self.ephemeral = False
        self.count_50027 = 0
        # False when the test sent a command the bot never synced (the fake allows it)
        self.command_registered: bool | None = None
        # autocomplete interactions: the registered spec of the focused option, and the
        # choices of the accepted AUTOCOMPLETE_RESULT (8)
        self.focused: dict[str, Any] | None = None
        self.autocomplete_choices: list[dict[str, Any]] | None = None

    def __repr__(self) -> str:
        return f"<FakeInteraction id={self.id} type={self.type} name={self.name!r}>"

    def metadata(self, message: FakeMessage | None = None) -> dict[str, Any]:
        """``interaction_metadata`` of a message this interaction made (``message``)."""
        meta: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "user": self.user.to_payload(),
            "authorizing_integration_owners": self.authorizing_integration_owners,
        }
        if self.original is not None and message is not None and message is not self.original:
            meta["original_response_message_id"] = str(self.original.id)
        if self.target is not None:
            meta["target_message_id"] = str(self.target.id)
        if self.type == 3 and self.message is not None:
            meta["interacted_message_id"] = str(self.message.id)
        if self.triggering is not None:
            meta["triggering_interaction_metadata"] = self.triggering.metadata()
        return meta

    @property
    def authorizing_integration_owners(self) -> dict[str, str]:
        """``{"0": guild id}`` for a server's install (``"0"`` in the bot's DM), ``{"1": user
        id}`` for the user's own install; both when both authorized it."""
        owners = self.payload.get("authorizing_integration_owners")
        return dict(owners) if isinstance(owners, dict) else {}

    @property
    def user_install(self) -> bool:
        """Authorized by the user's own install of the app."""
        return "1" in self.authorizing_integration_owners

    @property
    def app_member(self) -> bool:
        """Whether the app is a member where the interaction happened (a server that has the
        bot, or the bot's DM): elsewhere it has at most MAX_EXTERNAL_FOLLOWUPS follow-ups."""
        return self.channel.bot_present

    @property
    def acknowledged(self) -> bool:
        return self.response_type is not None

    @property
    def age(self) -> float:
        """Fake-clock seconds since creation."""
        return self._fake.clock.now() - self.created_at

    @property
    def token_expired(self) -> bool:
        return self.age >= rules.TOKEN_LIFETIME

    @property
    def edits(self) -> list[MessageEdit]:
        """Changes of ``original`` made since this interaction was created."""
        if self.original is None:
            return []
        return [e for e in self.original.edits if e.at >= self.created_at]

    @property
    def final_message(self) -> FakeMessage | None:
        """``original`` once it carries the bot's answer.

        That is: a type 4 reply, or, after a defer (5) / deferred update (6), the message once
        it has been edited; ``None`` while it is the "thinking..." placeholder, was deleted, or
        the interaction was not answered with a message.
        """
        msg = self.original
        if msg is None or msg.deleted or msg.loading:
            return None
        if self.response_type in (4, 7) or self.edits:
            return msg
        return None

    async def wait_final(
        self,
        timeout: float = 10.0,  # noqa: ASYNC109 - the tests' API takes a timeout
        *,
        attachments: bool = False,
    ) -> FakeMessage:
        """Wait for ``final_message`` (with at least one attachment if ``attachments``)."""

        def ready(it: FakeInteraction) -> FakeMessage | None:
            msg = it.final_message
            return msg if msg is not None and (msg.attachments or not attachments) else None

        found = await self.wait_for(ready, timeout=timeout)
        assert found is not None
        return found

    async def wait_for(self, predicate: Callable[[FakeInteraction], T], timeout: float = 10.0) -> T:  # noqa: ASYNC109 - the tests' API takes a timeout
        """Wait until ``predicate(self)`` is truthy (re-checked on every recorded change)."""
        return await self._fake.wait_for(lambda: predicate(self), timeout=timeout)
