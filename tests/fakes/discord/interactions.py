"""Interaction lifecycle: building INTERACTION_CREATE payloads, callbacks and token rules.

Rules (all timed with the fake clock):

* The first callback must arrive within 3 s of the interaction's creation, else 404 / 10062
  "Unknown interaction". A second accepted callback: 400 / 40060.
* Callback types allowed per interaction type: application command 4, 5, 9; component 4, 5,
  6, 7, 9; autocomplete 8; modal submit 4, 5, and 6, 7 only when a component opened the
  modal (there is a message to update); others: 400 / 50035.
* An autocomplete (4) interaction (``FakeDiscord.send_autocomplete``) focuses one option
  registered with ``autocomplete: true``, its value the text typed so far; its result (8)
  carries at most 25 choices whose values have the option's type (else 400 / 50035).
* A MODAL (9) callback is checked beyond the spec (``_check_modal``) and kept as ``it.modal``
  with the ids Discord gives its components; ``FakeDiscord.submit_modal`` builds the
  MODAL_SUBMIT from it (``build_modal_submit``), refusing what no client could submit.
* Webhook routes with the token (``/webhooks/{app}/{token}...``): 15 minutes after creation
  every call is 401 / 50027 "Invalid Webhook Token" (counted per token); before the
  interaction was acknowledged: 404 / 10015 "Unknown Webhook".
* Uploads above the interaction's ``attachment_size_limit``: 413 / 40005.
* Where the app is no member (a user's own install used in a server without the bot, a group
  DM or a DM between members), at most ``MAX_EXTERNAL_FOLLOWUPS`` (5) follow-ups per
  interaction, then 400 / 40094.
* After a defer (5), the first followup replaces the "thinking..." message (Discord does this
  for backwards compatibility) and its flags are ignored.
* Gone things (``FakeDiscord.delete_message`` / ``delete_channel`` / ``remove_bot``): a message
  that was deleted, or lived in a deleted channel, is 404 / 10008 on every webhook route; a
  callback or followup that would create a message in a deleted channel is 404 / 10003; after
  ``remove_bot`` the guild's interaction webhooks are 404 / 10015 (the server checks that).
  New interactions cannot be sent from a deleted channel or a guild the bot left.
"""

from __future__ import annotations

import base64
import copy
import secrets
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import rules
from .messages import _with_ids
from .records import (
    CallbackRecord,
    FakeAttachment,
    FakeChannel,
    FakeGuild,
    FakeInteraction,
    FakeMember,
    FakeMessage,
    FakeUser,
    UploadedFile,
)

if TYPE_CHECKING:
    from .server import FakeDiscord

APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
AUTOCOMPLETE = 4
MODAL_SUBMIT = 5

ALLOWED_CALLBACKS = {
    1: {1},
    APPLICATION_COMMAND: {4, 5, 9},
    MESSAGE_COMPONENT: {4, 5, 6, 7, 9},
    AUTOCOMPLETE: {8},
    MODAL_SUBMIT: {4, 5, 6, 7},
}

# Application command types.
COMMAND_CHAT_INPUT = 1
COMMAND_USER = 2
COMMAND_MESSAGE = 3

# Message types of interaction answers.
MESSAGE_DEFAULT = 0
MESSAGE_CHAT_INPUT_COMMAND = 20
MESSAGE_CONTEXT_MENU_COMMAND = 23

_OPTION_SUBCOMMAND = 1
_OPTION_GROUP = 2
_OPTION_USER = 6
_OPTION_CHANNEL = 7
_OPTION_ROLE = 8
_OPTION_MENTIONABLE = 9
_OPTION_ATTACHMENT = 11


def new_token(interaction_id: int) -> str:
    raw = f"interaction:{interaction_id}:{secrets.token_urlsafe(96)}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# --- building interactions -------------------------------------------------------------------


