"""Discord's limits and error answers, as the fake enforces them.

Error bodies have Discord's shape: ``{"message": ..., "code": N}``, and for 50035
``{"message": "Invalid Form Body", "code": 50035, "errors": {<path>: {"_errors": [...]}}}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

# --- limits ---------------------------------------------------------------------------------

DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024  # 10 MiB per file since 2025-01-16
ACK_DEADLINE = 3.0  # seconds from the interaction's creation to its first callback
TOKEN_LIFETIME = 15 * 60.0  # seconds the interaction token stays valid
# Follow-up messages of one interaction where the app is not a member (a user install used in
# a server without the bot, a group DM or a DM between members)
MAX_EXTERNAL_FOLLOWUPS = 5

MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_EMBED_TITLE = 256
MAX_EMBED_DESCRIPTION = 4096
MAX_EMBED_FIELDS = 25
MAX_FIELD_NAME = 256
MAX_FIELD_VALUE = 1024
MAX_FOOTER = 2048
MAX_AUTHOR_NAME = 256
MAX_EMBED_TOTAL = 6000
MAX_CUSTOM_ID = 100
MAX_LABEL = 80
MAX_ROW_WIDTH = 5
MAX_ROWS = 5
MAX_FILES = 10
MAX_V2_COMPONENTS = 40
MAX_V2_TEXT = 4000  # characters of text across a V2 message's components
MAX_GALLERY_ITEMS = 10
MAX_SECTION_TEXTS = 3

FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_SUPPRESS_EMBEDS = 1 << 2
FLAG_SUPPRESS_NOTIFICATIONS = 1 << 12
FLAG_IS_COMPONENTS_V2 = 1 << 15
# Attachment flags.
ATTACHMENT_IS_SPOILER = 1 << 3
SPOILER_PREFIX = "SPOILER_"

# Permission bits the fake checks on channel routes.
PERM_VIEW_CHANNEL = 1 << 10
PERM_SEND_MESSAGES = 1 << 11
PERM_EMBED_LINKS = 1 << 14
PERM_ATTACH_FILES = 1 << 15
PERM_READ_MESSAGE_HISTORY = 1 << 16
PERM_USE_APPLICATION_COMMANDS = 1 << 31
DEFAULT_PERMISSIONS = (
    PERM_VIEW_CHANNEL
    | PERM_SEND_MESSAGES
    | PERM_EMBED_LINKS
    | PERM_ATTACH_FILES
    | PERM_READ_MESSAGE_HISTORY
    | PERM_USE_APPLICATION_COMMANDS
    | (1 << 6)  # add reactions
    | (1 << 18)  # use external emojis
    | (1 << 38)  # send messages in threads
)
# What an interaction's ``app_permissions`` says where the app is no member (a user install in a
# server without the bot, a group DM, a DM between members): what its answers may carry.
EXTERNAL_APP_PERMISSIONS = (
    PERM_EMBED_LINKS
    | PERM_ATTACH_FILES
    | (1 << 17)  # mention everyone
    | (1 << 18)  # use external emojis
)


# --- errors ---------------------------------------------------------------------------------


class DiscordError(Exception):
    """An error answer; raised by handlers, turned into the HTTP response by the server."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        errors: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


def route_not_found() -> DiscordError:
    return DiscordError(404, 0, "404: Not Found")


def method_not_allowed() -> DiscordError:
    return DiscordError(405, 0, "405: Method Not Allowed")


def unauthorized() -> DiscordError:
    return DiscordError(401, 0, "401: Unauthorized")


def unknown_channel() -> DiscordError:
    return DiscordError(404, 10003, "Unknown Channel")


def unknown_guild() -> DiscordError:
    return DiscordError(404, 10004, "Unknown Guild")


def unknown_message() -> DiscordError:
    return DiscordError(404, 10008, "Unknown Message")


def unknown_webhook() -> DiscordError:
    return DiscordError(404, 10015, "Unknown Webhook")


