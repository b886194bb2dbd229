"""The catalogue's per-model capability keys: remix, extensions, thumbnail, reference, delete."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.catalogue import (
    Catalogue,
    CatalogueError,
    ModelSpec,
    default_catalogue,
    load_catalogue,
)

PROVIDERS = Path(__file__).resolve().parents[1] / "docs" / "providers.md"
CAPABILITY_KEYS = ("remix", "extensions", "extension_seconds", "thumbnail", "reference", "delete")


def write(tmp_path: Path, model_lines: str) -> Path:
    path = tmp_path / "models.toml"
    path.write_text(
        f'[[models]]\nname = "m"\nsizes = ["1280x720"]\nseconds = [4]\n{model_lines}',
        encoding="utf-8",
    )
    return path


def test_the_built_in_sora_models_have_everything_on() -> None:
    for spec in default_catalogue().models:
        assert (spec.remix, spec.extensions, spec.thumbnail, spec.delete) == (
            True,
            True,
            True,
            True,
        )
        assert spec.extension_seconds == (4, 8, 12)
        assert spec.reference == "upload"


def test_an_operator_file_without_the_keys_gets_the_defaults(tmp_path: Path) -> None:
    spec = load_catalogue(write(tmp_path, "")).get("m")
    assert (spec.remix, spec.extensions, spec.thumbnail, spec.delete) == (True, True, True, True)
    assert spec.extension_seconds == (4, 8, 12)
    assert spec.reference == "upload"


def test_every_key_can_be_set(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "remix = false\nextensions = true\nextension_seconds = [5, 10, 20]\n"
        'thumbnail = false\nreference = "image_url"\ndelete = false\n',
    )
    spec = load_catalogue(path).get("m")
    assert (spec.remix, spec.extensions, spec.thumbnail, spec.delete) == (
        False,
        True,
        False,
        False,
    )
    assert spec.extension_seconds == (5, 10, 20)
    assert spec.reference == "image_url"


@pytest.mark.parametrize(
    ("lines", "needle"),
    [
        ("extension_seconds = [0]", "between 1 and 20"),
        ("extension_seconds = [4, 21]", "between 1 and 20"),
        ("extension_seconds = []", "extension_seconds"),
        ("extension_seconds = [4, 4]", "repeat"),
        (f"extension_seconds = [{', '.join(['4'] * 26)}]", "extension_seconds"),
        ('reference = "file"', "reference"),
        ('remix = "maybe"', "remix"),
        ("remixes = true", "remixes"),  # extra="forbid": a typo is not silently ignored
    ],
)
def test_bad_capability_keys_say_what_is_wrong(tmp_path: Path, lines: str, needle: str) -> None:
    with pytest.raises(CatalogueError, match=needle):
        load_catalogue(write(tmp_path, lines + "\n"))


def test_twenty_five_extension_lengths_are_allowed() -> None:
    spec = ModelSpec(
        name="m", sizes=("1280x720",), seconds=(4,), extension_seconds=tuple(range(1, 21))
    )
    assert len(spec.extension_seconds) == 20


def test_the_docs_document_every_catalogue_key() -> None:
    text = PROVIDERS.read_text(encoding="utf-8")
    section = text.split("\n## The model catalogue\n", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^([a-z_]+) *=", section, flags=re.MULTILINE))
    for key in (*ModelSpec.model_fields, *Catalogue.model_fields):
        if key != "models":  # the [[models]] tables themselves
            assert key in documented, f"docs/providers.md's catalogue does not show `{key}`"
    for key in CAPABILITY_KEYS:
        assert key in documented
        assert f"| `{key}` |" in section, f"the capability table does not explain `{key}`"
