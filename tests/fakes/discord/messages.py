"""Creating and editing messages: the rules shared by channel, webhook and callback routes."""

from __future__ import annotations

import copy
import mimetypes
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import rules
from .records import (
    FakeAttachment,
    FakeChannel,
    FakeInteraction,
    FakeMessage,
    FakeUser,
    MessageEdit,
    UploadedFile,
)

if TYPE_CHECKING:
    from .server import FakeDiscord

# Flags a bot may set when sending; others are dropped, as Discord does.
_SETTABLE_FLAGS = (
    rules.FLAG_SUPPRESS_EMBEDS
    | rules.FLAG_EPHEMERAL
    | rules.FLAG_SUPPRESS_NOTIFICATIONS
    | (1 << 13)  # IS_VOICE_MESSAGE
    | rules.FLAG_IS_COMPONENTS_V2
)
# Flags an edit may change.
_EDITABLE_FLAGS = rules.FLAG_SUPPRESS_EMBEDS | rules.FLAG_IS_COMPONENTS_V2


def check_uploads(files: Sequence[UploadedFile], limit: int) -> None:
    """413 / 40005 when a file is larger than ``limit`` (and more than 10 files is a 50035)."""
    if len(files) > rules.MAX_FILES:
        errors = rules.FormErrors()
        errors.max_length(["files"], rules.MAX_FILES)
        errors.raise_if_any()
    for upload in files:
        if upload.size > limit:
            raise rules.entity_too_large()


