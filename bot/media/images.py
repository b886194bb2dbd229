"""Reference images: check what was uploaded, then fit it to the exact video size.

The API uses the image as the first frame and rejects any whose dimensions differ from `size`,
so the bot centre-crops and resizes it rather than passing the user's file through.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import io
import os
import warnings
from concurrent.futures import ThreadPoolExecutor

from babel.numbers import format_decimal
from PIL import Image, ImageOps, UnidentifiedImageError

from bot import i18n
from bot.i18n import _
from bot.videos import ReferenceImage

# MPO is what phones write: a JPEG whose first picture is the photo (more follow for depth or
# a second lens). Its first frame is an ordinary JPEG.
ACCEPTED_FORMATS = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
}
ACCEPTED_CONTENT_TYPES = frozenset(ACCEPTED_FORMATS.values())
# The decoders an upload may reach (Pillow's JPEG decoder opens MPO files too).
_DECODERS = ("JPEG", "PNG", "WEBP")
# Refuse absurd canvases before decoding them (a 20-megapixel photo is fine).
MAX_PIXELS = 40_000_000


class ImageRejected(ValueError):  # noqa: N818 - a rejection with a user-facing message
    """The upload is not a usable reference image; the message says why."""


def parse_size(size: str) -> tuple[int, int]:
    width, _, height = size.partition("x")
    return int(width), int(height)


# Decoding and scaling is CPU work: a bounded pool keeps it off the event loop and keeps a burst
# of large uploads from running more decoders than there are cores.
_POOL = ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1), thread_name_prefix="fit")


async def fit_reference_off_loop(data: bytes, size: str) -> ReferenceImage:
    """`fit_reference` in the bounded worker pool, so acknowledgements go on meanwhile (in
    the caller's context: a refusal speaks the member's language)."""
    fit = functools.partial(contextvars.copy_context().run, fit_reference, data, size)
    return await asyncio.get_running_loop().run_in_executor(_POOL, fit)


def fit_reference(data: bytes, size: str) -> ReferenceImage:
    """Decode `data` (JPEG/PNG/WebP only) and return it cropped and scaled to `size`."""
    width, height = parse_size(size)
    image = _decode(data, (width, height))
    upright = ImageOps.exif_transpose(image).convert("RGB")
    fitted = ImageOps.fit(upright, (width, height), method=Image.Resampling.LANCZOS)
    out = io.BytesIO()
    fitted.save(out, format="JPEG", quality=92)
    return ReferenceImage(out.getvalue(), "image/jpeg", "reference.jpg")


def _decode(data: bytes, target: tuple[int, int]) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # Only the decoders of the accepted formats: an upload never reaches Pillow's
            # dozens of others (PSD, TGA, …), where its advisories keep turning up.
            image = Image.open(io.BytesIO(data), formats=_DECODERS)
            _check_header(image)  # the pixel budget, from the header, before any decoding
            if image.format in ("JPEG", "MPO"):
                image.seek(0)  # an MPO's first picture is the photo
                # JPEG can decode at 1/2, 1/4 or 1/8 scale directly: a 50 MP photo for a 720p
                # frame never needs its full size in memory.
                image.draft("RGB", (target[0] * 2, target[1] * 2))
            image.load()
    except ImageRejected:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise ImageRejected(_("The reference is not a readable JPEG, PNG or WebP image.")) from None
    except (OSError, ValueError, SyntaxError):
        raise ImageRejected(_("The reference image is damaged or truncated.")) from None
    return image


def _check_header(image: Image.Image) -> None:
    if image.format not in ACCEPTED_FORMATS:
        raise ImageRejected(
            # TRANSLATORS: {format} is an image format's name ("GIF").
            _(
                "The reference must be a JPEG, PNG or WebP image (this is {format}).",
                format=image.format,
            )
        )
    if image.width * image.height > MAX_PIXELS:
        raise ImageRejected(
            _(
                "The reference image has too many pixels (over {megapixels} MP).",
                megapixels=i18n.number(MAX_PIXELS // 1_000_000),
            )
        )


# A reference image larger than this is refused before it is downloaded.
MAX_REFERENCE_BYTES = 20 * 1024 * 1024


_SIGNATURES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}


def sniff_image_type(data: bytes) -> str | None:
    """The content type a file's first bytes announce (a local file has no declared one)."""
    for signature, content_type in _SIGNATURES.items():
        if data.startswith(signature):
            return content_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def check_upload(content_type: str | None, size: int, filename: str) -> None:
    """Refuse an upload by its declared type and size, before fetching it."""
    declared = (content_type or "").split(";")[0].strip().lower()
    name = filename[:80]
    if not declared:
        raise ImageRejected(
            # TRANSLATORS: {file} is the uploaded file's name.
            _(
                "`{file}` is an unknown type; the reference must be a JPEG, PNG or WebP image.",
                file=name,
            )
        )
    if declared not in ACCEPTED_CONTENT_TYPES:
        raise ImageRejected(
            # TRANSLATORS: {file} is the uploaded file's name, {type} its type ("image/gif").
            _(
                "`{file}` is {type}; the reference must be a JPEG, PNG or WebP image.",
                file=name,
                type=declared,
            )
        )
    if size > MAX_REFERENCE_BYTES:
        raise ImageRejected(
            # TRANSLATORS: {file} is the uploaded file's name; sizes in mebibytes ("20.3").
            _(
                "`{file}` is {size} MiB; reference images may be at most {limit} MiB.",
                file=name,
                size=format_decimal(
                    size / 1048576, format="#,##0.0", locale=i18n.babel_locale(i18n.current())
                ),
                limit=i18n.number(MAX_REFERENCE_BYTES // 1048576),
            )
        )
