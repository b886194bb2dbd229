"""Extract the bot's messages, update every language's catalogue, compile them.

    python -m scripts.catalogues           # after changing any message in the code
    python -m scripts.catalogues --check   # what the tests ask: nothing stale, nothing missing
    python -m scripts.catalogues --only ja # one language (a translator's loop)

Messages are what the code passes to `_()`, `N_()`, `ngettext()` and discord.py's
`locale_str()` under `bot/` and `cogs/`. A new message appears in every `bot.po` with an empty
translation (the tests then fail until a translator fills it); a message no longer used is
dropped. Each `bot.po` is compiled to the `bot.mo` the package ships and loads.
"""

from __future__ import annotations

import argparse
import datetime
import io
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from bot.i18n import CATALOGUES, DOMAIN, SHIPPED

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("bot", "cogs")
# Fixed header dates: the files change only when a message does (the tests compare them).
DATED = datetime.datetime(2026, 12, 7, tzinfo=datetime.UTC)
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2), "locale_str": None}
# Files whose strings are not the bot's words: the fake API and the terminal speak English.
SKIPPED = ("bot/fake_api/", "bot/terminal/")


def template() -> Catalog:
    """Every message the code marks, with where it is used."""
    catalog = Catalog(project="video-bot", domain=DOMAIN, fuzzy=False, creation_date=DATED)
    for source in SOURCES:
        for filename, lineno, message, comments, _context in extract_from_dir(
            ROOT / source,
            method_map=[("**.py", "python")],
            keywords=KEYWORDS,
            comment_tags=("TRANSLATORS:",),
        ):
            path = f"{source}/{filename}"
            if path.startswith(SKIPPED):
                continue
            catalog.add(
                message,
                None,
                [(path, lineno)],
                auto_comments=comments,
                flags=("python-brace-format",) if "{" in str(message) else (),
            )
    return catalog


def po_path(code: str) -> Path:
    return CATALOGUES / code / "LC_MESSAGES" / f"{DOMAIN}.po"


def updated(code: str, source: Catalog) -> Catalog:
    """`code`'s catalogue with the template's messages: translations kept, new ones empty,
    unused ones dropped (never matched fuzzily: a guessed translation reads as a wrong one)."""
    path = po_path(code)
    if path.exists():
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=code, domain=DOMAIN)
    else:
        catalog = Catalog(locale=code, domain=DOMAIN, project="video-bot", fuzzy=False)
    catalog.update(source, no_fuzzy_matching=True)
    catalog.obsolete.clear()
    catalog.fuzzy = False
    catalog.creation_date = catalog.revision_date = DATED
    catalog.last_translator = "video-bot translators"
    catalog.language_team = f"{code} (native speakers welcome: docs/translations.md)"
    return catalog


def po_bytes(catalog: Catalog) -> bytes:
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=100, omit_header=False, sort_output=False, no_location=False)
    return buffer.getvalue()


def mo_bytes(catalog: Catalog) -> bytes:
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    return buffer.getvalue()


def stale_files() -> list[Path]:
    """Catalogue files that differ from what this script would write now."""
    source = template()
    stale = []
    for code in SHIPPED:
        catalog = updated(code, source)
        po, mo = po_path(code), po_path(code).with_suffix(".mo")
        if _messages(po) != _messages_of(catalog):
            stale.append(po)
        if not mo.exists() or mo.read_bytes() != mo_bytes(catalog):
            stale.append(mo)
    return stale


def _messages(path: Path) -> list[tuple[object, object]]:
    if not path.exists():
        return []
    with path.open("rb") as handle:
        return _messages_of(read_po(handle))


def _messages_of(catalog: Catalog) -> list[tuple[object, object]]:
    return sorted(((m.id, m.string) for m in catalog if m.id), key=repr)


def write_all(only: tuple[str, ...] = SHIPPED) -> None:
    source = template()
    for code in only:
        catalog = updated(code, source)
        path = po_path(code)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(po_bytes(catalog))
        path.with_suffix(".mo").write_bytes(mo_bytes(catalog))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale catalogues")
    parser.add_argument(
        "--only", choices=SHIPPED, action="append", help="update and compile this language only"
    )
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for path in stale:
            print(f"stale: {path.relative_to(ROOT)}")  # noqa: T201
        return 1 if stale else 0
    write_all(tuple(args.only or SHIPPED))
    return 0


if __name__ == "__main__":
    sys.exit(main())
