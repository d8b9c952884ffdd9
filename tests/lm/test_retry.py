"""Retry policy: which errors are retried, how long to wait, when to give up."""

from __future__ import annotations

import pytest

from dspex_lab.errors import LMError
from dspex_lab.lm.retry import RetryPolicy

pytestmark = pytest.mark.usefixtures("each_transport")


def retryable(status: int = 503, retry_after: float | None = None) -> LMError:
    return LMError("boom", status=status, retryable=True, retry_after=retry_after)


def test_backoff_doubles_with_jitter_within_half_to_full_ceiling():
    policy = RetryPolicy(5, initial_delay=1.0, max_delay=100.0, seed=7)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0)]:
        delay = policy.delay(attempt, retryable())
        assert ceiling / 2 <= delay <= ceiling


def test_backoff_is_capped_at_max_delay():
    policy = RetryPolicy(20, initial_delay=1.0, max_delay=5.0, seed=1)
    assert all(policy.delay(attempt, retryable()) <= 5.0 for attempt in range(1, 20))


def test_retry_after_is_waited_exactly():
    assert RetryPolicy(3).delay(1, retryable(429, retry_after=2.5)) == 2.5


def test_gives_up_after_num_retries_and_says_so():
    policy = RetryPolicy(2)
    assert policy.delay(2, retryable()) is not None
    assert policy.delay(3, retryable()) is None
    assert policy.give_up_reason(3, retryable()) == "gave up after 3 attempts"


def test_non_retryable_errors_are_not_retried():
    policy = RetryPolicy(3)
    error = LMError("bad request", status=400)
    assert policy.delay(1, error) is None
    assert policy.give_up_reason(1, error) == ""


def test_a_retry_after_beyond_the_limit_is_not_waited_out():
    policy = RetryPolicy(3, max_retry_after=60)
    error = retryable(429, retry_after=3600)
    assert policy.delay(1, error) is None
    assert "3600 s" in policy.give_up_reason(1, error)


def test_negative_retries_are_refused():
    with pytest.raises(ValueError, match="num_retries"):
        RetryPolicy(-1)