def _context(
    fake: FakeDiscord,
    *,
    guild: FakeGuild | None,
    channel: FakeChannel | None,
    member: FakeMember | None,
    user: FakeUser | None,
    user_install: bool = False,
) -> tuple[FakeGuild | None, FakeChannel, FakeMember | None, FakeUser]:
    if guild is None and channel is not None:
        guild = channel.guild
    if guild is None and member is not None:
        guild = member.guild
    if guild is not None and not guild.has_bot and not user_install:
        if guild.bot_removed:
            raise ValueError(
                f"the bot was removed from guild {guild.name!r}: nobody can invoke it"
                " (but through their own install: user_install=True)"
            )
        raise ValueError(
            f"guild {guild.name!r} never installed the app: a member uses it there through"
            " their own install (user_install=True)"
        )
    if channel is not None and channel.deleted:
        raise ValueError(f"channel {channel.name!r} was deleted")
    if guild is not None:
        if channel is None:
            if not guild.channels:
                raise ValueError(f"guild {guild.name!r} has no channel: add_channel() first")
            channel = guild.channels[0]
        if channel.guild is not guild:
            raise ValueError("the channel is not in that guild")
        if member is None:
            if user is not None:
                member = guild.member(user.id)
            else:
                member = next((m for m in guild.members if m.user.id != fake.bot_user.id), None)
            if member is None:
                raise ValueError("no member to invoke with: add_member() first")
        if member.guild is not guild:
            raise ValueError("the member is not in that guild")
        return guild, channel, member, member.user
    if member is not None:
        raise ValueError("a member needs a guild")
    if user is None:
        raise ValueError("a DM interaction needs user=")
    if channel is None:
        channel = fake.dm_channel(user)
    if channel.private_recipients is not None:
        if all(u.id != user.id for u in channel.private_recipients):
            raise ValueError("the user is not in that group DM")
        if not user_install:
            raise ValueError(
                "the app is no member of a group DM or a DM between members: a user uses it"
                " there through their own install (user_install=True)"
            )
    elif channel.recipient is not None and channel.recipient.id != user.id:
        raise ValueError("that DM is another user's")
    return None, channel, None, user


def context_type(guild: FakeGuild | None, channel: FakeChannel) -> int:
    """The interaction context: 0 a server, 1 the bot's DM, 2 a group DM or a DM between
    members."""
    if guild is not None:
        return 0
    return 1 if channel.private_recipients is None else 2


def _base_payload(
    fake: FakeDiscord,
    *,
    interaction_id: int,
    token: str,
    itype: int,
    guild: FakeGuild | None,
    channel: FakeChannel,
    member: FakeMember | None,
    user: FakeUser,
    attachment_size_limit: int,
    locale: str,
    user_install: bool = False,
) -> dict[str, Any]:
    """The parts every interaction carries. ``authorizing_integration_owners``: ``"0"`` the
    server's install (the guild id; ``"0"`` in the bot's DM), ``"1"`` the user's own (their
    id); where the app is no member, ``app_permissions`` is what an external app's answers
    may carry."""
    member_app = channel.bot_present
    app_permissions = channel.bot_permissions if member_app else rules.EXTERNAL_APP_PERMISSIONS
    owners: dict[str, str] = {}
    if guild is not None and guild.has_bot:
        owners["0"] = str(guild.id)
    elif guild is None and member_app and not user_install:
        owners["0"] = "0"  # a guild-installed app in its bot's DM (Discord's convention)
    if user_install:
        owners["1"] = str(user.id)
    payload: dict[str, Any] = {
        "id": str(interaction_id),
        "application_id": str(fake.app_id),
        "type": itype,
        "token": token,
        "version": 1,
        "locale": locale,
        "entitlements": [],
        "entitlement_sku_ids": [],
        "attachment_size_limit": attachment_size_limit,
        "app_permissions": str(app_permissions),
        "authorizing_integration_owners": owners,
        "context": context_type(guild, channel),
    }
    channel_payload = channel.to_payload()
    if guild is not None:
        assert member is not None
        channel_payload["permissions"] = str(member.permissions)
        payload.update(
            {
                "guild_id": str(guild.id),
                "guild": {"id": str(guild.id), "locale": guild.locale, "features": []},
                "guild_locale": guild.locale,
                "member": member.to_payload(with_permissions=True),
            }
        )
    else:
        payload["user"] = user.to_payload()
    payload["channel"] = channel_payload
    payload["channel_id"] = str(channel.id)
    return payload


