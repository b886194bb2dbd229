"""Validation of requests (and the fake's own responses) against Discord's OpenAPI spec.

The spec is the vendored subset in ``tests/contracts/discord/`` (see its SOURCE.md). Bodies are
checked with jsonschema Draft 2020-12 through a ``referencing`` registry that holds the whole
document, so ``$ref``s resolve exactly as written upstream. Known false positives are not
reported:

* boolean query parameters sent as ``1``/``0`` (discord.py: ``with_response=1``, ``wait=1``,
  ``with_components=0``), which Discord accepts;
* ``attachments[n].id`` sent as an integer (discord.py's upload placeholders and existing
  attachment ids), which Discord's docs allow ("snowflake or number").
* ``recipient_id`` sent as an integer (discord.py opening a DM, ``POST /users/@me/channels``),
  which Discord accepts as it does every snowflake.

And one in the spec's description of Discord's answers (checked for the fake's own
responses): the field errors of a 50035 carry string codes (``"BASE_TYPE_MAX_LENGTH"``), where
the spec's ``Error`` schema says integer.
"""

from __future__ import annotations

import copy
import functools
import json
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_PATH = (
    Path(__file__).resolve().parents[2] / "contracts" / "discord" / "discord-openapi.subset.json"
)
_URI = "urn:discord-openapi"
_BOOLEAN_WORDS = {"true", "false", "1", "0", "True", "False"}


@functools.cache
def spec() -> dict[str, Any]:
    with SPEC_PATH.open(encoding="utf-8") as fh:
        loaded: dict[str, Any] = json.load(fh)
    return loaded


