"""Circuit breaker: opens after N consecutive failures, half-opens after the cool-down, recovers."""

from __future__ import annotations

import asyncio

import pytest

from dspex_lab.errors import CircuitOpenError
from dspex_lab.lm.circuit import CircuitBreaker, CircuitWait, circuit_wait

pytestmark = pytest.mark.usefixtures("each_transport")


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


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        ({"threshold": 0}, r"circuit_threshold must be a whole number >= 1, got 0"),
        ({"threshold": 2.5}, r"circuit_threshold must be a whole number >= 1, got 2.5 \(not a whole number\)"),
        ({"cooldown": float("nan")}, r"circuit_cooldown must be a finite number of seconds >= 0, got nan"),
        ({"cooldown": -1}, r"circuit_cooldown must be .* >= 0, got -1"),
    ],
)
def test_threshold_and_cooldown_are_checked(clock, options, complaint):
    with pytest.raises(ValueError, match=complaint):
        CircuitBreaker("m", clock=clock, **options)


def test_the_last_error_in_the_message_is_redacted(clock):
    b = breaker(clock)
    for _ in range(3):
        b.failed(RuntimeError('proxy said {"authorization": "Bearer sk-live-abcdef123456"}'))
    with pytest.raises(CircuitOpenError) as info:
        b.before()
    assert "sk-live-abcdef123456" not in str(info.value)
    assert "[redacted]" in str(info.value)


# -- waiting inside a run -----------------------------------------------------------------------------


def test_outside_a_run_an_open_circuit_fails_at_once():
    b = CircuitBreaker("openai/m", threshold=1, cooldown=30)
    b.failed(RuntimeError("503"))
    with pytest.raises(CircuitOpenError, match="open after 1 consecutive failures"):
        asyncio.run(b.admit())


def test_inside_a_run_a_call_waits_for_the_circuit_to_close_and_says_so():
    b = CircuitBreaker("openai/m", threshold=1, cooldown=30)
    told: list[tuple[bool, str]] = []

    async def scenario() -> str:
        token = circuit_wait.set(CircuitWait(60, lambda on, detail: told.append((on, detail))))
        try:
            b.failed(RuntimeError("503"))
            waiting = asyncio.create_task(b.admit())
            await asyncio.sleep(0)
            assert not waiting.done()
            b.succeeded()  # a retry in flight got through: the circuit closes and the waiter goes on
            await waiting
            return b.state
        finally:
            circuit_wait.reset(token)

    assert asyncio.run(scenario()) == "closed"
    assert [on for on, _ in told] == [True, False]
    assert "circuit breaker of openai/m open after 1 failures" in told[0][1]


def test_after_the_cooldown_one_waiting_call_is_the_trial_and_the_others_wait_for_it():
    b = CircuitBreaker("openai/m", threshold=1, cooldown=0.05)

    async def scenario() -> list[str]:
        token = circuit_wait.set(CircuitWait(30))
        try:
            b.failed(RuntimeError("503"))
            first, second = asyncio.create_task(b.admit()), asyncio.create_task(b.admit())
            _done, pending = await asyncio.wait({first, second}, return_when=asyncio.FIRST_COMPLETED)
            states = [b.state, f"{len(pending)} waiting"]
            b.succeeded()  # the trial succeeded
            await asyncio.gather(first, second)
            return [*states, b.state]
        finally:
            circuit_wait.reset(token)

    assert asyncio.run(scenario()) == ["half_open", "1 waiting", "closed"]


def test_a_call_that_waited_the_whole_limit_marks_the_run_exhausted():
    b = CircuitBreaker("openai/m", threshold=1, cooldown=30)
    rule = CircuitWait(0.05)

    async def scenario() -> None:
        token = circuit_wait.set(rule)
        try:
            b.failed(RuntimeError("HTTP 503"))
            await b.admit()
        finally:
            circuit_wait.reset(token)

    with pytest.raises(CircuitOpenError, match=r"stayed open while calls waited 0.05 s for it \(circuit_wait=0.05\)"):
        asyncio.run(scenario())
    assert rule.exhausted is not None
    assert "pass a larger circuit_wait=" in rule.exhausted