def build_command_interaction(
    fake: FakeDiscord,
    *,
    name: str,
    options: Sequence[Mapping[str, Any]] | None,
    guild: FakeGuild | None,
    channel: FakeChannel | None,
    member: FakeMember | None,
    user: FakeUser | None,
    attachments: Any,
    attachment_size_limit: int | None,
    locale: str,
    command_type: int,
    target_id: int | None,
    resolved: Mapping[str, Any] | None,
    require_registered: bool = False,
    itype: int = APPLICATION_COMMAND,
    user_install: bool = False,
) -> FakeInteraction:
    guild, channel, member, user = _context(
        fake, guild=guild, channel=channel, member=member, user=user, user_install=user_install
    )
    command = fake.registered_command(
        name,
        command_type=command_type,
        guild=guild,
        context=context_type(guild, channel),
        user_install=user_install,
    )
    if command is None and require_registered:
        kinds = {COMMAND_CHAT_INPUT: "slash", COMMAND_USER: "user", COMMAND_MESSAGE: "message"}
        raise ValueError(
            f"the bot synced no {kinds.get(command_type, command_type)} command {name!r}"
            " (a client only offers synced commands)"
        )
    option_list = [dict(o) for o in options or []]
    focused: Mapping[str, Any] | None = None
    if itype == AUTOCOMPLETE:
        assert command is not None  # require_registered
        focused = _check_autocomplete(command.get("options") or [], option_list, path=name)
    elif command is not None:
        _check_options(command.get("options") or [], option_list, path=name)
    interaction_id = fake.snowflakes.next()
    token = new_token(interaction_id)
    limit = attachment_size_limit if attachment_size_limit is not None else channel.upload_limit
    payload = _base_payload(
        fake,
        interaction_id=interaction_id,
        token=token,
        itype=itype,
        guild=guild,
        channel=channel,
        member=member,
        user=user,
        attachment_size_limit=limit,
        locale=locale,
        user_install=user_install,
    )
    data: dict[str, Any] = {
        "id": str(command["id"]) if command is not None else str(fake.snowflakes.next()),
        "name": name,
        "type": command_type,
    }
    if command is not None and command.get("guild_id"):
        data["guild_id"] = command["guild_id"]
    if option_list:
        data["options"] = option_list
    if target_id is not None:
        data["target_id"] = str(target_id)
    resolved_payload = _resolved(fake, guild, option_list, attachments, resolved)
    if resolved_payload:
        data["resolved"] = resolved_payload
    payload["data"] = data
    interaction = FakeInteraction(
        fake,
        id=interaction_id,
        token=token,
        type=itype,
        name=name,
        command_type=command_type,
        user=user,
        member=member,
        guild=guild,
        channel=channel,
        created_at=fake.clock.now(),
        attachment_size_limit=limit,
        payload=payload,
    )
    interaction.command_registered = command is not None
    interaction.focused = None if focused is None else dict(focused)
    return interaction


def build_component_interaction(
    fake: FakeDiscord,
    *,
    message: FakeMessage,
    custom_id: str,
    member: FakeMember | None,
    user: FakeUser | None,
    values: Sequence[str] | None,
    attachment_size_limit: int | None,
    locale: str,
    user_install: bool | None = None,
) -> FakeInteraction:
    """A click on ``message``; ``user_install`` None: authorized as the interaction that made
    the message was (a message the bot posted itself: by the user's install where the app
    is no member)."""
    if message.deleted:
        raise ValueError("that message was deleted")
    component = rules.find_component(message.components, custom_id)
    if component is None:
        raise ValueError(f"message {message.id} has no component with custom_id {custom_id!r}")
    if component.get("disabled"):
        raise ValueError(f"component {custom_id!r} is disabled: a user cannot click it")
    channel = message.channel
    if user_install is None:
        made_by = message.interaction
        user_install = made_by.user_install if made_by is not None else not channel.bot_present
    guild, channel, member, user = _context(
        fake,
        guild=channel.guild,
        channel=channel,
        member=member,
        user=user,
        user_install=user_install,
    )
    interaction_id = fake.snowflakes.next()
    token = new_token(interaction_id)
    limit = attachment_size_limit if attachment_size_limit is not None else channel.upload_limit
    payload = _base_payload(
        fake,
        interaction_id=interaction_id,
        token=token,
        itype=MESSAGE_COMPONENT,
        guild=guild,
        channel=channel,
        member=member,
        user=user,
        attachment_size_limit=limit,
        locale=locale,
        user_install=user_install,
    )
    data: dict[str, Any] = {"custom_id": custom_id, "component_type": component.get("type")}
    if values is not None:
        data["values"] = list(values)
    elif component.get("type") in (3, 5, 6, 7, 8):
        data["values"] = []
    payload["data"] = data
    payload["message"] = message.to_payload()
    return FakeInteraction(
        fake,
        id=interaction_id,
        token=token,
        type=MESSAGE_COMPONENT,
        name=None,
        command_type=None,
        user=user,
        member=member,
        guild=guild,
        channel=channel,
        created_at=fake.clock.now(),
        attachment_size_limit=limit,
        payload=payload,
        message=message,
    )


