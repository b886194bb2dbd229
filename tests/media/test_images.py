"""Reference images are checked and fitted to exactly the video size."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot.media.images import ImageRejected, fit_reference


def encode(size: tuple[int, int], fmt: str, color: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format=fmt)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
@pytest.mark.parametrize("target", ["1280x720", "720x1280", "1792x1024"])
def test_any_accepted_image_is_fitted_to_the_exact_size(fmt: str, target: str) -> None:
    fitted = fit_reference(encode((1000, 1000), fmt), target)
    image = Image.open(io.BytesIO(fitted.data))
    assert f"{image.width}x{image.height}" == target
    assert fitted.content_type == "image/jpeg"


def test_crop_keeps_the_centre() -> None:
    source = Image.new("RGB", (300, 100), "blue")
    source.paste(Image.new("RGB", (100, 100), "white"), (100, 0))
    out = io.BytesIO()
    source.save(out, format="PNG")
    fitted = Image.open(io.BytesIO(fit_reference(out.getvalue(), "100x100").data))
    r, g, b = fitted.convert("RGB").getpixel((50, 50))  # type: ignore[misc]
    assert min(r, g, b) > 230


def test_gif_is_refused_by_name() -> None:
    with pytest.raises(ImageRejected, match="JPEG, PNG or WebP"):
        fit_reference(encode((10, 10), "GIF"), "1280x720")


@pytest.mark.parametrize("data", [b"", b"not an image at all", b"%PDF-1.4 ..."])
def test_garbage_is_refused(data: bytes) -> None:
    with pytest.raises(ImageRejected):
        fit_reference(data, "1280x720")


def test_truncated_image_is_refused() -> None:
    data = encode((400, 400), "PNG")
    with pytest.raises(ImageRejected):
        fit_reference(data[: len(data) // 2], "1280x720")


def test_a_local_files_type_is_read_from_its_first_bytes() -> None:
    from bot.media.images import sniff_image_type

    for fmt, expected in (("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")):
        buffer = io.BytesIO()
        Image.new("RGB", (8, 8)).save(buffer, format=fmt)
        assert sniff_image_type(buffer.getvalue()) == expected
    assert sniff_image_type(b"GIF89a....") is None


def test_only_the_accepted_formats_reach_a_decoder(monkeypatch: pytest.MonkeyPatch) -> None:
    """A TIFF (or PSD, or any other format Pillow knows) is refused before its decoder runs:
    Pillow's advisories keep turning up in decoders the bot never needs."""
    from PIL import TiffImagePlugin

    def reached(self: object) -> None:
        raise AssertionError("the TIFF decoder was reached")

    monkeypatch.setattr(TiffImagePlugin.TiffImageFile, "_open", reached)
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="TIFF")
    with pytest.raises(ImageRejected, match="JPEG, PNG or WebP"):
        fit_reference(buffer.getvalue(), "1280x720")