def unknown_application_command() -> DiscordError:
    return DiscordError(404, 10063, "Unknown application command")


def unknown_interaction() -> DiscordError:
    return DiscordError(404, 10062, "Unknown interaction")


def missing_access() -> DiscordError:
    return DiscordError(403, 50001, "Missing Access")


def missing_permissions() -> DiscordError:
    return DiscordError(403, 50013, "Missing Permissions")


def cannot_edit_foreign_message() -> DiscordError:
    return DiscordError(403, 50005, "Cannot edit a message authored by another user")


def empty_message() -> DiscordError:
    return DiscordError(400, 50006, "Cannot send an empty message")


def invalid_webhook_token() -> DiscordError:
    return DiscordError(401, 50027, "Invalid Webhook Token")


def already_acknowledged() -> DiscordError:
    return DiscordError(400, 40060, "Interaction has already been acknowledged.")


def entity_too_large() -> DiscordError:
    return DiscordError(413, 40005, "Request entity too large")


def invalid_form_body(errors: Mapping[str, Any]) -> DiscordError:
    return DiscordError(400, 50035, "Invalid Form Body", errors)


def bad_request(message: str = "400: Bad Request") -> DiscordError:
    return DiscordError(400, 0, message)


def cannot_message_user() -> DiscordError:
    return DiscordError(403, 50007, "Cannot send messages to this user")


def invalid_recipients() -> DiscordError:
    return DiscordError(400, 50033, "Invalid Recipient(s)")


def too_many_followups() -> DiscordError:
    return DiscordError(
        400, 40094, "This interaction has hit the maximum number of follow up messages"
    )


# Messages of the codes above, so an injected fault (``FakeDiscord.fail_requests``) with a
# known code reads like Discord's own answer.
_CODE_MESSAGES = {
    error.code: error.message
    for error in (
        unknown_channel(),
        unknown_guild(),
        unknown_message(),
        unknown_webhook(),
        unknown_application_command(),
        unknown_interaction(),
        missing_access(),
        missing_permissions(),
        cannot_edit_foreign_message(),
        empty_message(),
        invalid_webhook_token(),
        already_acknowledged(),
        entity_too_large(),
        cannot_message_user(),
        invalid_recipients(),
        too_many_followups(),
    )
}
# Cloudflare's statuses that http.HTTPStatus does not know.
_EXTRA_PHRASES = {
    520: "Web Server Returned an Unknown Error",
    522: "Connection Timed Out",
    524: "A Timeout Occurred",
}


def injected_error(status: int, code: int = 0) -> DiscordError:
    """The answer of an injected fault: the code's own message if the fake knows it (10008:
    "Unknown Message"), else the status line as Discord words it ("503: Service Unavailable")."""
    if code in _CODE_MESSAGES:
        return DiscordError(status, code, _CODE_MESSAGES[code])
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = _EXTRA_PHRASES.get(status, "Error")
    return DiscordError(status, code, f"{status}: {phrase}")


# --- form-body checks -------------------------------------------------------------------------


class FormErrors:
    """Collects errors into Discord's nested ``errors`` object."""

    def __init__(self) -> None:
        self.tree: dict[str, Any] = {}

    def add(self, path: Sequence[str | int], code: str, message: str) -> None:
        """Record an error at ``path``; a node holds either ``_errors`` or children (the
        shape Discord's spec gives), so the first error found along a branch wins."""
        node = self.tree
        for part in path:
            if "_errors" in node:
                return
            node = node.setdefault(str(part), {})
        if any(key != "_errors" for key in node):
            return
        node.setdefault("_errors", []).append({"code": code, "message": message})

    def max_length(self, path: Sequence[str | int], limit: int) -> None:
        self.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")

    def __bool__(self) -> bool:
        return bool(self.tree)

    def raise_if_any(self) -> None:
        if self.tree:
            raise invalid_form_body(self.tree)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