def build_modal_submit(
    fake: FakeDiscord,
    parent: FakeInteraction,
    values: Mapping[str, str | Sequence[str]],
    *,
    member: FakeMember | None,
    user: FakeUser | None,
    at_age: float,
) -> FakeInteraction:
    """The MODAL_SUBMIT Discord sends when the user submits the modal ``parent`` showed."""
    modal = parent.modal
    if parent.response_type != 9 or modal is None:
        raise ValueError(f"{parent!r} was not answered with a modal (callback type 9)")
    for submitter in (member, user):
        if submitter is not None and submitter.id != parent.user.id:
            raise ValueError("only the user who was shown the modal can submit it")
    answered = [s for s in parent.modal_submits if s.acknowledged]
    if answered:
        raise ValueError(
            f"the modal closed when the bot answered {answered[0]!r}: it cannot be submitted"
        )
    if at_age < 0:
        raise ValueError("at_age: seconds >= 0")
    # ValueError, not TypeError, for every submission no client could make (the tests' API)
    if not isinstance(values, Mapping):
        raise ValueError("values: a mapping of custom_id to the value(s) submitted")  # noqa: TRY004
    components = modal_submission(modal, values)

    guild, channel, member, user = _context(
        fake,
        guild=parent.guild,
        channel=parent.channel,
        member=parent.member,
        user=parent.user,
        user_install=parent.user_install,
    )
    interaction_id = fake.snowflakes.at(fake.clock.wall() - at_age)
    token = new_token(interaction_id)
    payload = _base_payload(
        fake,
        interaction_id=interaction_id,
        token=token,
        itype=MODAL_SUBMIT,
        guild=guild,
        channel=channel,
        member=member,
        user=user,
        attachment_size_limit=parent.attachment_size_limit,
        locale=str(parent.payload.get("locale", "en-US")),
        user_install=parent.user_install,
    )
    payload["data"] = {"custom_id": modal["custom_id"], "components": components}
    message = parent.message if parent.type == MESSAGE_COMPONENT else None
    if message is not None:
        payload["message"] = message.to_payload()
    interaction = FakeInteraction(
        fake,
        id=interaction_id,
        token=token,
        type=MODAL_SUBMIT,
        name=None,
        command_type=None,
        user=user,
        member=member,
        guild=guild,
        channel=channel,
        created_at=fake.clock.now() - at_age,
        attachment_size_limit=parent.attachment_size_limit,
        payload=payload,
        message=message,
    )
    interaction.triggering = parent
    parent.modal_submits.append(interaction)
    return interaction


_TEXT_INPUT = 4
_STRING_SELECT = 3
_TEXT_DISPLAY = 10
_LABEL = 18
_ACTION_ROW = 1
MAX_TEXT_INPUT = 4000


def modal_submission(
    modal: Mapping[str, Any], values: Mapping[str, str | Sequence[str]]
) -> list[dict[str, Any]]:
    """``data.components`` of the submit of ``modal`` (whose components carry their ids)."""
    used: set[str] = set()

    def field(component: Mapping[str, Any]) -> dict[str, Any]:
        ctype = component.get("type")
        custom_id = component.get("custom_id")
        if ctype not in (_TEXT_INPUT, _STRING_SELECT) or not isinstance(custom_id, str):
            raise ValueError(f"the fake cannot submit a modal component of type {ctype} yet")
        used.add(custom_id)
        given = values.get(custom_id)
        base = {"type": ctype, "id": component["id"], "custom_id": custom_id}
        if ctype == _TEXT_INPUT:
            return {**base, "value": _text_value(component, custom_id, given)}
        return {**base, "values": _select_values(component, custom_id, given)}

    submitted: list[dict[str, Any]] = []
    for top in modal.get("components") or []:
        ttype = top.get("type")
        if ttype == _ACTION_ROW:
            row = [field(child) for child in top.get("components") or []]
            submitted.append({"type": _ACTION_ROW, "id": top["id"], "components": row})
        elif ttype == _LABEL:
            submitted.append(
                {"type": _LABEL, "id": top["id"], "component": field(top["component"])}
            )
        elif ttype == _TEXT_DISPLAY:
            submitted.append({"type": _TEXT_DISPLAY, "id": top["id"]})
        else:
            raise ValueError(f"the fake cannot submit a modal component of type {ttype} yet")
    unknown = sorted(set(values) - used)
    if unknown:
        raise ValueError(f"the modal has no input with custom_id {unknown}")
    return submitted


def _text_value(component: Mapping[str, Any], custom_id: str, given: Any) -> str:
    if given is None:
        given = component.get("value") or ""  # a pre-filled value is submitted as it is
    if not isinstance(given, str):
        raise ValueError(f"text input {custom_id!r} takes a str, not {given!r}")  # noqa: TRY004
    required = component.get("required")
    if given == "":
        if required is None or required:
            raise ValueError(
                f"text input {custom_id!r} is required: a client cannot leave it empty"
            )
        return given
    low = component.get("min_length") or 0
    high = min(component.get("max_length") or MAX_TEXT_INPUT, MAX_TEXT_INPUT)
    if not low <= len(given) <= high:
        raise ValueError(
            f"text input {custom_id!r} takes {low} to {high} characters, not {len(given)}"
        )
    if component.get("style", 1) == 1 and "\n" in given:
        raise ValueError(f"text input {custom_id!r} is a short (one-line) input")
    return given


