"""A rate limiter for requests and tokens per minute, shared by every caller of one LM."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class _Bucket:
    __slots__ = ("capacity", "level", "rate", "stamp")

    def __init__(self, per_minute: float, now: float) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.level = self.capacity
        self.stamp = now

    def take(self, amount: float, now: float) -> float:
        """Take `amount` (going into debt if needed); seconds until the debt is paid off."""
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now
        self.level -= amount
        return -self.level / self.rate if self.level < 0 else 0.0


class RateLimiter:
    """Token buckets holding one minute's worth of requests (`rpm`) and tokens (`tpm`).

    `reserve(tokens)` takes capacity at once and returns how long the caller must
    wait before sending, so callers are served in the order they asked, from any
    thread or event loop. Tokens are estimated before the call and corrected with
    `settle()` once the reply says how many were used. `clock` (seconds,
    monotonic) can be replaced to drive the buckets in tests.
    """

    def __init__(
        self, rpm: float | None = None, tpm: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        for name, value in (("rpm", rpm), ("tpm", tpm)):
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be a positive number per minute, got {value}")
        self.rpm = rpm
        self.tpm = tpm
        self.clock = clock
        self._lock = threading.Lock()
        now = clock()
        self._requests = _Bucket(rpm, now) if rpm else None
        self._tokens = _Bucket(tpm, now) if tpm else None

    def __repr__(self) -> str:
        return f"RateLimiter(rpm={self.rpm}, tpm={self.tpm})"

    def reserve(self, tokens: int) -> float:
        """Reserve one request and `tokens` tokens; returns the seconds to wait before sending."""
        with self._lock:
            now = self.clock()
            wait = 0.0
            if self._requests is not None:
                wait = self._requests.take(1, now)
            if self._tokens is not None:
                wait = max(wait, self._tokens.take(tokens, now))
            return wait

    def settle(self, estimated: int, actual: int) -> None:
        """Give back (or take more of) the token estimate once the real count is known."""
        if self._tokens is None or estimated == actual:
            return
        with self._lock:
            self._tokens.level = min(self._tokens.capacity, self._tokens.level + estimated - actual)
