"""A fake chat server (OpenAI's `POST /v1/chat/completions`) on 127.0.0.1 for wire tests.

Usage::

    from tests.fakes.chat import FakeChat

    async with FakeChat(key="chat-key") as chat:        # base_url ends in /v1
        settings = load_settings(
            prompt_url=chat.base_url, prompt_model="gpt-4o-mini", prompt_key="chat-key"
        )
        ...
        chat.calls[-1].user      # the member's prompt, as the bot sent it
        chat.calls[-1].system    # the bot's instructions
        chat.answer = "…"        # script the content of every answer (None: the default)
        chat.down = "500"        # or "close", "slow", "garbage", "empty", "401"; None: answers

Unscripted, the answer is the prompt with a fixed detail added (`FakeChat.improved(prompt)`).
The request is checked as OpenAI checks it (the key, the model, the shape of `messages`), and
the answer has OpenAI's shape.
"""

from .server import DETAIL, ChatCall, FakeChat

__all__ = ["DETAIL", "ChatCall", "FakeChat"]
