"""Reading the servers' wait hints."""

from __future__ import annotations

from multidict import CIMultiDict, CIMultiDictProxy

from bot.videos.retry import RetryPolicy, poll_after, server_says_retry, server_wait


def headers(**values: str) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict({k.replace("_", "-"): v for k, v in values.items()}))


def test_retry_after_ms_beats_retry_after() -> None:
    assert server_wait(headers(retry_after_ms="1500", retry_after="9")) == 1.5
    assert server_wait(headers(retry_after="9")) == 9.0
    assert server_wait(headers()) is None
    assert server_wait(headers(retry_after="soon")) is None


def test_retry_after_as_http_date_in_the_past_means_now() -> None:
    assert server_wait(headers(retry_after="Wed, 21 Oct 2015 07:28:00 GMT")) == 0.0


def test_should_retry_and_poll_after() -> None:
    assert server_says_retry(headers(x_should_retry="false")) is False
    assert server_says_retry(headers(x_should_retry="true")) is True
    assert server_says_retry(headers()) is None
    assert poll_after(headers(openai_poll_after_ms="2000")) == 2.0


def test_backoff_grows_and_is_capped() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0, jitter=0.0)
    assert [policy.backoff(n) for n in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