MODEL_TYPE_CONVERT = ("MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType")

_FIELD_TYPES: dict[str, tuple[type, str, str]] = {
    "content": (str, "BASE_TYPE_STRING", "Could not interpret {!r} as string."),
    "embeds": (list, "BASE_TYPE_ARRAY", "Could not interpret {!r} as array."),
    "components": (list, "BASE_TYPE_ARRAY", "Could not interpret {!r} as array."),
    "attachments": (list, "BASE_TYPE_ARRAY", "Could not interpret {!r} as array."),
    "flags": (int, "NUMBER_TYPE_COERCE", "Value {!r} is not int."),
    "tts": (bool, "BASE_TYPE_BOOLEAN", "Must be either true or false."),
}


def check_body_is_object(body: Any, prefix: Sequence[str | int] = ()) -> Mapping[str, Any]:
    """The JSON object a route expects (``{}`` for no body), else 400 / 50035."""
    if body is None:
        return {}
    if not isinstance(body, Mapping):
        errors = FormErrors()
        errors.add(list(prefix), *MODEL_TYPE_CONVERT)
        errors.raise_if_any()
    mapping: Mapping[str, Any] = body
    return mapping


def _check_types(payload: Mapping[str, Any], errors: FormErrors, path: list[str | int]) -> None:
    for key, (kind, code, message) in _FIELD_TYPES.items():
        value = payload.get(key)
        if value is None:
            continue
        wrong = not isinstance(value, kind) or (kind is int and isinstance(value, bool))
        if wrong:
            errors.add([*path, key], code, message.format(value))
        elif kind is list:
            for index, item in enumerate(value):
                if not isinstance(item, Mapping):
                    errors.add([*path, key, index], *MODEL_TYPE_CONVERT)


def check_message_body(
    payload: Mapping[str, Any],
    errors: FormErrors,
    prefix: Sequence[str | int] = (),
    *,
    v2: bool | None = None,
) -> None:
    """Field types, content, embed and component limits of a message create/edit body.

    `v2`: whether the message is (or becomes) a Components V2 one; None: as the body's flags
    say.
    """
    path = list(prefix)
    _check_types(payload, errors, path)
    if errors:
        return
    content = payload.get("content")
    if isinstance(content, str) and len(content) > MAX_CONTENT:
        errors.max_length([*path, "content"], MAX_CONTENT)

    embeds = payload.get("embeds")
    if isinstance(embeds, list):
        _check_embeds(embeds, errors, [*path, "embeds"])

    if v2 is None:
        v2 = bool((payload.get("flags") or 0) & FLAG_IS_COMPONENTS_V2)
    components = payload.get("components")
    if isinstance(components, list):
        _check_components(components, errors, [*path, "components"], v2=v2)
        if v2:
            check_v2_components(components, errors, [*path, "components"])
    if v2:
        # The flag disables the legacy fields: an empty one may still be sent.
        for key in ("content", "embeds", "sticker_ids", "poll"):
            if payload.get(key):
                errors.add(
                    [*path, key],
                    "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
                    f"The '{key}' field cannot be used when using MessageFlags.IS_COMPONENTS_V2",
                )

    attachments = payload.get("attachments")
    if isinstance(attachments, list) and len(attachments) > MAX_FILES:
        errors.max_length([*path, "attachments"], MAX_FILES)


