"""Circuit breaker: opens after N consecutive failures, half-opens after the cool-down, recovers."""

from __future__ import annotations

import pytest

from dspex_lab.errors import CircuitOpenError
from dspex_lab.lm.circuit import CircuitBreaker


def breaker(clock, changes=None) -> CircuitBreaker:
    return CircuitBreaker(
        "openai/m",
        threshold=3,
        cooldown=10.0,
        clock=clock,
        on_change=lambda s, n: changes.append(s) if changes is not None else None,
    )


def fail(b: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        b.before()
        b.failed(RuntimeError("503 overloaded"))


def test_opens_after_threshold_consecutive_failures_and_fails_fast(clock):
    b = breaker(clock)
    fail(b, 2)
    assert b.state == "closed"
    fail(b, 1)
    assert b.state == "open"
    with pytest.raises(CircuitOpenError, match=r"open after 3 consecutive failures \(last: RuntimeError: 503") as info:
        b.before()
    assert info.value.retry_after == pytest.approx(10.0)


def test_a_success_resets_the_count(clock):
    b = breaker(clock)
    fail(b, 2)
    b.succeeded()
    fail(b, 2)
    assert b.state == "closed"


def test_after_the_cooldown_one_trial_goes_through_and_success_closes(clock):
    changes: list[str] = []
    b = breaker(clock, changes)
    fail(b, 3)
    clock.advance(10)
    b.before()
    assert b.state == "half_open"
    with pytest.raises(CircuitOpenError, match="trial call is under way"):
        b.before()
    b.succeeded()
    assert b.state == "closed"
    b.before()
    assert changes == ["open", "half_open", "closed"]


def test_a_failed_trial_opens_again_for_another_cooldown(clock):
    b = breaker(clock)
    fail(b, 3)
    clock.advance(10)
    fail(b, 1)
    assert b.state == "open"
    clock.advance(9)
    with pytest.raises(CircuitOpenError):
        b.before()


def test_a_trial_that_ends_without_a_verdict_hands_the_trial_on(clock):
    b = breaker(clock)
    fail(b, 3)
    clock.advance(10)
    b.before()
    b.released()
    b.before()
    assert b.state == "half_open"


def test_threshold_must_be_positive(clock):
    with pytest.raises(ValueError, match="circuit_threshold"):
        CircuitBreaker("m", threshold=0, clock=clock)
