"""A fake moderation server (OpenAI's `POST /v1/moderations`) on 127.0.0.1 for wire tests.

Usage::

    from tests.fakes.moderation import FakeModeration

    async with FakeModeration(key="mod-key") as moderation:   # base_url ends in /v1
        settings = load_settings(moderation_url=moderation.base_url, moderation_key="mod-key")
        ...
        moderation.calls[-1].texts       # what the bot asked about
        moderation.calls[-1].images      # the reference images it sent, decoded
        moderation.down = "500"          # or "close", "slow", "garbage"; None: answers again

A prompt is flagged by markers in it: `[flag=violence]`, `[flag=self-harm/intent,sexual]`, or
by a word of `words` (`FakeModeration(words={"gore": "violence/graphic"})`); every image by the
categories in `image_flags`. The request is checked as OpenAI checks it (the key, the model, the
shape of `input`, data URLs that decode), and the answer has OpenAI's shape: every category,
its score and the input types it applied to.
"""

from .server import CATEGORIES, FakeModeration, ModerationCall

__all__ = ["CATEGORIES", "FakeModeration", "ModerationCall"]
