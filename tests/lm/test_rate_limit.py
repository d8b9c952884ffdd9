"""Rate limiter: token buckets for requests and tokens per minute, waits in arrival order."""

from __future__ import annotations

import pytest

from dspex_lab.lm.rate_limit import RateLimiter


def test_a_minutes_worth_of_requests_goes_at_once_then_callers_wait_their_turn(clock):
    limiter = RateLimiter(rpm=60, clock=clock)
    assert [limiter.reserve(0) for _ in range(60)] == [0.0] * 60
    assert limiter.reserve(0) == pytest.approx(1.0)
    assert limiter.reserve(0) == pytest.approx(2.0)


def test_the_bucket_refills_with_time(clock):
    limiter = RateLimiter(rpm=60, clock=clock)
    for _ in range(60):
        limiter.reserve(0)
    clock.advance(5)
    assert [limiter.reserve(0) for _ in range(5)] == [0.0] * 5
    assert limiter.reserve(0) == pytest.approx(1.0)


def test_tokens_per_minute_limit_the_larger_requests(clock):
    limiter = RateLimiter(tpm=6000, clock=clock)
    assert limiter.reserve(6000) == 0.0
    assert limiter.reserve(100) == pytest.approx(1.0)


def test_settle_gives_back_an_overestimate(clock):
    limiter = RateLimiter(tpm=6000, clock=clock)
    limiter.reserve(6000)
    limiter.settle(estimated=6000, actual=100)
    assert limiter.reserve(5900) == 0.0


def test_the_stricter_of_the_two_limits_decides(clock):
    limiter = RateLimiter(rpm=1, tpm=1_000_000, clock=clock)
    assert limiter.reserve(10) == 0.0
    assert limiter.reserve(10) == pytest.approx(60.0)


def test_limits_must_be_positive():
    with pytest.raises(ValueError, match="rpm"):
        RateLimiter(rpm=0)
