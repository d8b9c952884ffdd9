"""A circuit breaker: after N consecutive failures an LM fails fast until a cool-down has passed.

Outside a run a call that meets an open circuit fails at once. Inside an
evaluation or a compile (`circuit_wait` is set by the engine) it waits for the
cool-down instead, for at most the run's `CircuitWait.limit` seconds, so a
short outage delays the run rather than failing every remaining example; when
the limit runs out the run stops and says why.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextvars import ContextVar

from dspex_lab.errors import CircuitOpenError
from dspex_lab.lm.secret import redact_text
from dspex_lab.lm.wakeup import Wakeup
from dspex_lab.options import check_number

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class CircuitWait:
    """How long the calls of one run wait for an open circuit, and whether that time ran out.

    `on_wait(waiting, detail)` is told when the first call starts waiting
    (`waiting=True`, `detail` says for what and how long) and when the last one
    stops. `exhausted` holds the reason once a call waited `limit` seconds.
    """

    __slots__ = ("_waiting", "exhausted", "limit", "on_wait")

    def __init__(self, limit: float, on_wait: Callable[[bool, str], None] | None = None) -> None:
        self.limit = check_number("circuit_wait", limit, minimum=0, unit="seconds")
        self.on_wait = on_wait
        self.exhausted: str | None = None
        self._waiting = 0

    def _begin(self, detail: str) -> None:
        self._waiting += 1
        if self._waiting == 1 and self.on_wait is not None:
            self.on_wait(True, detail)

    def _end(self) -> None:
        self._waiting -= 1
        if self._waiting == 0 and self.on_wait is not None:
            self.on_wait(False, "")


circuit_wait: ContextVar[CircuitWait | None] = ContextVar("dspex_circuit_wait", default=None)
"""The waiting rule of the run the current call belongs to (None: fail fast)."""


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
        cooldown: float = 5.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[str, int], None] | None = None,
    ) -> None:
        self.name = name
        self.threshold = check_number("circuit_threshold", threshold, minimum=1, integer=True)
        self.cooldown = check_number("circuit_cooldown", cooldown, minimum=0, unit="seconds")
        self.on_change = on_change
        self.clock = clock
        self._lock = threading.Lock()
        self._state = CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._last_error = ""
        self._wakeup = Wakeup()

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

    @staticmethod
    def waits() -> bool:
        """Whether the current call belongs to a run that waits for open circuits."""
        rule = circuit_wait.get()
        return rule is not None and rule.limit > 0 and rule.exhausted is None

    async def admit(self, deadline: float | None = None) -> float | None:
        """Let a call through: at once, after waiting for the cool-down (inside a run), or raise.

        Within a run (see `circuit_wait`) a call that meets an open or half-open
        circuit waits until it closes or this call becomes the trial, until
        `deadline` (time.monotonic; default: the run's limit from now); then
        the run is marked exhausted and the call raises CircuitOpenError.
        Elsewhere it raises at once. Returns the deadline it used, so a call
        that waits again keeps counting from its first wait.
        """
        if self._state == CLOSED:
            return deadline
        rule = circuit_wait.get()
        if rule is None or rule.limit <= 0:
            self.before()
            return deadline
        if rule.exhausted is not None:
            raise CircuitOpenError(rule.exhausted, provider=self.name.split("/", 1)[0])
        if deadline is None:
            deadline = time.monotonic() + rule.limit
        waiting = False
        try:
            while True:
                seen = self._wakeup.generation
                try:
                    self.before()
                    return deadline
                except CircuitOpenError as error:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        rule.exhausted = (
                            f"the circuit breaker of {self.name} stayed open while calls waited "
                            f"{rule.limit:g} s for it (circuit_wait={rule.limit:g}); last error: "
                            f"{self._last_error}. The provider looks down: run again later (the same "
                            "run_id resumes), or pass a larger circuit_wait= to wait longer"
                        )
                        raise CircuitOpenError(rule.exhausted, provider=error.provider) from None
                    if not waiting:
                        waiting = True
                        rule._begin(
                            f"circuit breaker of {self.name} open after {self._failures} failures; "
                            f"waiting up to {min(left, error.retry_after or left):.1f} s for its cool-down"
                        )
                    pause = left if error.retry_after is None else min(left, error.retry_after)
                    await self._wakeup.wait(max(pause, 0.001), seen)
        finally:
            if waiting:
                rule._end()

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
            self._last_error = redact_text(f"{type(error).__name__}: {error}")[:300]
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
        self._wakeup.wake_all()
        if self.on_change is not None:
            self.on_change(state, self._failures)
