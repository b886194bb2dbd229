"""Hostile or careless input that must cost nothing and show nothing it should not."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from bot.catalogue import CatalogueError, load_catalogue
from bot.discord_adapter.render import quoted_prompt
from bot.jobs.polling import PollPlanner
from bot.media.images import fit_reference


def catalogue_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "catalogue.toml"
    path.write_text(body, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("model", "needle"),
    [
        ('sizes = ["1280x720"]\nseconds = [4]\nprice_per_second = -0.10', "price_per_second"),
        ('sizes = ["99999x99999"]\nseconds = [4]', "larger than 4096"),
        (
            'sizes = ["1280x720"]\nseconds = [4]\nprice_per_second_by_size = {"1280x720" = -1}',
            "between 0 and 1000",
        ),
        (
            "sizes = [" + ", ".join(f'"{w}x720"' for w in range(100, 126)) + "]\nseconds = [4]",
            "at most 25",
        ),
    ],
)
def test_a_catalogue_that_cannot_work_is_refused_at_start(
    tmp_path: Path, model: str, needle: str
) -> None:
    path = catalogue_file(tmp_path, f'[[models]]\nname = "m"\n{model}\n')
    with pytest.raises(CatalogueError, match=needle):
        load_catalogue(path)


def test_a_phone_photo_mpo_is_a_usable_reference() -> None:
    first = Image.new("RGB", (1600, 1200), "red")
    second = Image.new("RGB", (1600, 1200), "blue")
    out = io.BytesIO()
    first.save(out, format="MPO", save_all=True, append_images=[second])
    fitted = fit_reference(out.getvalue(), "1280x720")
    image = Image.open(io.BytesIO(fitted.data))
    assert image.size == (1280, 720)
    red, green, blue = image.getpixel((640, 360))  # type: ignore[misc]
    assert red > 200  # the first picture, red, not the second
    assert blue < 50
    assert green < 50


def test_a_zero_poll_hint_never_polls_faster_than_the_minimum() -> None:
    planner = PollPlanner(min_interval=0.5, max_interval=30, fixed_interval=5)
    planner.started_at = 0.0
    for now, progress in ((1.0, 5), (2.0, 10), (3.0, 15)):
        planner.observe(now, progress, 0.0)
        assert planner.next_delay(now) >= 0.5


def test_a_prompt_cannot_dress_up_as_markup() -> None:
    prompt = "[free nitro](https://example.invalid) **now** <@123456789012345678> @everyone"
    shown = quoted_prompt(prompt)
    assert shown.startswith("\\[free nitro]")  # a literal bracket: no masked link
    assert "\\*\\*now\\*\\*" in shown
    assert "<@123456789012345678>" not in shown
    assert "@everyone" not in shown
