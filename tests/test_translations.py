"""The catalogues: every message translated in every shipped language, the same placeholders,
commands and markup in each, the glossary's words, and the compiled files the package loads in
step with what translators edit."""

from __future__ import annotations

import ast
import re
import tomllib
from functools import cache
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po

from bot import i18n
from scripts import catalogues

GLOSSARY = i18n.CATALOGUES / "glossary.toml"
PLACEHOLDER = re.compile(r"(?<!\{)\{([a-z_][a-z0-9_]*)\}(?!\})")
COMMAND = re.compile(r"(?<![\w<:/.])/[a-z][a-z-]*")
MARKUP = ("`", "**", "<t:", "<#", "<@", "](", "→", "\n")


@cache
def template() -> Catalog:
    return catalogues.template()


@cache
def shipped(code: str) -> Catalog:
    with catalogues.po_path(code).open("rb") as handle:
        return read_po(handle, locale=code, domain=i18n.DOMAIN)


def forms(message: Message) -> tuple[str, ...]:
    string = message.string
    return tuple(string) if isinstance(string, tuple | list) else (string,)


def ids(message: Message) -> tuple[str, ...]:
    return tuple(message.id) if isinstance(message.id, tuple | list) else (message.id,)


def messages(code: str) -> list[Message]:
    return [m for m in shipped(code) if m.id]


def test_the_code_marks_the_bots_words_for_translation() -> None:
    # Far more than this; a broken extractor (or code that stopped using _()) finds a handful.
    assert len([m for m in template() if m.id]) > 300


MARKERS = {"_": 1, "N_": 1, "ngettext": 2, "locale_str": 1}


def _built(argument: ast.expr) -> bool:
    """A message put together in code: an f-string, a `+` or a `.format()`."""
    if isinstance(argument, ast.JoinedStr | ast.BinOp):
        return True
    return (
        isinstance(argument, ast.Call)
        and isinstance(argument.func, ast.Attribute)
        and argument.func.attr == "format"
    )