@functools.cache
def _registry() -> Registry[Any]:
    resource: Resource[Any] = Resource.from_contents(spec(), default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(_URI, resource)
    return registry


def _pointer(*parts: str) -> str:
    escaped = (quote(p.replace("~", "~0").replace("/", "~1"), safe="~@") for p in parts)
    return "#/" + "/".join(escaped)


@functools.cache
def _validator(pointer: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": _URI + pointer}, registry=_registry())


def _resolve(node: Any) -> Any:
    """Follow a local ``$ref`` (components/responses, components/schemas...)."""
    while isinstance(node, Mapping) and isinstance(node.get("$ref"), str):
        node = _lookup(node["$ref"])
    return node


def _lookup(ref: str) -> Any:
    node: Any = spec()
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def has_operation(method: str, template: str) -> bool:
    return method.lower() in spec()["paths"].get(template, {})


def _parameters(template: str, method: str) -> dict[tuple[str, str], dict[str, Any]]:
    item = spec()["paths"][template]
    params: dict[tuple[str, str], dict[str, Any]] = {}
    for raw in [*item.get("parameters", []), *item[method].get("parameters", [])]:
        param = _resolve(raw)
        params[(param["in"], param["name"])] = param
    return params


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


def _format(error: ValidationError) -> list[str]:
    if error.validator in ("anyOf", "oneOf") and error.context:
        branches: dict[Any, list[ValidationError]] = defaultdict(list)
        for sub in error.context:
            branches[sub.relative_schema_path[0]].append(sub)
        # Discord's unions are discriminated by "type" (the field) or differ in JSON type
        # (``oneOf: [null, {...}]``): report the branch that was meant.
        meant = [
            errs
            for errs in branches.values()
            if not any(
                list(e.relative_path) == ["type"] and e.validator in ("enum", "const") for e in errs
            )
            and not all(e.validator == "type" and not e.relative_path for e in errs)
        ]
        if len(meant) == 1:
            return [line for sub in meant[0] for line in _format(sub)]
        return _format(best_match(error.context))
    where = error.json_path
    if error.validator in ("maxLength", "minLength", "maxItems", "minItems"):
        size = len(error.instance) if isinstance(error.instance, (str, list)) else "?"
        return [f"{where}: {error.validator} {error.validator_value} (got {size})"]
    return [f"{where}: {error.message if len(error.message) < 200 else _short(error.instance)}"]


def _without_false_positives(body: Any) -> Any:
    """Copy of ``body`` with integer ``attachments[n].id`` and ``recipient_id`` turned into
    digit strings."""

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out = {}
            for key, raw in node.items():
                value = raw
                if key == "attachments" and isinstance(raw, list):
                    value = [
                        {**item, "id": str(item["id"])}
                        if isinstance(item, dict)
                        and isinstance(item.get("id"), int)
                        and not isinstance(item.get("id"), bool)
                        else item
                        for item in raw
                    ]
                if key == "recipient_id" and isinstance(raw, int) and not isinstance(raw, bool):
                    value = str(raw)
                out[key] = walk(value)
            return out
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    return walk(copy.deepcopy(body))


def validate_request(
    method: str,
    template: str,
    *,
    path_params: Mapping[str, str],
    query: Mapping[str, list[str]],
    content_type: str | None,
    body: Any,
    has_body: bool,
    multipart_fields: list[str] | None = None,
) -> list[str]:
    """Problems of one request; ``body`` is the JSON body or the parsed ``payload_json``."""
    m = method.lower()
    label = f"{method.upper()} {template}"
    if not has_operation(m, template):
        return [f"{label}: not an operation of the vendored spec"]
    operation = spec()["paths"][template][m]
    problems: list[str] = []
    params = _parameters(template, m)

    for name, text in path_params.items():
        if ("path", name) not in params:
            continue
        for err in _validator(_param_pointer(template, m, "path", name)).iter_errors(text):
            problems.extend(f"{label}: path parameter {name}: {line}" for line in _format(err))

    for name, values in query.items():
        param = params.get(("query", name))
        if param is None:
            problems.append(f"{label}: unknown query parameter {name!r}")
            continue
        schema = _resolve(param.get("schema", {}))
        for raw in values:
            if schema.get("type") == "boolean":
                if raw not in _BOOLEAN_WORDS:
                    problems.append(f"{label}: query {name}={raw!r} is not a boolean")
                continue
            value: Any = raw
            if schema.get("type") == "integer":
                try:
                    value = int(raw)
                except ValueError:
                    problems.append(f"{label}: query {name}={raw!r} is not an integer")
                    continue
            pointer = _param_pointer(template, m, "query", name)
            for err in _validator(pointer).iter_errors(value):
                problems.extend(f"{label}: query {name}: {line}" for line in _format(err))

    request_body = operation.get("requestBody")
    if request_body is None:
        if has_body:
            problems.append(f"{label}: sent a body but the operation takes none")
        return problems
    if not has_body:
        if request_body.get("required"):
            problems.append(f"{label}: the request body is required")
        return problems
    media = (content_type or "").split(";")[0].strip().lower()
    if media not in request_body["content"]:
        problems.append(f"{label}: content type {media or None!r} not accepted")
        return problems
    if media == "multipart/form-data" and multipart_fields is not None:
        allowed = {"payload_json"} | {f"files[{i}]" for i in range(10)}
        problems.extend(
            f"{label}: unexpected multipart field {field!r}"
            for field in multipart_fields
            if field not in allowed
        )
    pointer = _pointer("paths", template, m, "requestBody", "content", "application/json", "schema")
    for err in _validator(pointer).iter_errors(_without_false_positives(body)):
        problems.extend(f"{label}: body {line}" for line in _format(err))
    return problems


def _param_pointer(template: str, method: str, where: str, name: str) -> str:
    item = spec()["paths"][template]
    for container, base in (
        (item[method].get("parameters", []), ("paths", template, method, "parameters")),
        (item.get("parameters", []), ("paths", template, "parameters")),
    ):
        for index, raw in enumerate(container):
            if "$ref" in raw:
                param = _resolve(raw)
                if param["in"] == where and param["name"] == name:
                    return str(raw["$ref"]) + "/schema"
            elif raw["in"] == where and raw["name"] == name:
                return _pointer(*base, str(index), "schema")
    raise KeyError(name)


def validate_response(method: str, template: str, status: int, body: Any) -> list[str]:
    """Problems of one of the fake's own answers (a fidelity check of the fake itself)."""
    m = method.lower()
    label = f"{method.upper()} {template} -> {status}"
    if not has_operation(m, template):
        return []
    responses = spec()["paths"][template][m]["responses"]
    key = str(status) if str(status) in responses else f"{str(status)[0]}XX"
    if key not in responses:
        return [f"{label}: status not declared by the spec"]
    response = _resolve(responses[key])
    content = response.get("content")
    if content is None:
        return [] if body is None else [f"{label}: the spec declares no body"]
    if body is None:
        return [f"{label}: the spec declares a body"]
    if "$ref" in responses[key]:
        base = responses[key]["$ref"]
        pointer = base + "/content/application~1json/schema"
    else:
        pointer = _pointer(
            "paths", template, m, "responses", key, "content", "application/json", "schema"
        )
    checked = _string_codes_as_ints(body) if isinstance(body, dict) and "errors" in body else body
    return [
        f"{label}: {line}"
        for err in _validator(pointer).iter_errors(checked)
        for line in _format(err)
    ]


def _string_codes_as_ints(body: dict[str, Any]) -> dict[str, Any]:
    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out = {key: walk(value) for key, value in node.items()}
            if isinstance(out.get("_errors"), list):
                out["_errors"] = [
                    {**e, "code": 0}
                    if isinstance(e, dict) and isinstance(e.get("code"), str)
                    else e
                    for e in out["_errors"]
                ]
            return out
        return node

    return {**body, "errors": walk(body["errors"])}


def validate_schema(name: str, instance: Any, label: str) -> list[str]:
    """Problems of ``instance`` against the spec's ``components/schemas/<name>``."""
    pointer = _pointer("components", "schemas", name)
    return [
        f"{label}: {line}"
        for err in _validator(pointer).iter_errors(instance)
        for line in _format(err)
    ]


_RESOLVED_SCHEMAS = {
    "messages": "MessageResponse",
    "attachments": "MessageAttachmentResponse",
    "users": "UserResponse",
    "roles": "GuildRoleResponse",
}


def validate_interaction(payload: Mapping[str, Any]) -> list[str]:
    """Problems of the parts of an INTERACTION_CREATE the spec describes.

    The spec has no schema for the interaction itself (it is not a REST answer), but it has
    one for what it carries: ``message`` and ``data.resolved`` messages, attachments, users
    and roles are checked (a fidelity check of the fake's payloads).
    """
    label = f"INTERACTION_CREATE type {payload.get('type')}"
    problems: list[str] = []
    if "message" in payload:
        problems.extend(validate_schema("MessageResponse", payload["message"], f"{label} message"))
    data = payload.get("data")
    resolved = data.get("resolved") if isinstance(data, Mapping) else None
    if isinstance(resolved, Mapping):
        for kind, schema in _RESOLVED_SCHEMAS.items():
            for key, value in (resolved.get(kind) or {}).items():
                where = f"{label} data.resolved.{kind}[{key}]"
                problems.extend(validate_schema(schema, value, where))
    return problems
