"""Extract the subset of Discord's OpenAPI spec that the fake Discord serves.

Usage (from the repository root, with a checkout of github.com/discord/discord-api-spec)::

    python tests/contracts/discord/extract.py path/to/discord-api-spec/specs/openapi.json

It keeps the operations listed in ``OPERATIONS`` (path template -> methods), every component
they reference (transitively), and the document's header, and writes
``discord-openapi.subset.json`` beside this file. Nothing is rewritten: the kept parts are
byte-for-byte the upstream JSON values, so ``$ref`` pointers stay valid.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

OUTPUT = Path(__file__).with_name("discord-openapi.subset.json")

#: The REST operations the fake implements (and so validates). Keep in sync with
#: ``tests/fakes/discord/server.py`` (a test checks that every served route is here).
OPERATIONS: dict[str, tuple[str, ...]] = {
    "/users/@me": ("get",),
    "/oauth2/applications/@me": ("get",),
    "/gateway": ("get",),
    "/gateway/bot": ("get",),
    "/applications/{application_id}/commands": ("get", "put"),
    "/applications/{application_id}/guilds/{guild_id}/commands": ("get", "put"),
    "/interactions/{interaction_id}/{interaction_token}/callback": ("post",),
    "/webhooks/{webhook_id}/{webhook_token}": ("post",),
    "/webhooks/{webhook_id}/{webhook_token}/messages/@original": ("get", "patch", "delete"),
    "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}": ("get", "patch", "delete"),
    "/channels/{channel_id}": ("get",),
    "/channels/{channel_id}/messages": ("post",),
    "/channels/{channel_id}/messages/{message_id}": ("get", "patch", "delete"),
    "/guilds/{guild_id}": ("get",),
    "/users/@me/channels": ("post",),
}


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            found.add(ref)
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


def extract(spec: dict[str, Any]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for template, methods in OPERATIONS.items():
        item = spec["paths"][template]
        kept = {key: value for key, value in item.items() if key not in _HTTP_METHODS}
        for method in methods:
            kept[method] = item[method]
        paths[template] = kept

    components: dict[str, dict[str, Any]] = {}
    pending = sorted(_refs(paths))
    seen: set[str] = set()
    while pending:
        ref = pending.pop()
        if ref in seen:
            continue
        seen.add(ref)
        if not ref.startswith("#/components/"):
            raise ValueError(f"unexpected reference {ref}")
        _, _, section, name = ref.split("/", 3)
        value = spec["components"][section][name]
        components.setdefault(section, {})[name] = value
        pending.extend(sorted(_refs(value) - seen))

    ordered = {
        section: dict(sorted(entries.items())) for section, entries in sorted(components.items())
    }
    header: dict[str, Any] = {
        key: spec[key] for key in ("openapi", "info", "externalDocs", "servers") if key in spec
    }
    return {**header, "paths": paths, "components": ordered}


_HTTP_METHODS = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="Discord's specs/openapi.json")
    args = parser.parse_args()
    spec = json.loads(args.source.read_text(encoding="utf-8"))
    subset = extract(spec)
    OUTPUT.write_text(json.dumps(subset, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    kinds = {section: len(entries) for section, entries in subset["components"].items()}
    print(f"wrote {OUTPUT.name}: {len(subset['paths'])} paths, components {kinds}")


if __name__ == "__main__":
    main()
