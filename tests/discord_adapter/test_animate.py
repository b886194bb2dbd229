""" "Animate this image" with an image as large as real photos are: it is read whole."""

from __future__ import annotations

import io
import random

from PIL import Image

from tests.discord_adapter.harness import Harness
from tests.discord_adapter.test_follow_ups import animate, harness
from tests.discord_adapter.test_video_command import embed, finished

__all__ = ["harness"]  # the fixture, shared with the follow-up tests


def photo_png(width: int = 1400, height: int = 1000) -> bytes:
    """A PNG of noise, which does not compress: about 4 MB, like a phone's photo."""
    noise = random.Random(7).randbytes(width * height * 3)
    buffer = io.BytesIO()
    Image.frombytes("RGB", (width, height), noise).save(buffer, format="PNG")
    return buffer.getvalue()


async def test_a_photo_of_several_megabytes_is_read_whole_and_animated(harness: Harness) -> None:
    data = photo_png()
    assert len(data) > 4_000_000
    picture = harness.discord.make_attachment("holiday.png", data, content_type="image/png")
    posted = harness.discord.post_user_message(
        harness.channel, harness.member, attachments=[picture]
    )
    it = await animate(harness, posted)
    submit = await harness.discord.submit_modal(
        it, {"prompt": "waves roll in", "size": ["1280x720"], "seconds": ["4"]}
    )
    video = await submit.wait_for(finished, timeout=30)
    assert embed(video)["title"] == "Your video is ready"
    (create,) = [r for r in harness.videos.stats.requests if r.route == "/v1/videos"]
    reference = create.files["input_reference"]
    assert (reference.width, reference.height) == (1280, 720)
