"""The docs stay true: the settings table is the code's, `.env.example` has every setting, and
no page links to a page or a heading that does not exist (on GitHub as in the MkDocs site)."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
import yaml
from pydantic_settings import EnvSettingsSource

from bot.config import Settings
from scripts import settings_reference

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
BENCH_README = ROOT / "bench" / "README.md"
ENV_EXAMPLE = ROOT / ".env.example"
PAGES = sorted(DOCS.glob("*.md"))
# Read by Docker Compose (compose.yaml, compose.scale.yaml), not by the bot.
COMPOSE_VARIABLES = {"POSTGRES_PASSWORD", "COMPOSE_FILE", "VIDEO_BOT_DOMAIN"}

_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")  # link text may wrap lines
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def _prose(text: str) -> str:
    """The text without code blocks (their `#` lines are not headings, their brackets no links)."""
    return _FENCE.sub("", text)


def _heading_text(heading: str) -> str:
    heading = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    return heading.replace("`", "").replace("*", "")


def mkdocs_slug(heading: str) -> str:
    """Python-Markdown's `toc` slug, which MkDocs uses for anchors."""
    text = unicodedata.normalize("NFKD", _heading_text(heading))
    text = re.sub(r"[^\w\s-]", "", text.encode("ascii", "ignore").decode("ascii"))
    return re.sub(r"[-\s]+", "-", text.strip().lower())


def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading, where the README and the pages are read too."""
    text = re.sub(r"[^\w\- ]", "", _heading_text(heading).strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {mkdocs_slug(h) for h in _HEADING.findall(_prose(page.read_text(encoding="utf-8")))}


def links(page: Path) -> list[str]:
    return _LINK.findall(_CODE_SPAN.sub("", _prose(page.read_text(encoding="utf-8"))))


# -- the settings reference ------------------------------------------------------------------


def test_the_settings_reference_is_the_codes() -> None:
    page = settings_reference.PAGE.read_text(encoding="utf-8")
    assert settings_reference.committed(page) == settings_reference.render(), (
        "docs/configuration.md is out of date: run python -m scripts.settings_reference"
    )


def test_every_setting_has_a_description() -> None:
    missing = [name for name, info in Settings.model_fields.items() if not info.description]
    assert missing == [], "give these a Field(description=...) in bot/config.py"


def test_every_setting_is_in_env_example() -> None:
    example = ENV_EXAMPLE.read_text(encoding="utf-8")
    for name, info in Settings.model_fields.items():
        variable = settings_reference.env_names(name, info)[0]
        line = re.compile(rf"^(# ?)?{re.escape(variable)}=", re.MULTILINE)
        assert line.search(example), f".env.example does not show {variable}"


def test_env_example_holds_no_variable_the_bot_does_not_read() -> None:
    known = {
        variable
        for name, info in Settings.model_fields.items()
        for variable in settings_reference.env_names(name, info)
    }
    written = re.findall(r"^(?:# ?)?([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(encoding="utf-8"))
    unknown = sorted(set(written) - known - COMPOSE_VARIABLES)
    assert unknown == [], f".env.example names variables no setting reads: {unknown}"


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_each_documented_variable_is_read_by_pydantic_settings(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    info = Settings.model_fields[name]
    alias = info.validation_alias
    keys = {name, *(alias.choices if alias is not None and hasattr(alias, "choices") else [])}
    for variable in settings_reference.env_names(name, info):
        monkeypatch.setenv(variable, "1")
        read = EnvSettingsSource(Settings)()
        monkeypatch.delenv(variable)
        assert keys & set(read), f"{variable} does not set Settings.{name}"


# -- links -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "page", [README, BENCH_README, *PAGES], ids=lambda p: str(p.relative_to(ROOT))
)
def test_links_reach_a_page_and_a_heading(page: Path) -> None:
    for target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: …
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{page.name} links to {target}: no such file"
        if page.parent == DOCS:
            # MkDocs publishes docs/ alone: a link out of it would break in the site.
            assert linked.parent == DOCS, f"{page.name} links out of docs/: {target}"
        if anchor:
            assert linked.suffix == ".md", f"{page.name} links to an anchor of {target}"
            assert anchor in anchors(linked), f"{page.name} links to {target}: no such heading"


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda p: str(p.relative_to(ROOT)))
def test_headings_get_one_anchor_everywhere(page: Path) -> None:
    """The same anchor on GitHub and in the site, and no two headings of a page sharing it."""
    headings = _HEADING.findall(_prose(page.read_text(encoding="utf-8")))
    for heading in headings:
        assert mkdocs_slug(heading) == github_slug(heading), (
            f"{page.name}: {heading!r} gets different anchors on GitHub and in the site"
        )
    slugs = [mkdocs_slug(h) for h in headings]
    assert len(slugs) == len(set(slugs)), f"{page.name} has two headings with one anchor"


def test_the_site_lists_every_page() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    listed = {next(iter(entry.values())) for entry in config["nav"]}
    assert listed == {page.name for page in PAGES}


# -- the README ------------------------------------------------------------------------------


def test_the_readme_is_short_and_opens_with_the_two_commands() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 250
    first_screen = "\n".join(lines[:40])
    assert "video-bot run" in first_screen
    assert "python -m pip install -e '.[dev]' && python -m pytest" in first_screen


def test_ci_runs_the_readmes_test_command() -> None:
    lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    ci = [line.strip() for line in lines]
    assert any(line.startswith("python -m pip install") and "-e '.[dev]'" in line for line in ci)
    assert "python -m pytest" in ci
