"""Regenerate the fake Videos API's media assets (dev-only; the results are committed).

Uses the ffmpeg binary shipped in the imageio-ffmpeg wheel, so no system ffmpeg is needed:
    .venv/bin/python scripts/make_fake_assets.py
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import imageio_ffmpeg

ASSETS = Path(__file__).resolve().parent.parent / "bot" / "fake_api" / "assets"

# testsrc2 is a moving pattern with a clock, so a player visibly plays it; 2 s at 320x180
# keeps the file around 13 KB, small enough to commit and to send a thousand times in tests.
SOURCE = ["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=24:duration=2"]

OUTPUTS: dict[str, list[str]] = {
    "video.mp4": [
        *SOURCE,
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-preset",
        "veryslow",
        "-crf",
        "36",
        # faststart puts moov first, so mdat is the last box: padding appends after it.
        "-movflags",
        "+faststart",
        "-an",
        # Strip the encoder's version string so a rerun with the same ffmpeg is byte-stable.
        "-fflags",
        "+bitexact",
        "-map_metadata",
        "-1",
    ],
    "thumbnail.webp": [*SOURCE, "-frames:v", "1", "-c:v", "libwebp", "-quality", "70"],
    # Eight frames at 4 fps, 80x45 each, on a 4x2 grid: the shape of a scrubbing preview.
    "spritesheet.jpg": [
        *SOURCE,
        "-vf",
        "fps=4,scale=80:45,tile=4x2",
        "-frames:v",
        "1",
        "-q:v",
        "6",
    ],
}


def main() -> int:
    """Write every asset and print its size."""
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    ASSETS.mkdir(parents=True, exist_ok=True)
    for name, args in OUTPUTS.items():
        target = ASSETS / name
        # Fixed arguments and our own ffmpeg: nothing untrusted reaches the command line.
        subprocess.run(  # noqa: S603
            [ffmpeg, "-v", "error", "-y", *args, str(target)], check=True
        )
        sys.stdout.write(
            f"{target.relative_to(ASSETS.parent.parent.parent)}: {target.stat().st_size} bytes\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