def _select_values(component: Mapping[str, Any], custom_id: str, given: Any) -> list[str]:
    options = [o.get("value") for o in component.get("options") or [] if isinstance(o, Mapping)]
    if given is None:  # what the client shows selected: the default options
        given = [o["value"] for o in component.get("options") or [] if o.get("default")]
    if isinstance(given, str) or not (
        isinstance(given, Sequence) and all(isinstance(v, str) for v in given)
    ):
        raise ValueError(f"string select {custom_id!r} takes a list of option values")
    chosen = list(given)
    required = component.get("required")
    if not chosen and required is not None and not required:
        return chosen  # an optional select may be left alone
    low = component.get("min_values")
    high = component.get("max_values")
    low = 1 if low is None else low
    high = 1 if high is None else high
    if not chosen:
        raise ValueError(f"string select {custom_id!r} is required: choose at least one option")
    if not low <= len(chosen) <= high:
        raise ValueError(
            f"string select {custom_id!r} takes {low} to {high} values, not {len(chosen)}"
        )
    if len(set(chosen)) != len(chosen):
        raise ValueError(f"string select {custom_id!r}: an option can be chosen once")
    strangers = [v for v in chosen if v not in options]
    if strangers:
        raise ValueError(f"string select {custom_id!r} has no option(s) {strangers}")
    return chosen


def _check_options(
    declared: Sequence[Mapping[str, Any]], given: Sequence[Mapping[str, Any]], *, path: str
) -> None:
    """A real client only sends options that match the registered command: so must tests."""
    by_name = {o["name"]: o for o in declared}
    for option in given:
        spec = by_name.get(option.get("name"))
        if spec is None:
            raise ValueError(f"/{path}: no option {option.get('name')!r} was registered")
        if option.get("type") != spec.get("type"):
            raise ValueError(
                f"/{path}: option {spec['name']!r} has type {spec.get('type')},"
                f" the test sent {option.get('type')}"
            )
        if spec.get("type") in (_OPTION_SUBCOMMAND, _OPTION_GROUP):
            _check_options(
                spec.get("options") or [],
                option.get("options") or [],
                path=f"{path} {spec['name']}",
            )
    if declared and declared[0].get("type") in (_OPTION_SUBCOMMAND, _OPTION_GROUP):
        if len(given) != 1:
            raise ValueError(f"/{path}: exactly one subcommand must be given")
        return
    names = {o.get("name") for o in given}
    missing = [o["name"] for o in declared if o.get("required") and o["name"] not in names]
    if missing:
        raise ValueError(f"/{path}: required options missing: {missing}")


_AUTOCOMPLETE_TYPES = (3, 4, 10)  # string, integer, number


def _check_autocomplete(
    declared: Sequence[Mapping[str, Any]], given: list[dict[str, Any]], *, path: str
) -> Mapping[str, Any]:
    """What a client sends while a member types in an autocomplete option; returns the spec of
    the focused option.

    The options filled in so far (required ones may still be missing), exactly one of them
    ``focused: true``, declared with ``autocomplete: true``; its value is the text typed so
    far, a string whatever the option's type (Discord sends partial input as typed: "1" of
    "12" in an integer option). A subcommand's options sit inside it, as for a command.
    """
    by_name = {o["name"]: o for o in declared}
    if declared and declared[0].get("type") in (_OPTION_SUBCOMMAND, _OPTION_GROUP):
        if len(given) != 1 or given[0].get("name") not in by_name:
            raise ValueError(f"/{path}: exactly one subcommand must be given")
        spec = by_name[given[0]["name"]]
        inner = [dict(o) for o in given[0].get("options") or []]
        given[0]["options"] = inner
        return _check_autocomplete(spec.get("options") or [], inner, path=f"{path} {spec['name']}")
    focused = [o for o in given if o.get("focused")]
    if len(focused) != 1:
        raise ValueError(f"/{path}: an autocomplete interaction focuses exactly one option")
    for option in given:
        spec = by_name.get(option.get("name"))
        if spec is None:
            raise ValueError(f"/{path}: no option {option.get('name')!r} was registered")
        if option.get("type") != spec.get("type"):
            raise ValueError(
                f"/{path}: option {spec['name']!r} has type {spec.get('type')},"
                f" the test sent {option.get('type')}"
            )
    spec = by_name[focused[0]["name"]]
    if not spec.get("autocomplete") or spec.get("type") not in _AUTOCOMPLETE_TYPES:
        raise ValueError(
            f"/{path}: option {spec['name']!r} was not registered with autocomplete;"
            " a client never asks for suggestions for it"
        )
    if not isinstance(focused[0].get("value"), str):
        raise TypeError(f"/{path}: the focused option's value is the text typed (a string)")
    return spec