def _check_embeds(embeds: list[Any], errors: FormErrors, path: list[str | int]) -> None:
    if len(embeds) > MAX_EMBEDS:
        errors.max_length(path, MAX_EMBEDS)
    total = 0
    for index, embed in enumerate(embeds):
        if not isinstance(embed, Mapping):
            continue
        here = [*path, index]
        title = _text(embed.get("title"))
        description = _text(embed.get("description"))
        if len(title) > MAX_EMBED_TITLE:
            errors.max_length([*here, "title"], MAX_EMBED_TITLE)
        if len(description) > MAX_EMBED_DESCRIPTION:
            errors.max_length([*here, "description"], MAX_EMBED_DESCRIPTION)
        total += len(title) + len(description)
        footer = embed.get("footer")
        if isinstance(footer, Mapping):
            text = _text(footer.get("text"))
            if len(text) > MAX_FOOTER:
                errors.max_length([*here, "footer", "text"], MAX_FOOTER)
            total += len(text)
        author = embed.get("author")
        if isinstance(author, Mapping):
            name = _text(author.get("name"))
            if len(name) > MAX_AUTHOR_NAME:
                errors.max_length([*here, "author", "name"], MAX_AUTHOR_NAME)
            total += len(name)
        fields = embed.get("fields")
        if isinstance(fields, list):
            if len(fields) > MAX_EMBED_FIELDS:
                errors.max_length([*here, "fields"], MAX_EMBED_FIELDS)
            for findex, field in enumerate(fields):
                if not isinstance(field, Mapping):
                    continue
                name = _text(field.get("name"))
                value = _text(field.get("value"))
                if len(name) > MAX_FIELD_NAME:
                    errors.max_length([*here, "fields", findex, "name"], MAX_FIELD_NAME)
                if len(value) > MAX_FIELD_VALUE:
                    errors.max_length([*here, "fields", findex, "value"], MAX_FIELD_VALUE)
                total += len(name) + len(value)
    if total > MAX_EMBED_TOTAL:
        errors.add(
            path,
            "MAX_EMBED_SIZE_EXCEEDED",
            f"Embed size exceeds maximum size of {MAX_EMBED_TOTAL}",
        )


_BUTTON = 2
_LINK_STYLE = 5
_PREMIUM_STYLE = 6
_SELECTS = {3, 5, 6, 7, 8}
_ACTION_ROW = 1


def _check_components(
    rows: list[Any], errors: FormErrors, path: list[str | int], *, v2: bool
) -> None:
    custom_ids: set[str] = set()
    if v2:
        count = _count_components(rows)
        if count > MAX_V2_COMPONENTS:
            errors.max_length(path, MAX_V2_COMPONENTS)
    elif len(rows) > MAX_ROWS:
        errors.max_length(path, MAX_ROWS)
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            continue
        here = [*path, index]
        if row.get("type") != _ACTION_ROW:
            if not v2:
                errors.add(
                    [*here, "type"],
                    "UNION_TYPE_CHOICES",
                    'Value of field "type" must be one of (1,).',
                )
            continue
        children = row.get("components")
        if not isinstance(children, list):
            continue
        if not 1 <= len(children) <= MAX_ROW_WIDTH:
            errors.add(
                [*here, "components"],
                "BASE_TYPE_BAD_LENGTH",
                f"Must be between 1 and {MAX_ROW_WIDTH} in length.",
            )
        width = 0
        for cindex, child in enumerate(children):
            if not isinstance(child, Mapping):
                continue
            where = [*here, "components", cindex]
            ctype = child.get("type")
            width += MAX_ROW_WIDTH if ctype in _SELECTS else 1
            label = child.get("label")
            if isinstance(label, str) and len(label) > MAX_LABEL:
                errors.max_length([*where, "label"], MAX_LABEL)
            custom_id = child.get("custom_id")
            needs_custom_id = ctype in _SELECTS or (
                ctype == _BUTTON and child.get("style") not in (_LINK_STYLE, _PREMIUM_STYLE)
            )
            if isinstance(custom_id, str):
                if not 1 <= len(custom_id) <= MAX_CUSTOM_ID:
                    errors.add(
                        [*where, "custom_id"],
                        "BASE_TYPE_BAD_LENGTH",
                        f"Must be between 1 and {MAX_CUSTOM_ID} in length.",
                    )
                if custom_id in custom_ids:
                    errors.add(
                        [*where, "custom_id"],
                        "COMPONENT_CUSTOM_ID_DUPLICATED",
                        "Component custom id cannot be duplicated",
                    )
                custom_ids.add(custom_id)
            elif needs_custom_id:
                errors.add(
                    [*where, "custom_id"],
                    "BASE_TYPE_REQUIRED",
                    "This field is required",
                )
            if ctype == _BUTTON and child.get("style") == _LINK_STYLE and not child.get("url"):
                errors.add([*where, "url"], "BASE_TYPE_REQUIRED", "This field is required")
        if width > MAX_ROW_WIDTH:
            errors.add(
                [*here, "components"],
                "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                "The specified component exceeds the maximum width",
            )


