"""What a finished job may be followed up with: Retry, Remix and Extend, and its lineage.

Pure rules over a stored job and the catalogue; the service runs the result through the same
access rules, limits, queue and workflow as any other request.
"""

from __future__ import annotations

from bot import i18n
from bot.catalogue import Catalogue, RequestRejected
from bot.domain import (
    FollowUpKind,
    JobKind,
    JobState,
    Requester,
    SourceGone,
    VideoRequest,
    validate_request,
)
from bot.i18n import N_, _
from bot.store import JobRecord, JobStore

LINEAGE_SHOWN = 10

# TRANSLATORS: "Retry" is the name of the card's button.
SOURCE_EXPIRED = N_(
    "The video service no longer keeps this video, so it cannot be remixed or extended. "
    "Retry makes it again from its prompt."
)
SOURCE_DELETED = N_("This video was deleted; it cannot be remixed or extended.")
SOURCE_MODEL_GONE = N_("This video's model is no longer offered; it cannot be remixed or extended.")
SOURCE_UNKNOWN = N_("The video this one was made from is unknown.")
NOT_DELIVERED = N_("Only a delivered video can be remixed or extended.")
# DELIVERING: the video is in the reply, the state is being recorded this moment.
_POSTED = (JobState.DELIVERED, JobState.DELIVERING)


def retry(catalogue: Catalogue, source: JobRecord, requester: Requester) -> VideoRequest:
    """The same video asked for again (its reference image goes with it while it is kept)."""
    return validate_request(
        catalogue,
        requester,
        source.prompt,
        model=source.model,
        size=source.size,
        seconds=source.seconds,
    )


def continuation(
    catalogue: Catalogue,
    kind: FollowUpKind,
    source: JobRecord,
    requester: Requester,
    *,
    prompt: str | None,
    seconds: int | None,
    now: float,
) -> VideoRequest:
    """A remix or an extension of `source`, checked against what its model can do.

    Raises RequestRejected, or SourceGone when the provider's copy has expired (only a Retry
    can help then).
    """
    try:
        spec = catalogue.get(source.model)
    except RequestRejected:
        raise RequestRejected(_(SOURCE_MODEL_GONE)) from None
    if source.deleted_at is not None:
        raise RequestRejected(_(SOURCE_DELETED))
    if source.state not in _POSTED or source.provider_video_id is None:
        raise RequestRejected(_(NOT_DELIVERED))
    expires = source.video_expires_at
    if expires is not None and expires <= now:
        raise SourceGone(_(SOURCE_EXPIRED))
    text = validate_request(
        catalogue,
        requester,
        prompt if prompt is not None else source.prompt,
        model=source.model,
        size=source.size,
    ).prompt
    if kind == "remix":
        if not spec.remix:
            raise RequestRejected(
                # TRANSLATORS: {model} is a model's name.
                _("The video service cannot remix {model} videos.", model=spec.display_name)
            )
        return VideoRequest(
            text,
            spec,
            source.size,
            source.seconds,
            requester,
            kind=JobKind.REMIX,
            source_video_id=source.provider_video_id,
        )
    if not spec.extensions:
        raise RequestRejected(
            # TRANSLATORS: {model} is a model's name.
            _("The video service cannot extend {model} videos.", model=spec.display_name)
        )
    allowed = spec.extension_seconds
    added = seconds if seconds is not None else allowed[0]
    if added not in allowed:
        choices = ", ".join(i18n.number(s) for s in allowed)
        raise RequestRejected(
            # TRANSLATORS: {choices} lists the seconds an extension may add ("4, 8, 12").
            _(
                "An extension adds {choices} seconds, not {added}.",
                choices=choices,
                added=i18n.number(added),
            )
        )
    return VideoRequest(
        text,
        spec,
        source.size,
        added,
        requester,
        kind=JobKind.EXTEND,
        source_video_id=source.provider_video_id,
    )


async def lineage(store: JobStore, record: JobRecord) -> tuple[JobRecord, ...]:
    """The jobs `record` was retried, remixed or extended from, newest first (a few)."""
    found: list[JobRecord] = []
    seen = {record.id}
    source_id = record.source_id
    while source_id is not None and source_id not in seen and len(found) < LINEAGE_SHOWN:
        source = await store.get(source_id)
        if source is None:
            break
        found.append(source)
        seen.add(source.id)
        source_id = source.source_id
    return tuple(found)
