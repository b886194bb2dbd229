"""The model catalogue: defaults, validation of combinations, operator files."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bot.catalogue import CatalogueError, RequestRejected, default_catalogue, load_catalogue


def test_defaults_are_the_seeds() -> None:
    catalogue = default_catalogue()
    spec, size, seconds = catalogue.resolve(None, None, None)
    assert (spec.name, size, seconds) == ("sora-2", "720x1280", 4)
    assert catalogue.get("sora-2").sizes == ("720x1280", "1280x720")
    assert len(catalogue.get("sora-2-pro").sizes) == 4
    assert catalogue.all_seconds() == [4, 8, 12]
    assert "sora-2-pro-2025-10-06" in catalogue.names()


def test_prices_by_model_and_size() -> None:
    catalogue = default_catalogue()
    assert catalogue.get("sora-2").estimated_cost("1280x720", 8) == Decimal("0.80")
    assert catalogue.get("sora-2-pro").estimated_cost("1280x720", 4) == Decimal("1.20")
    assert catalogue.get("sora-2-pro").estimated_cost("1792x1024", 12) == Decimal("6.00")


def test_a_size_the_model_cannot_make_is_rejected_with_what_is_allowed() -> None:
    with pytest.raises(RequestRejected) as caught:
        default_catalogue().resolve("sora-2", "1792x1024", 4)
    message = str(caught.value)
    assert "720x1280, 1280x720" in message
    assert "sora-2-pro" in message


def test_an_unknown_duration_is_rejected() -> None:
    with pytest.raises(RequestRejected, match="4 s, 8 s, 12 s"):
        default_catalogue().resolve("sora-2", None, 5)


def test_operator_catalogue_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "models.toml"
    path.write_text(
        """
default_model = "wan"

[[models]]
name = "wan"
api_model = "Wan2.2-T2V-A14B"
label = "Wan 2.2"
sizes = ["832x480", "1280x720"]
seconds = [5]
seconds_format = "int"
price_per_second = 0.02
""",
        encoding="utf-8",
    )
    catalogue = load_catalogue(path)
    spec, size, seconds = catalogue.resolve(None, None, None)
    assert spec.wire_model == "Wan2.2-T2V-A14B"
    assert (size, seconds) == ("832x480", 5)
    assert spec.seconds_on_wire(5) == "5"


def test_float_seconds_and_omitted_model() -> None:
    catalogue = load_catalogue(None).model_copy()
    update = {"seconds_format": "float", "send_model": False}
    spec = catalogue.get("sora-2").model_copy(update=update)
    assert spec.seconds_on_wire(8) == "8.0"
    assert spec.wire_model is None


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("models = [", "not valid TOML"),
        ('[[models]]\nname = "x"\nsizes = ["big"]\nseconds = [4]\n', "WIDTHxHEIGHT"),
        ('[[models]]\nname = "x"\nsizes = ["10x10"]\nseconds = []\n', "seconds"),
        (
            'default_model = "y"\n[[models]]\nname = "x"\nsizes = ["10x10"]\nseconds = [4]\n',
            "default_model",
        ),
    ],
)
def test_bad_catalogue_files_say_what_is_wrong(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "models.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogueError, match=needle):
        load_catalogue(path)


def test_missing_catalogue_file(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="does not exist"):
        load_catalogue(tmp_path / "nope.toml")