def check_autocomplete_choices(it: FakeInteraction, choices: Any) -> None:
    """An AUTOCOMPLETE_RESULT (8): at most 25 choices (the spec's schema checks their names,
    1-100 characters), each value of the focused option's type (Discord: 50035)."""
    errors = rules.FormErrors()
    if not isinstance(choices, list) or len(choices) > 25:
        errors.max_length(["data", "choices"], 25)
        errors.raise_if_any()
    option_type = (it.focused or {}).get("type")
    expected: tuple[type, ...] = {3: (str,), 4: (int,), 10: (int, float)}.get(
        option_type or 0, (object,)
    )
    for index, choice in enumerate(choices):
        value = choice.get("value") if isinstance(choice, Mapping) else None
        if not isinstance(value, expected) or isinstance(value, bool):
            errors.add(
                ["data", "choices", index, "value"],
                "APPLICATION_COMMAND_OPTION_CHOICE_VALUE_INVALID",
                f"Choice value must be of the option's type ({option_type})",
            )
        if option_type == 3 and isinstance(value, str) and len(value) > 100:
            errors.max_length(["data", "choices", index, "value"], 100)
    errors.raise_if_any()


def _resolved(
    fake: FakeDiscord,
    guild: FakeGuild | None,
    options: Sequence[Mapping[str, Any]],
    attachments: Any,
    extra: Mapping[str, Any] | None,
) -> dict[str, Any]:
    resolved: dict[str, dict[str, Any]] = {}
    for attachment in _attachment_list(attachments):
        resolved.setdefault("attachments", {})[str(attachment.id)] = attachment.to_payload()
    if isinstance(attachments, Mapping):
        for key, value in attachments.items():
            resolved.setdefault("attachments", {})[str(key)] = dict(value)

    def walk(opts: Sequence[Mapping[str, Any]]) -> None:
        for option in opts:
            otype = option.get("type")
            if otype in (_OPTION_SUBCOMMAND, _OPTION_GROUP):
                walk(option.get("options") or [])
            elif otype in (_OPTION_USER, _OPTION_MENTIONABLE):
                uid = int(option["value"])
                found = fake.users.get(uid)
                if found is not None:
                    resolved.setdefault("users", {})[str(uid)] = found.to_payload()
                    member = guild.member(uid) if guild is not None else None
                    if member is not None:
                        data = member.to_payload(with_permissions=True)
                        data.pop("user")
                        resolved.setdefault("members", {})[str(uid)] = data
            elif otype == _OPTION_CHANNEL:
                cid = int(option["value"])
                channel = fake.channels.get(cid)
                if channel is not None:
                    data = channel.to_payload()
                    data["permissions"] = str(channel.bot_permissions)
                    resolved.setdefault("channels", {})[str(cid)] = data
            elif otype == _OPTION_ROLE and guild is not None:
                rid = int(option["value"])
                role = next((r for r in guild.roles if r.id == rid), None)
                if role is not None:
                    resolved.setdefault("roles", {})[str(rid)] = role.to_payload()
            elif otype == _OPTION_ATTACHMENT:
                key = str(option["value"])
                if key not in resolved.get("attachments", {}):
                    raise ValueError(
                        f"attachment option {option.get('name')!r} refers to {key},"
                        " which is not among attachments="
                    )

    walk(options)
    for kind, entries in (extra or {}).items():
        resolved.setdefault(kind, {}).update(entries)
    return resolved


def _attachment_list(attachments: Any) -> list[FakeAttachment]:
    if attachments is None or isinstance(attachments, Mapping):
        return []
    if isinstance(attachments, FakeAttachment):
        return [attachments]
    return [a for a in attachments if isinstance(a, FakeAttachment)]


# --- callbacks ---------------------------------------------------------------------------------


def _truthy(values: Sequence[str] | None) -> bool:
    return bool(values) and values[-1].lower() in ("1", "true")  # type: ignore[index]


def handle_callback(
    fake: FakeDiscord,
    interaction: FakeInteraction,
    body: Any,
    files: Sequence[UploadedFile],
    *,
    with_response: Sequence[str] | None,
    route: str,
) -> tuple[int, Any]:
    """``POST /interactions/{id}/{token}/callback``; returns (status, JSON body or None)."""
    elapsed = fake.clock.now() - interaction.created_at
    ctype = body.get("type") if isinstance(body, Mapping) else None
    data = body.get("data") if isinstance(body, Mapping) else None
    record = CallbackRecord(
        type=ctype if isinstance(ctype, int) else -1,
        data=copy.deepcopy(data) if isinstance(data, dict) else None,
        time=elapsed,
        status=0,
        files=list(files),
    )
    interaction.callbacks.append(record)
    try:
        status, answer = _callback(
            fake,
            interaction,
            ctype=ctype,
            data=data,
            files=files,
            elapsed=elapsed,
            with_response=with_response,
            route=route,
        )
    except rules.DiscordError as exc:
        record.status = exc.status
        record.error_code = exc.code
        raise
    record.status = status
    return status, answer


