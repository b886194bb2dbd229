"""Validates recorded requests against the vendored OpenAI Videos spec subset."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_PATH = Path(__file__).with_name("openai-videos.openapi.yaml")


@functools.cache
def spec() -> dict[str, Any]:
    with SPEC_PATH.open(encoding="utf-8") as fh:
        loaded: dict[str, Any] = yaml.safe_load(fh)
    return loaded


@functools.cache
def _registry() -> Registry:
    resource = Resource.from_contents(spec(), default_specification=DRAFT202012)
    return Registry().with_resource("spec", resource)


def _operation(method: str, path: str) -> tuple[str, dict[str, Any]]:
    """Find the spec's path template for a concrete /v1 path."""
    relative = path.removeprefix("/v1")
    for template, item in spec()["paths"].items():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, relative) and method.lower() in item:
            return template, item[method.lower()]
    raise AssertionError(f"{method} {path} is not an operation of the Videos API spec")


def _validator(schema: dict[str, Any]) -> Draft202012Validator:
    wrapped = {"$ref": "spec" + schema["$ref"]} if "$ref" in schema else schema
    return Draft202012Validator(wrapped, registry=_registry())


def violations(request: Any) -> list[str]:
    """Every way a recorded request departs from the spec (empty when it conforms).

    `request` has the fake server's RecordedRequest attributes: method, path, query,
    content_type, json_body, form, files.
    """
    method, path, query = request.method, request.path, request.query
    content_type, json_body = request.content_type, request.json_body
    form, files = request.form, request.files
    template, operation = _operation(method, path)
    problems: list[str] = []
    params = {p["name"]: p for p in operation.get("parameters", []) if p.get("in") == "query"}
    for name, value in query.items():
        if name not in params:
            problems.append(f"{template}: unknown query parameter {name}")
            continue
        schema = params[name]["schema"]
        typed: Any = int(value) if schema.get("type") == "integer" and value.isdigit() else value
        errors = _validator(schema).iter_errors(typed)
        problems += [f"{template}?{name}: {e.message}" for e in errors]
    body = operation.get("requestBody")
    if body is None:
        if json_body is not None or form:
            problems.append(f"{template}: the operation takes no body")
        return problems
    media = (content_type or "").split(";")[0].strip()
    if media not in body["content"]:
        return [*problems, f"{template}: content type {media!r} not accepted"]
    schema = body["content"][media]["schema"]
    if media == "multipart/form-data":
        instance: dict[str, Any] = dict(form or {})
        for name in files:
            instance[name] = "<binary>"
    else:
        instance = json_body
    # The spec leaves additionalProperties open, but strict servers (TRT-LLM) reject extras,
    # so the contract is: only fields the spec names.
    known = _resolve(schema).get("properties", {})
    if isinstance(instance, dict):
        extra = [k for k in instance if k not in known]
        problems += [f"{template} body: field {k!r} is not in the spec" for k in extra]
    problems += [
        f"{template} body: {'/'.join(map(str, e.absolute_path)) or '.'}: {e.message}"
        for e in _validator(schema).iter_errors(instance)
    ]
    return problems


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    node: Any = spec()
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return _resolve(node)
