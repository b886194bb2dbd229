"""The house's shape: layers import downward only, and the engine never imports discord."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parents[2] / "bot"

# Each layer and what it must never import (the layers above it, and Discord).
FORBIDDEN = {
    "bot/domain.py": ("bot.store", "bot.guardrails", "bot.jobs", "bot.service", "discord"),
    "bot/store": ("bot.guardrails", "bot.jobs", "bot.service", "bot.discord_adapter", "discord"),
    "bot/guardrails": ("bot.jobs", "bot.service", "bot.discord_adapter", "discord"),
    "bot/jobs": ("bot.service", "bot.discord_adapter", "discord"),
    "bot/service.py": ("bot.discord_adapter", "discord", "cogs"),
    "bot/generate.py": ("bot.discord_adapter", "discord"),
    "bot/videos": ("bot.store", "bot.jobs", "bot.service", "discord"),
    "bot/web.py": ("bot.discord_adapter", "discord"),
    "bot/links.py": ("bot.discord_adapter", "discord"),
    "bot/encoding.py": ("bot.discord_adapter", "discord"),
    "bot/metrics.py": ("bot.service", "bot.discord_adapter", "discord"),
    "bot/team_api.py": ("bot.discord_adapter", "discord", "cogs"),
    "bot/webhooks.py": ("bot.store", "bot.jobs", "bot.service", "bot.discord_adapter", "discord"),
    "bot/openapi.py": ("bot.store", "bot.jobs", "bot.service", "bot.discord_adapter", "discord"),
    "bot/delivery.py": ("bot.store", "bot.jobs", "bot.service", "bot.discord_adapter", "discord"),
}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_no_import_runs_back_up(layer: str) -> None:
    root = BOT.parent / layer
    files = [root] if root.suffix == ".py" else sorted(root.rglob("*.py"))
    assert files
    for path in files:
        for module in imports_of(path):
            for banned in FORBIDDEN[layer]:
                upward = module == banned or module.startswith(banned + ".")
                assert not upward, f"{path.relative_to(BOT.parent)} imports {module}"