# Components V2: where each type may stand.
ACTION_ROW, BUTTON, SECTION, TEXT_DISPLAY, THUMBNAIL = 1, 2, 9, 10, 11
MEDIA_GALLERY, FILE, SEPARATOR, CONTAINER = 12, 13, 14, 17
_V2_TOP = {ACTION_ROW, SECTION, TEXT_DISPLAY, MEDIA_GALLERY, FILE, SEPARATOR, CONTAINER}
_V2_IN_CONTAINER = {ACTION_ROW, SECTION, TEXT_DISPLAY, MEDIA_GALLERY, FILE, SEPARATOR}
_V2_ACCESSORIES = {BUTTON, THUMBNAIL}


def _union_error(errors: FormErrors, path: list[str | int], allowed: set[int]) -> None:
    choices = ", ".join(str(t) for t in sorted(allowed))
    errors.add(
        [*path, "type"], "UNION_TYPE_CHOICES", f'Value of field "type" must be one of ({choices}).'
    )


def _media_url(media: Any) -> str:
    return str(media.get("url") or "") if isinstance(media, Mapping) else ""


def check_v2_components(components: list[Any], errors: FormErrors, path: list[str | int]) -> None:
    """A V2 message's layout: known types in their places, sections of 1-3 texts with an
    accessory, galleries of 1-10 items with a URL each, and at most 4,000 characters of text."""
    total = 0

    def walk(items: list[Any], where: list[str | int], allowed: set[int]) -> None:
        nonlocal total
        for index, item in enumerate(items):
            if not isinstance(item, Mapping):
                continue
            here = [*where, index]
            kind = item.get("type")
            if kind not in allowed:
                _union_error(errors, here, allowed)
                continue
            if kind == TEXT_DISPLAY:
                content = _text(item.get("content"))
                if not content:
                    errors.add([*here, "content"], "BASE_TYPE_REQUIRED", "This field is required")
                total += len(content)
            elif kind == CONTAINER:
                inner = item.get("components")
                if not isinstance(inner, list) or not inner:
                    errors.add(
                        [*here, "components"], "BASE_TYPE_REQUIRED", "This field is required"
                    )
                else:
                    walk(inner, [*here, "components"], _V2_IN_CONTAINER)
            elif kind == SECTION:
                inner = item.get("components")
                if not isinstance(inner, list) or not 1 <= len(inner) <= MAX_SECTION_TEXTS:
                    errors.add(
                        [*here, "components"],
                        "BASE_TYPE_BAD_LENGTH",
                        f"Must be between 1 and {MAX_SECTION_TEXTS} in length.",
                    )
                else:
                    walk(inner, [*here, "components"], {TEXT_DISPLAY})
                accessory = item.get("accessory")
                if not isinstance(accessory, Mapping):
                    errors.add([*here, "accessory"], "BASE_TYPE_REQUIRED", "This field is required")
                elif accessory.get("type") not in _V2_ACCESSORIES:
                    _union_error(errors, [*here, "accessory"], _V2_ACCESSORIES)
                elif accessory.get("type") == THUMBNAIL and not _media_url(accessory.get("media")):
                    errors.add(
                        [*here, "accessory", "media", "url"],
                        "BASE_TYPE_REQUIRED",
                        "This field is required",
                    )
            elif kind == MEDIA_GALLERY:
                gallery = item.get("items")
                if not isinstance(gallery, list) or not 1 <= len(gallery) <= MAX_GALLERY_ITEMS:
                    errors.add(
                        [*here, "items"],
                        "BASE_TYPE_BAD_LENGTH",
                        f"Must be between 1 and {MAX_GALLERY_ITEMS} in length.",
                    )
                    continue
                for gindex, entry in enumerate(gallery):
                    if not isinstance(entry, Mapping) or not _media_url(entry.get("media")):
                        errors.add(
                            [*here, "items", gindex, "media", "url"],
                            "BASE_TYPE_REQUIRED",
                            "This field is required",
                        )
            elif kind == FILE and not _media_url(item.get("file")).startswith("attachment://"):
                errors.add(
                    [*here, "file", "url"],
                    "COMPONENT_FILE_URL_MUST_BE_ATTACHMENT",
                    "A file component's url must be an attachment:// one",
                )

    walk(components, path, _V2_TOP)
    if total > MAX_V2_TEXT:
        errors.add(
            path,
            "MESSAGE_COMPONENTS_TEXT_TOO_LONG",
            f"The text of a message's components may be at most {MAX_V2_TEXT} characters",
        )


