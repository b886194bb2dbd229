"""The house's shape: layers import downward only, front ends see only the service, and the
engine never imports discord."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

ENGINE_INTERNALS = ("bot.store", "bot.guardrails", "bot.jobs")
FRONT_ENDS = ("bot.discord_adapter", "bot.http", "bot.terminal", "cogs")
DISCORD = ("discord",)

# Each part of the tree and what it must never import.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    # The vocabulary: imports no layer at all.
    "bot/domain.py": (*ENGINE_INTERNALS, "bot.service", *FRONT_ENDS, *DISCORD),
    "bot/catalogue.py": (*ENGINE_INTERNALS, "bot.service", *FRONT_ENDS, *DISCORD),
    "bot/config.py": (*ENGINE_INTERNALS, "bot.service", *FRONT_ENDS, *DISCORD),
    "bot/background.py": ("bot", "cogs", *DISCORD),
    # Every layer may speak the reader's language; the catalogues import no layer.
    "bot/i18n.py": ("bot", "cogs", *DISCORD),
    # Ports: the provider client, files and the store know nothing above them.
    "bot/videos": (*ENGINE_INTERNALS, "bot.service", *FRONT_ENDS, *DISCORD),
    "bot/media": (*ENGINE_INTERNALS, "bot.service", *FRONT_ENDS, *DISCORD),
    "bot/observability": (*ENGINE_INTERNALS, "bot.service", *FRONT_ENDS, *DISCORD),
    "bot/store": ("bot.guardrails", "bot.jobs", "bot.service", *FRONT_ENDS, *DISCORD),
    "bot/guardrails": ("bot.jobs", "bot.service", *FRONT_ENDS, *DISCORD),
    "bot/jobs": ("bot.service", *FRONT_ENDS, *DISCORD),
    "bot/service": (*FRONT_ENDS, *DISCORD),
    # Front ends: the engine only through the service and the vocabulary.
    "bot/http": (*ENGINE_INTERNALS, "bot.discord_adapter", "bot.terminal", "cogs", *DISCORD),
    "bot/terminal": (*ENGINE_INTERNALS, "bot.http", "cogs"),
    "bot/discord_adapter": (*ENGINE_INTERNALS, "bot.terminal", "cogs"),
    "cogs": (*ENGINE_INTERNALS, "bot.terminal", "bot.http"),
    # The fake provider is a peer of its own, shipped for dry runs.
    "bot/fake_api": (*ENGINE_INTERNALS, "bot.service", *FRONT_ENDS, *DISCORD),
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


def _files(part: str) -> list[Path]:
    root = ROOT / part
    return [root] if root.suffix == ".py" else sorted(root.rglob("*.py"))


@pytest.mark.parametrize("part", sorted(FORBIDDEN))
def test_no_import_runs_back_up_or_past_the_service(part: str) -> None:
    files = _files(part)
    assert files
    for path in files:
        for module in imports_of(path):
            for banned in FORBIDDEN[part]:
                crossing = module == banned or module.startswith(banned + ".")
                assert not crossing, f"{path.relative_to(ROOT)} imports {module}"


def test_every_module_of_the_bot_belongs_to_a_part() -> None:
    """A new folder or loose module is placed deliberately, with its rules written above."""
    placed = {p for part in FORBIDDEN for p in _files(part)}
    entry = {ROOT / "bot" / "__init__.py", ROOT / "bot" / "__main__.py"}
    loose = [
        str(p.relative_to(ROOT))
        for p in sorted((ROOT / "bot").rglob("*.py"))
        if p not in placed and p not in entry and p.parent.name != "__pycache__"
    ]
    assert loose == []


def test_the_layering_check_sees_a_crossing() -> None:
    """The check itself can fail: a front end's import of the store is seen."""
    sample = "from bot.store.jobs import JobRecord\nimport bot.jobs.workflow\n"
    tree = ast.parse(sample)
    names = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert any(n.startswith(ENGINE_INTERNALS) for n in names)


def test_front_ends_call_the_service_never_its_parts() -> None:
    """`VideoService.engine` holds the parts for tests and benchmarks; a front end reaching
    through it would hold the store again."""
    for part in ("bot/http", "bot/terminal", "bot/discord_adapter", "cogs"):
        for path in _files(part):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            reached = [
                node.lineno
                for node in ast.walk(tree)
                if isinstance(node, ast.Attribute) and node.attr == "engine"
            ]
            assert reached == [], f"{path.relative_to(ROOT)} reaches service.engine: {reached}"