def _callback(
    fake: FakeDiscord,
    it: FakeInteraction,
    *,
    ctype: Any,
    data: Any,
    files: Sequence[UploadedFile],
    elapsed: float,
    with_response: Sequence[str] | None,
    route: str,
) -> tuple[int, Any]:
    if it.acknowledged:
        raise rules.already_acknowledged()
    if elapsed > rules.ACK_DEADLINE:
        raise rules.unknown_interaction()
    allowed = ALLOWED_CALLBACKS.get(it.type, set())
    if it.type == MODAL_SUBMIT and it.message is None:
        allowed = allowed - {6, 7}  # no message to update: the modal came from a command
    if not isinstance(ctype, int) or ctype not in allowed:
        errors = rules.FormErrors()
        errors.add(
            ["type"],
            "INTERACTION_RESPONSE_TYPE_INVALID",
            f"Interaction response type {ctype!r} is not valid for interaction type {it.type}",
        )
        errors.raise_if_any()
    payload = rules.check_body_is_object(data, ["data"])
    if ctype in (4, 5) and it.channel.deleted:
        raise rules.unknown_channel()
    clicked = it.message
    if ctype == 7 and clicked is not None and (clicked.deleted or clicked.channel.deleted):
        raise rules.unknown_message()
    bot = fake.bot_user
    message: FakeMessage | None = None
    message_type = MESSAGE_CHAT_INPUT_COMMAND if it.type == APPLICATION_COMMAND else MESSAGE_DEFAULT
    if it.type == APPLICATION_COMMAND and it.command_type in (2, 3):
        message_type = MESSAGE_CONTEXT_MENU_COMMAND

    if ctype == 4:
        message = fake.store.create(
            channel=it.channel,
            author=bot,
            payload=payload,
            files=files,
            limit=it.attachment_size_limit,
            allow_ephemeral=True,
            interaction=it,
            message_type=message_type,
            webhook_id=fake.app_id,
            error_prefix=["data"],
        )
        it.original = message
    elif ctype == 5:
        if files:
            raise rules.bad_request("A deferred response cannot carry files")
        flags = int(payload.get("flags") or 0) & rules.FLAG_EPHEMERAL
        message = fake.store.create(
            channel=it.channel,
            author=bot,
            payload={"flags": flags},
            files=[],
            limit=it.attachment_size_limit,
            allow_ephemeral=True,
            interaction=it,
            message_type=message_type,
            webhook_id=fake.app_id,
            loading=True,
        )
        it.original = message
    elif ctype == 6:
        it.original = it.message
    elif ctype == 7:
        assert it.message is not None
        fake.store.edit(
            it.message,
            payload,
            files,
            limit=it.attachment_size_limit,
            via="callback",
            method="POST",
            route=route,
            error_prefix=["data"],
        )
        it.original = it.message
        message = it.message
    elif ctype == 9:
        _check_modal(payload)
        it.modal = {
            "custom_id": payload["custom_id"],
            "title": payload["title"],
            "components": _with_ids(payload["components"]),
        }
    elif ctype == 8:
        check_autocomplete_choices(it, payload.get("choices"))
        it.autocomplete_choices = list(payload["choices"])

    it.response_type = ctype
    it.acked_at = elapsed
    if it.original is not None:
        it.ephemeral = it.original.ephemeral
    if not _truthy(with_response):
        return 204, None
    callback: dict[str, Any] = {"id": str(it.id), "type": it.type}
    if it.original is not None:
        callback["response_message_id"] = str(it.original.id)
        callback["response_message_loading"] = it.original.loading
        callback["response_message_ephemeral"] = it.original.ephemeral
    answer: dict[str, Any] = {"interaction": callback}
    if ctype in (4, 7) and message is not None:
        answer["resource"] = {"type": ctype, "message": message.to_payload()}
    return 200, answer


