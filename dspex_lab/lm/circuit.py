"""A circuit breaker: after N consecutive failures an LM fails fast until a cool-down has passed."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from dspex_lab.errors import CircuitOpenError

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class CircuitBreaker:
    """Closed -> open after `threshold` consecutive failures -> half-open after `cooldown` seconds.

    While open, calls raise CircuitOpenError at once. Once the cool-down has
    passed, one trial call goes through (half-open): success closes the circuit,
    failure opens it for another cool-down. Failures are what a provider does
    wrong (5xx, timeouts, dropped connections); a 4xx is the caller's problem and
    counts as the provider being up. `on_change(state, failures)` is told of
    every transition; `clock` (seconds, monotonic) can be replaced to drive
    the cool-down in tests. Safe to share between threads and event loops.
    """

    def __init__(
        self,
        name: str,
        threshold: int = 5,
        cooldown: float = 30.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[str, int], None] | None = None,
    ) -> None:
        if threshold < 1:
            raise ValueError(f"circuit_threshold must be at least 1, got {threshold}")
        self.name = name
        self.threshold = threshold
        self.cooldown = cooldown
        self.on_change = on_change
        self.clock = clock
        self._lock = threading.Lock()
        self._state = CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._last_error = ""

    @property
    def state(self) -> str:
        return self._state

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.name!r}, state={self._state!r}, failures={self._failures})"

    def before(self) -> None:
        """Let a call through, or raise CircuitOpenError."""
        if self._state == CLOSED:
            return
        with self._lock:
            if self._state == OPEN:
                remaining = self._opened_at + self.cooldown - self.clock()
                if remaining <= 0:
                    self._set(HALF_OPEN)
                    return
                raise CircuitOpenError(
                    f"the circuit breaker of {self.name} is open after {self._failures} consecutive failures "
                    f"(last: {self._last_error}); calls fail at once for {remaining:.1f} s more, then one "
                    "trial call is let through",
                    provider=self.name.split("/", 1)[0],
                    retry_after=remaining,
                )
            if self._state == HALF_OPEN:
                raise CircuitOpenError(
                    f"the circuit breaker of {self.name} is half-open: a trial call is under way after "
                    f"{self._failures} consecutive failures (last: {self._last_error}); try again shortly",
                    provider=self.name.split("/", 1)[0],
                )

    def succeeded(self) -> None:
        """The provider answered: close the circuit."""
        if self._state == CLOSED and self._failures == 0:
            return
        with self._lock:
            self._failures = 0
            if self._state != CLOSED:
                self._set(CLOSED)

    def failed(self, error: BaseException) -> None:
        """The provider failed: count it, and open the circuit at the threshold or after a failed trial."""
        with self._lock:
            self._failures += 1
            self._last_error = f"{type(error).__name__}: {error}"[:300]
            if self._state == HALF_OPEN or (self._state == CLOSED and self._failures >= self.threshold):
                self._opened_at = self.clock()
                self._set(OPEN)

    def released(self) -> None:
        """A call ended without telling whether the provider is up (cancelled, rate-limited).

        A trial call that ends so hands the trial to the next caller.
        """
        with self._lock:
            if self._state == HALF_OPEN:
                self._opened_at = self.clock() - self.cooldown
                self._set(OPEN)

    def _set(self, state: str) -> None:
        self._state = state
        if self.on_change is not None:
            self.on_change(state, self._failures)