class MessageStore:
    """The fake's messages; one per process of the fake."""

    def __init__(self, fake: FakeDiscord) -> None:
        self._fake = fake

    # -- create ---------------------------------------------------------------------------

    def create(
        self,
        *,
        channel: FakeChannel,
        author: FakeUser,
        payload: Mapping[str, Any],
        files: Sequence[UploadedFile],
        limit: int,
        allow_ephemeral: bool,
        interaction: FakeInteraction | None = None,
        message_type: int = 0,
        webhook_id: int | None = None,
        loading: bool = False,
        error_prefix: Sequence[str | int] = (),
    ) -> FakeMessage:
        errors = rules.FormErrors()
        # A deferral's flags carry no IS_COMPONENTS_V2 (Discord drops it from the ack): the
        # "thinking" message takes it with its first edit.
        v2 = None if not loading else False
        rules.check_message_body(payload, errors, error_prefix, v2=v2)
        errors.raise_if_any()
        check_uploads(files, limit)

        flags = int(payload.get("flags") or 0) & _SETTABLE_FLAGS
        if not allow_ephemeral:
            flags &= ~rules.FLAG_EPHEMERAL
        if loading:
            flags = (flags & ~rules.FLAG_IS_COMPONENTS_V2) | rules.FLAG_LOADING
        fake = self._fake
        message = FakeMessage(
            id=fake.snowflakes.next(),
            channel=channel,
            author=author,
            content="",
            embeds=[],
            components=[],
            attachments=[],
            flags=flags,
            timestamp=fake.clock.iso(),
            created_at=fake.clock.now(),
            type=message_type,
            webhook_id=webhook_id,
            application_id=fake.app_id if webhook_id is not None else None,
            interaction=interaction,
            tts=bool(payload.get("tts")),
        )
        if not loading:
            attachments = self._attachments(
                message, payload.get("attachments"), files, error_prefix
            )
            self._apply(message, payload, attachments)
            if self._empty(message, payload):
                raise rules.empty_message()
        channel.messages.append(message)
        return message

    # -- edit -----------------------------------------------------------------------------

    def edit(
        self,
        message: FakeMessage,
        payload: Mapping[str, Any],
        files: Sequence[UploadedFile],
        *,
        limit: int,
        via: str,
        method: str,
        route: str,
        error_prefix: Sequence[str | int] = (),
    ) -> None:
        is_v2 = bool(message.flags & rules.FLAG_IS_COMPONENTS_V2)
        wants_v2 = bool(int(payload.get("flags") or 0) & rules.FLAG_IS_COMPONENTS_V2)
        if wants_v2 and not is_v2 and not message.loading:
            # The flag is set when a message is sent (or by the first edit of a deferred
            # reply, which Discord has not shown yet), never added to one already shown.
            raise rules.components_v2_flag_added()
        errors = rules.FormErrors()
        # Once set the flag stays, whatever an edit's flags say.
        rules.check_message_body(payload, errors, error_prefix, v2=is_v2 or wants_v2)
        errors.raise_if_any()
        check_uploads(files, limit)
        attachments = self._attachments(message, payload.get("attachments"), files, error_prefix)

        was_loading = message.loading
        before = (
            message.content,
            message.embeds,
            message.components,
            message.attachments,
            message.flags,
        )
        self._apply(message, payload, attachments)
        message.flags &= ~rules.FLAG_LOADING
        if "flags" in payload and payload["flags"] is not None:
            wanted = int(payload["flags"])
            message.flags = (message.flags & ~rules.FLAG_SUPPRESS_EMBEDS) | (
                wanted & _EDITABLE_FLAGS
            )
        if self._empty(message, payload):
            (
                message.content,
                message.embeds,
                message.components,
                message.attachments,
                message.flags,
            ) = before
            raise rules.empty_message()
        if not was_loading:
            message.edited_timestamp = self._fake.clock.iso()
        message.edits.append(
            MessageEdit(
                via=via,
                method=method,
                route=route,
                at=self._fake.clock.now(),
                payload=copy.deepcopy(dict(payload)),
                files=list(files),
            )
        )

    # -- helpers --------------------------------------------------------------------------

    def _apply(
        self,
        message: FakeMessage,
        payload: Mapping[str, Any],
        attachments: list[FakeAttachment],
    ) -> None:
        if "content" in payload:
            message.content = payload["content"] or ""
            allowed = payload.get("allowed_mentions")
            users, roles, everyone = rules.allowed_mentions(
                message.content, allowed if isinstance(allowed, Mapping) else None
            )
            known = self._fake.users
            message.mentions = [known[u] for u in users if u in known]
            message.mention_roles, message.mention_everyone = roles, everyone
        message.attachments = attachments
        if "embeds" in payload:
            message.embeds = [self._embed(e, attachments) for e in payload["embeds"] or []]
        if "components" in payload:
            message.components = _with_ids(payload["components"] or [])

    @staticmethod
    def _empty(message: FakeMessage, payload: Mapping[str, Any]) -> bool:
        return not (
            message.content
            or message.embeds
            or message.components
            or message.attachments
            or payload.get("sticker_ids")
            or payload.get("poll")
        )

    def _embed(self, embed: Mapping[str, Any], attachments: list[FakeAttachment]) -> dict[str, Any]:
        stored = copy.deepcopy(dict(embed))
        stored.setdefault("type", "rich")
        for key in ("image", "thumbnail", "video"):
            media = stored.get(key)
            if isinstance(media, dict) and str(media.get("url", "")).startswith("attachment://"):
                name = media["url"].removeprefix("attachment://")
                match = next((a for a in attachments if a.filename == name), None)
                if match is not None:
                    media["url"] = match.url
                    media["proxy_url"] = match.url
        return stored

    def _attachments(
        self,
        message: FakeMessage,
        requested: Any,
        files: Sequence[UploadedFile],
        error_prefix: Sequence[str | int],
    ) -> list[FakeAttachment]:
        """Attachments after a create/edit: kept ones (by id) plus the new uploads."""
        uploads = {upload.field: upload for upload in files}
        used: set[str] = set()
        result: list[FakeAttachment] = []
        if requested is None:
            result.extend(message.attachments)
        elif isinstance(requested, list):
            errors = rules.FormErrors()
            for index, item in enumerate(requested):
                if not isinstance(item, Mapping):
                    continue
                raw_id = str(item.get("id"))
                kept = next((a for a in message.attachments if str(a.id) == raw_id), None)
                if kept is not None:
                    if item.get("description") is not None:
                        kept.description = item["description"]
                    result.append(kept)
                    continue
                field = f"files[{raw_id}]"
                upload = uploads.get(field)
                if upload is None:
                    errors.add(
                        [*error_prefix, "attachments", index, "id"],
                        "ATTACHMENT_NOT_FOUND",
                        f"Unknown attachment id {raw_id}: neither kept nor uploaded",
                    )
                    continue
                used.add(field)
                result.append(
                    self._new_attachment(
                        message,
                        upload,
                        filename=item.get("filename") or upload.filename,
                        description=item.get("description"),
                        spoiler=bool(item.get("is_spoiler")),
                    )
                )
            errors.raise_if_any()
        result.extend(
            self._new_attachment(message, upload, filename=upload.filename, description=None)
            for upload in files
            if upload.field not in used
        )
        return result

    def _new_attachment(
        self,
        message: FakeMessage,
        upload: UploadedFile,
        *,
        filename: str,
        description: str | None,
        spoiler: bool = False,
    ) -> FakeAttachment:
        content_type = mimetypes.guess_type(filename)[0]
        attachment = self._fake.new_cdn_attachment(
            filename=filename,
            data=upload.data,
            content_type=content_type,
            folder=str(message.channel.id),
            description=description,
            ephemeral=message.ephemeral,
        )
        # Discord marks a file a spoiler by its name, or by the request's ``is_spoiler``.
        attachment.spoiler = spoiler or filename.startswith(rules.SPOILER_PREFIX)
        return attachment


def _with_ids(components: list[Any]) -> list[Any]:
    """Deep copy of a component tree with Discord's numeric ``id`` on every component.

    Ids the sender gave are kept; the others are numbered 1, 2, ... in document order,
    skipping the ids already taken (as Discord does).
    """
    taken: set[int] = set()

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            if "type" in node and isinstance(node.get("id"), int) and node["id"]:
                taken.add(node["id"])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for item in node:
                collect(item)

    collect(components)
    counter = 0

    def next_id() -> int:
        nonlocal counter
        counter += 1
        while counter in taken:
            counter += 1
        return counter

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out: dict[str, Any] = {}
            if "type" in node:
                given = node.get("id")
                out["id"] = given if isinstance(given, int) and given else next_id()
            for key, value in node.items():
                if key != "id":
                    out[key] = walk(value)
                elif "type" not in node:
                    out[key] = value
            return out
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    return [walk(component) for component in components]