def _check_modal(payload: Mapping[str, Any]) -> None:
    """Discord's checks of a MODAL callback beyond the spec's schema.

    ``custom_id`` 1-100 and ``title`` 1-45 characters, 1-5 top-level components, custom ids
    unique within the modal, nothing disabled ("Modals can not currently have disabled
    components"), a string select's ``min_values`` <= ``max_values`` <= its options.
    """
    errors = rules.FormErrors()
    for key, limit in (("custom_id", 100), ("title", 45)):
        value = payload.get(key)
        if not isinstance(value, str) or not value:
            errors.add(["data", key], "BASE_TYPE_REQUIRED", "This field is required")
        elif len(value) > limit:
            errors.max_length(["data", key], limit)
    components = payload.get("components")
    if not isinstance(components, list) or not 1 <= len(components) <= 5:
        errors.add(
            ["data", "components"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length."
        )
        errors.raise_if_any()
    assert isinstance(components, list)
    seen: set[str] = set()
    for index, top in enumerate(components):
        if not isinstance(top, Mapping):
            continue
        here: list[str | int] = ["data", "components", index]
        if top.get("type") == _LABEL:
            children = [(["component"], top.get("component"))]
        else:
            inner = top.get("components")
            children = [
                (["components", i], child)
                for i, child in enumerate(inner if isinstance(inner, list) else [])
            ]
        for where, child in children:
            if not isinstance(child, Mapping):
                continue
            path = [*here, *where]
            custom_id = child.get("custom_id")
            if isinstance(custom_id, str):
                if custom_id in seen:
                    errors.add(
                        [*path, "custom_id"],
                        "COMPONENT_CUSTOM_ID_DUPLICATED",
                        "Component custom id cannot be duplicated",
                    )
                seen.add(custom_id)
            if child.get("disabled"):
                errors.add(
                    [*path, "disabled"],
                    "COMPONENT_DISABLED_IN_MODAL",  # the fake's code; Discord's docs say "error"
                    "Modals can not currently have disabled components",
                )
            if child.get("type") == _STRING_SELECT:
                options = child.get("options")
                count = len(options) if isinstance(options, list) else 0
                low = child.get("min_values")
                high = child.get("max_values")
                low = 1 if low is None else low
                high = 1 if high is None else high
                if isinstance(low, int) and isinstance(high, int) and not low <= high <= count:
                    errors.add(
                        [*path, "max_values"],
                        "BASE_TYPE_BAD_INT",  # the fake's code
                        f"max_values must be between min_values ({low}) and the number of"
                        f" options ({count})",
                    )
    errors.raise_if_any()


# --- webhook (token) routes ---------------------------------------------------------------------


def webhook_interaction(fake: FakeDiscord, webhook_id: str, token: str) -> FakeInteraction:
    """The interaction behind ``/webhooks/{webhook_id}/{token}``, or the error Discord gives."""
    it = fake.interactions_by_token.get(token)
    if webhook_id != str(fake.app_id):
        raise rules.unknown_webhook()
    if it is None or it.token_expired:
        fake.count_token_failure(token)
        if it is not None:
            it.count_50027 += 1
        raise rules.invalid_webhook_token()
    if not it.acknowledged:
        raise rules.unknown_webhook()
    return it


def webhook_message(it: FakeInteraction, message_id: str) -> FakeMessage:
    if message_id == "@original":
        message = it.original
    else:
        candidates = [m for m in [it.original, *it.followups] if m is not None]
        message = next((m for m in candidates if str(m.id) == message_id), None)
    if message is None or message.deleted or message.channel.deleted:
        raise rules.unknown_message()
    return message


def execute_followup(
    fake: FakeDiscord,
    it: FakeInteraction,
    payload: Mapping[str, Any],
    files: Sequence[UploadedFile],
    *,
    route: str,
) -> FakeMessage:
    if not it.app_member and it.followup_posts >= rules.MAX_EXTERNAL_FOLLOWUPS:
        raise rules.too_many_followups()
    original = it.original
    if it.response_type == 5 and original is not None and original.loading and not original.deleted:
        # The first followup after a defer edits the "thinking..." message; its flags are
        # ignored, except IS_COMPONENTS_V2, which Discord takes here (never on the defer).
        edit = {k: v for k, v in payload.items() if k != "flags"}
        if int(payload.get("flags") or 0) & rules.FLAG_IS_COMPONENTS_V2:
            edit["flags"] = rules.FLAG_IS_COMPONENTS_V2
        fake.store.edit(
            original,
            edit,
            files,
            limit=it.attachment_size_limit,
            via="followup",
            method="POST",
            route=route,
        )
        it.followups.append(original)
        it.followup_posts += 1
        return original
    message_type = MESSAGE_CHAT_INPUT_COMMAND if it.type == APPLICATION_COMMAND else MESSAGE_DEFAULT
    message = fake.store.create(
        channel=it.channel,
        author=fake.bot_user,
        payload=payload,
        files=files,
        limit=it.attachment_size_limit,
        allow_ephemeral=True,
        interaction=it,
        message_type=message_type,
        webhook_id=fake.app_id,
    )
    it.followups.append(message)
    it.followup_posts += 1
    return message
