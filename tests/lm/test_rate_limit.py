"""Rate limiter: no sliding 60 s window carries more than rpm requests or tpm tokens; waits shrink on refunds."""

from __future__ import annotations

import asyncio
import random

import pytest

from dspex_lab.errors import LMError
from dspex_lab.lm.rate_limit import WINDOW, RateLimiter


def send(limiter: RateLimiter, clock, chars: int = 0, max_tokens: int | None = None):
    """Reserve, move the clock to the grant's time, and send (what `acquire` does, without sleeping)."""
    grant = limiter.reserve(chars, max_tokens)
    if grant.at > clock.now:
        clock.now = grant.at
    limiter.mark_sent(grant)
    return grant


def max_in_any_window(times: list[float], weights: list[float]) -> float:
    """The largest total of `weights` whose times fall in one window (t - 60, t]."""
    pairs = sorted(zip(times, weights, strict=True))
    best = total = 0.0
    start = 0
    for at, weight in pairs:
        total += weight
        while pairs[start][0] + WINDOW <= at:
            total -= pairs[start][1]
            start += 1
        best = max(best, total)
    return best


def test_rpm_requests_fit_in_the_first_minute_and_not_one_more(clock):
    limiter = RateLimiter(rpm=120, clock=clock)
    grants = [limiter.reserve(0) for _ in range(240)]
    start = clock.now
    assert [g.at for g in grants[:120]] == [start] * 120
    assert grants[120].at == pytest.approx(start + 60)  # the old bucket let the 121st out at once
    in_first_minute = sum(g.at < start + 60 for g in grants)
    assert in_first_minute == 120


def test_no_sliding_window_ever_carries_more_than_rpm_requests(clock):
    limiter = RateLimiter(rpm=50, clock=clock)
    rng = random.Random(7)
    times = []
    for _ in range(400):
        clock.advance(rng.expovariate(3.0))
        times.append(send(limiter, clock).at)
    assert max_in_any_window(times, [1.0] * len(times)) <= 50


def test_no_sliding_window_ever_carries_more_than_tpm_reported_tokens(clock):
    limiter = RateLimiter(tpm=1000, clock=clock)
    rng = random.Random(3)
    times, used = [], []
    for _ in range(300):
        clock.advance(rng.expovariate(2.0))
        grant = send(limiter, clock, chars=80, max_tokens=60)
        prompt, completion = 25, rng.randint(1, 60)
        limiter.settle(grant, prompt, completion)
        times.append(grant.at)
        used.append(prompt + completion)
    assert max_in_any_window(times, used) <= 1000


def test_unused_reservations_are_given_back_and_waiting_grants_move_earlier(clock):
    limiter = RateLimiter(tpm=1000, clock=clock)
    first = [limiter.reserve(0, max_tokens=200) for _ in range(5)]
    waiting = limiter.reserve(0, max_tokens=200)
    assert waiting.at == pytest.approx(clock.now + 60)  # 5 x 200 fill the minute
    for grant in first:
        limiter.mark_sent(grant)
        limiter.settle(grant, 5, 10)  # each used 15 tokens
    assert waiting.at == clock.now  # no wait left: the limit allows it now


def test_waits_never_exceed_what_the_limit_implies(clock):
    # 200 callers with max_tokens=200 that use 15 tokens each: the old limiter handed out waits of 746 s.
    limiter = RateLimiter(tpm=3000, clock=clock)
    waits = []
    for _ in range(200):
        start = clock.now
        grant = send(limiter, clock, chars=0, max_tokens=200)
        waits.append(grant.at - start)
        limiter.settle(grant, 5, 10)
    assert max(waits) <= 60


def test_without_max_tokens_the_estimate_learns_from_reported_usage(clock):
    limiter = RateLimiter(tpm=10_000, clock=clock)
    assert not limiter.calibrated
    grant = send(limiter, clock, chars=400)
    limiter.settle(grant, 100, 900)
    assert limiter.calibrated
    assert limiter.estimate(400, None) >= 1000


def test_until_usage_is_known_requests_without_max_tokens_go_one_at_a_time():
    async def scenario() -> list[str]:
        limiter = RateLimiter(tpm=10_000)
        order: list[str] = []
        first = await limiter.acquire(40)
        second = asyncio.ensure_future(limiter.acquire(40))
        await asyncio.sleep(0)
        order.append("second waiting" if not second.done() else "second sent")
        limiter.settle(first, 10, 30)
        granted = await second
        order.append("second sent")
        limiter.settle(granted, 10, 30)
        return order

    assert asyncio.run(scenario()) == ["second waiting", "second sent"]


def test_a_request_larger_than_tpm_is_refused_at_once(clock):
    limiter = RateLimiter(tpm=100, clock=clock)
    with pytest.raises(LMError, match=r"estimated at 400 tokens can never fit in tpm=100"):
        limiter.reserve(0, max_tokens=400)


def test_the_stricter_of_the_two_limits_decides(clock):
    limiter = RateLimiter(rpm=1, tpm=1_000_000, clock=clock)
    assert limiter.reserve(0, 10).at == clock.now
    assert limiter.reserve(0, 10).at == pytest.approx(clock.now + 60)


def test_a_cancelled_grant_frees_its_place(clock):
    limiter = RateLimiter(rpm=1, clock=clock)
    send(limiter, clock)
    abandoned = limiter.reserve(0)
    after = limiter.reserve(0)
    assert after.at == pytest.approx(abandoned.at + 60)
    limiter.cancel(abandoned)
    assert after.at == pytest.approx(clock.now + 60)


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        ({"rpm": 0}, r"rpm must be a finite number of requests per minute > 0 or None, got 0"),
        ({"tpm": 0}, r"tpm must be .* > 0 or None, got 0"),
        ({"rpm": float("nan")}, r"rpm must be .*, got nan"),
        ({"tpm": float("inf")}, r"tpm must be .*, got inf"),
    ],
)
def test_limits_must_be_positive_finite_numbers(options, complaint):
    with pytest.raises(ValueError, match=complaint):
        RateLimiter(**options)


def test_a_limit_given_as_text_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match=r"rpm must be .*, got '60' \(str\)"):
        RateLimiter(rpm="60")  # type: ignore[arg-type]