def components_v2_flag_added() -> DiscordError:
    """An edit that sets IS_COMPONENTS_V2 on a message already shown without it."""
    return invalid_form_body(
        {
            "flags": {
                "_errors": [
                    {
                        "code": "MESSAGE_CANNOT_ADD_COMPONENTS_V2_FLAG",
                        "message": "IS_COMPONENTS_V2 can only be set when a message is sent",
                    }
                ]
            }
        }
    )


def _count_components(components: list[Any]) -> int:
    count = 0
    for component in components:
        if isinstance(component, Mapping):
            count += 1
            inner = component.get("components")
            if isinstance(inner, list):
                count += _count_components(inner)
            accessory = component.get("accessory")
            if isinstance(accessory, Mapping):
                count += 1
    return count


def find_component(components: Sequence[Any], custom_id: str) -> Mapping[str, Any] | None:
    """The component with ``custom_id`` anywhere in a message's component tree."""
    for component in components:
        if not isinstance(component, Mapping):
            continue
        if component.get("custom_id") == custom_id:
            return component
        for key in ("components",):
            inner = component.get(key)
            if isinstance(inner, list):
                found = find_component(inner, custom_id)
                if found is not None:
                    return found
        accessory = component.get("accessory")
        if isinstance(accessory, Mapping) and accessory.get("custom_id") == custom_id:
            return accessory
    return None


# -- mentions --------------------------------------------------------------------------------

_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")
_EVERYONE = re.compile(r"@(everyone|here)\b")


def allowed_mentions(
    content: str, allowed: Mapping[str, Any] | None
) -> tuple[list[int], list[int], bool]:
    """(user ids, role ids, @everyone/@here) that ``content`` mentions and that notify.

    As Discord: without ``allowed_mentions`` every mention in the content counts; with it,
    a user counts when ``parse`` has "users" or ``users`` lists them, a role likewise with
    "roles" / ``roles``, and @everyone / @here only with "everyone" in ``parse``. A mention that
    does not count is shown but pings nobody (and is left out of the message's mentions).
    """
    users = [int(m) for m in _USER_MENTION.findall(content)]
    roles = [int(m) for m in _ROLE_MENTION.findall(content)]
    everyone = bool(_EVERYONE.search(content))
    if allowed is None:
        return sorted(set(users)), sorted(set(roles)), everyone
    parse = set(allowed.get("parse") or [])
    listed_users = {int(u) for u in allowed.get("users") or []}
    listed_roles = {int(r) for r in allowed.get("roles") or []}
    users = [u for u in users if "users" in parse or u in listed_users]
    roles = [r for r in roles if "roles" in parse or r in listed_roles]
    return sorted(set(users)), sorted(set(roles)), everyone and "everyone" in parse
