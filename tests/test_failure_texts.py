"""Why a job ended is stored in English and shown in each reader's language: a fixed message by
its catalogue entry, a message with a detail by the template it was written from."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.support import Translations

from bot import i18n
from bot.domain import failure_text, with_ref
from bot.jobs.workflow import TIMED_OUT_MESSAGE
from bot.videos import BadRequestError, JobFailedError, RateLimitedError

REF = "0badc0de0badc0de"


@pytest.fixture
def german(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    catalog = Catalog(locale="de")
    catalog.add("{message} (ref {ref})", "{message} (Ref. {ref})")
    catalog.add(TIMED_OUT_MESSAGE, "Das Video hat zu lange gedauert.")
    catalog.add(
        "The video service is busy (rate limited). Try again in about {seconds} s.",
        "Der Videodienst ist ausgelastet. In etwa {seconds} s erneut versuchen.",
    )
    catalog.add(
        "The video service refused this prompt under its content policy. It said: {message}",
        "Der Videodienst hat diesen Prompt abgelehnt. Er sagte: {message}",
    )
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    loaded = Translations(buffer)
    english = i18n.translations
    monkeypatch.setattr(
        i18n, "translations", lambda code: loaded if code == "de" else english(code)
    )
    with i18n.reading("de"):
        yield


@pytest.mark.usefixtures("german")
def test_a_stored_failure_reads_in_the_readers_language() -> None:
    assert failure_text(with_ref(TIMED_OUT_MESSAGE, REF)) == (
        f"Das Video hat zu lange gedauert. (Ref. {REF})"
    )
    busy = RateLimitedError(retry_after=1234).user_message
    assert failure_text(with_ref(busy, REF)) == (
        f"Der Videodienst ist ausgelastet. In etwa 1.234 s erneut versuchen. (Ref. {REF})"
    )
    # The provider's own words stay as it sent them, braces and all.
    refused = JobFailedError("blocked", "no {cats} (ref 1)", refused=True).user_message
    assert failure_text(with_ref(refused, REF)) == (
        f"Der Videodienst hat diesen Prompt abgelehnt. Er sagte: no {{cats}} (ref 1) (Ref. {REF})"
    )
    # A message the catalogue does not translate (yet) is shown as stored; so is one without
    # a reference (a cancel's).
    untranslated = BadRequestError("size {x}").user_message
    assert failure_text(with_ref(untranslated, REF)) == f"{untranslated} (Ref. {REF})"
    assert failure_text("Something else entirely.") == "Something else entirely."


def test_in_english_the_stored_text_is_shown_as_it_is() -> None:
    for message in (TIMED_OUT_MESSAGE, RateLimitedError(retry_after=1234).user_message):
        assert failure_text(with_ref(message, REF)) == with_ref(message, REF)