def test_every_marked_message_is_a_plain_string_the_extractor_can_read() -> None:
    """`_(f"…{x}")` or `_("a" + b)` escapes the catalogues: it would always read English.
    (`_(LABEL)` is fine: a constant marked with `N_()` where it is defined.)"""
    found = []
    for source in catalogues.SOURCES:
        for path in sorted((catalogues.ROOT / source).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            # A message written inside an f-string is invisible to the extractor on Python 3.11
            # (`_(LABEL)` there is fine: LABEL was marked with N_() where it is defined).
            inside_f_strings = {
                id(inner)
                for outer in ast.walk(tree)
                if isinstance(outer, ast.JoinedStr)
                for inner in ast.walk(outer)
            }
            for node in ast.walk(tree):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                    continue
                literal = bool(node.args) and isinstance(node.args[0], ast.Constant)
                if node.func.id in MARKERS and literal and id(node) in inside_f_strings:
                    found.append(f"{path.relative_to(catalogues.ROOT)}:{node.lineno} (f-string)")
                    continue
                wanted = MARKERS.get(node.func.id)
                if wanted is None:
                    continue
                if any(_built(a) for a in node.args[:wanted]):
                    found.append(f"{path.relative_to(catalogues.ROOT)}:{node.lineno}")
    assert not found, f"not a plain string: {found}"


def test_the_catalogues_and_their_compiled_files_are_in_step_with_the_code() -> None:
    stale = [str(path.relative_to(catalogues.ROOT)) for path in catalogues.stale_files()]
    assert not stale, f"run `python -m scripts.catalogues` and translate; stale: {stale}"


@pytest.mark.parametrize("code", i18n.SHIPPED)
def test_every_message_is_translated(code: str) -> None:
    missing = [ids(m)[0] for m in messages(code) if not all(forms(m)) or m.fuzzy]
    assert not missing, f"{code}: {len(missing)} untranslated, e.g. {missing[:5]}"
    plural_forms = shipped(code).num_plurals
    wrong = [ids(m)[0] for m in messages(code) if m.pluralizable and len(forms(m)) != plural_forms]
    assert not wrong, f"{code}: plural forms missing in {wrong[:5]}"


@pytest.mark.parametrize("code", i18n.SHIPPED)
def test_placeholders_commands_and_markup_are_the_same_in_every_language(code: str) -> None:
    problems = []
    for message in messages(code):
        english = " ".join(ids(message))
        wanted = set(PLACEHOLDER.findall(english))
        for form in filter(None, forms(message)):
            if set(PLACEHOLDER.findall(form)) != wanted:
                problems.append(f"placeholders {wanted} ≠ {form!r}")
            for command in set(COMMAND.findall(ids(message)[0])):
                if command not in form:
                    problems.append(f"{command} (commands stay English) missing in {form!r}")
            for mark in MARKUP:
                if (mark in ids(message)[0]) != (mark in form):
                    problems.append(f"{mark!r} differs in {form!r}")
            try:
                form.format(**{"n": 1, **dict.fromkeys(wanted, "x")})
            except (KeyError, ValueError, IndexError) as exc:
                problems.append(f"{form!r} cannot be filled: {exc!r}")
    assert not problems, f"{code}: {len(problems)} problems, e.g. {problems[:5]}"


def lowered(text: str, code: str) -> str:
    """Lower case as the language writes it: Turkish "İstem" is "istem", and its capital I is
    a dotless i."""
    if code == "tr":
        text = text.replace("İ", "i").replace("I", "\u0131")
    return text.lower()


def glossary() -> dict[str, dict[str, str]]:
    return tomllib.loads(GLOSSARY.read_text(encoding="utf-8"))


def test_the_glossary_names_every_term_in_every_language() -> None:
    table = glossary()
    terms = set(table["en"])
    assert {"video", "server", "prompt"} <= terms
    for code in i18n.SHIPPED:
        assert set(table[code]) == terms, f"{code}'s glossary lacks {terms - set(table[code])}"


@pytest.mark.parametrize("code", i18n.SHIPPED)
def test_a_term_is_said_one_way_everywhere(code: str) -> None:
    """Where the English says "video" (not the command /video), the translation uses the
    glossary's word for it: a member never wonders whether two words mean two things."""
    table = glossary()
    words = table[code]
    problems = []
    for message in messages(code):
        english = COMMAND.sub("", PLACEHOLDER.sub("", " ".join(ids(message)))).lower()
        for term, english_word in table["en"].items():
            if not re.search(rf"\b{re.escape(english_word.lower())}s?\b", english):
                continue
            for form in filter(None, forms(message)):
                if lowered(words[term], code) not in lowered(COMMAND.sub("", form), code):
                    problems.append(f"{term} → {words[term]!r} not in {form!r}")
    assert not problems, f"{code}: {len(problems)} inconsistent, e.g. {problems[:5]}"


def test_discord_locales_map_to_shipped_catalogues() -> None:
    assert set(i18n.DISCORD_LOCALES.values()) == {i18n.ENGLISH, *i18n.SHIPPED}
    assert set(i18n.CHOICES) <= set(i18n.DISCORD_LOCALES)
    assert i18n.catalogue_of("zh-TW") == i18n.ENGLISH  # not shipped: English
    assert i18n.catalogue_of(None) == i18n.ENGLISH
    for code in i18n.SHIPPED:
        assert (Path(i18n.CATALOGUES) / code / "LC_MESSAGES" / "bot.mo").is_file()


def test_formats_follow_the_reader() -> None:
    with i18n.reading("de"):
        assert i18n.money(0.4) == "0,40\xa0$"
        assert i18n.number(1234.5) == "1.234,5"
    with i18n.reading("en-US"):
        assert i18n.money(0.4) == "$0.40"
    with i18n.reading("ja"):
        assert i18n.duration(8) == "8 秒"
    assert i18n.current() == i18n.ENGLISH  # the block ended
