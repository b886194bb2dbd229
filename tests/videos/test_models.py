"""The tolerant Video model reads every dialect's answers."""

from __future__ import annotations

import pytest

from bot.videos import JobState, Video, normalise_status


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        ("queued", JobState.QUEUED),
        ("pending", JobState.QUEUED),
        ("in_progress", JobState.RUNNING),
        ("processing", JobState.RUNNING),
        ("completed", JobState.COMPLETED),
        ("succeeded", JobState.COMPLETED),
        ("SUCCEEDED", JobState.COMPLETED),
        ("failed", JobState.FAILED),
        ("cancelled", JobState.CANCELLED),
        ("canceled", JobState.CANCELLED),
        ("expired", JobState.EXPIRED),
        ("deleted", JobState.DELETED),
        ("unknown", JobState.RUNNING),
        ("warming-up", JobState.RUNNING),
    ],
)
def test_status_names_are_normalised(raw: str, state: JobState) -> None:
    assert normalise_status(raw) is state


def test_only_id_and_status_are_required_and_unknown_keys_ignored() -> None:
    video = Video.model_validate({"id": "v1", "status": "processing", "weird": {"x": 1}})
    assert video.state is JobState.RUNNING
    assert video.progress is None
    assert video.error is None


def test_missing_status_is_rejected() -> None:
    with pytest.raises(ValueError, match="status"):
        Video.model_validate({"id": "v1"})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, None), (42, 42), (150, 100), (-3, 0), ("37", 37), (12.7, 12), ("n/a", None), (0.5, 50)],
)
def test_progress_is_clamped_and_optional(raw: object, expected: int | None) -> None:
    video = Video.model_validate({"id": "v", "status": "queued", "progress": raw})
    assert video.progress == expected


@pytest.mark.parametrize(("raw", "text"), [("8", "8"), (8, "8"), (8.0, "8"), ("4.0", "4")])
def test_seconds_in_any_type_reads_as_text(raw: object, text: str) -> None:
    assert Video.model_validate({"id": "v", "status": "queued", "seconds": raw}).seconds == text


def test_error_as_bare_string_and_int_code() -> None:
    bare = Video.model_validate({"id": "v", "status": "failed", "error": "GPU fell over"})
    assert bare.error is not None
    assert bare.error.message == "GPU fell over"
    coded = Video.model_validate(
        {"id": "v", "status": "failed", "error": {"code": 500, "message": "x"}}
    )
    assert coded.error is not None
    assert coded.error.code == "500"


def test_refusals_are_told_apart_from_failures() -> None:
    refused = Video.model_validate(
        {"id": "v", "status": "failed", "error": {"code": "moderation_blocked", "message": "no"}}
    )
    crashed = Video.model_validate(
        {"id": "v", "status": "failed", "error": {"code": "internal_error", "message": "oops"}}
    )
    assert refused.is_refused
    assert not crashed.is_refused


@pytest.mark.parametrize("value", ["Infinity", "-Infinity", "NaN", 1e400, float("inf"), "1e400"])
def test_numbers_that_are_not_finite_count_as_missing(value: object) -> None:
    video = Video.model_validate(
        {"id": "v1", "status": "in_progress", "progress": value, "expires_at": value}
    )
    assert video.progress is None
    assert video.expires_at is None
