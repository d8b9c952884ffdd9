"""A rate limiter for requests and tokens per minute, shared by every caller of one LM.

The promise: no 60-second window, wherever it is placed, carries more than
`rpm` requests or `tpm` tokens, as the provider counts them when requests
arrive. Each request gets a send time (a grant), in the order it asked, at the
earliest moment the window ending there still has room for it. A request is
counted at the latest moment it can have reached the provider: while it is in
flight, "now"; once answered, the moment its reply came back (a first request
that spends a second opening a connection must not let a request 59 s later
share its window). Tokens are reserved from an estimate, then replaced by what the
provider reports it used; a reservation that turns out too large is given back
and the grants still waiting move earlier, so no caller waits longer than the
limit itself implies.

The estimate: prompt characters / 4, scaled by the largest tokens-per-character
ratio recent replies reported, plus `max_tokens`, or without it the largest
completion recent replies used. Until a reply has reported its usage, requests
without `max_tokens` go one at a time, so a first burst cannot overshoot `tpm`.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from dspex_lab.errors import LMError
from dspex_lab.lm.wakeup import Wakeup
from dspex_lab.options import check_number

WINDOW = 60.0
_RECENT = 64


class Grant:
    """One request's place in the window: when it may be sent, and the tokens it holds."""

    __slots__ = ("at", "chars", "done", "probe", "sent", "tokens")

    def __init__(self, tokens: float, chars: int = 0, probe: bool = False) -> None:
        self.at = 0.0
        self.tokens = tokens
        self.chars = chars
        self.probe = probe
        self.sent = False  # the request went out at `at`
        self.done = False  # its reply came back (or it failed) at `at`

    def __repr__(self) -> str:
        return f"Grant(at={self.at:.3f}, tokens={self.tokens:g}, sent={self.sent})"


class RateLimiter:
    """Sliding 60-second windows of at most `rpm` requests and `tpm` tokens.

    `grant = await acquire(prompt_chars, max_tokens)` returns once the request
    may be sent; `settle(grant, prompt_tokens, completion_tokens)` records what
    the provider reported (zeros for an attempt that failed). `reserve` and
    `mark_sent` are the non-waiting halves, for tests that drive `clock`
    (seconds, monotonic) by hand.
    """

    def __init__(
        self, rpm: float | None = None, tpm: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rpm = check_number("rpm", rpm, above=0, optional=True, unit="requests per minute")
        self.tpm = check_number("tpm", tpm, above=0, optional=True, unit="tokens per minute")
        self.clock = clock
        self._lock = threading.Lock()
        self._grants: list[Grant] = []  # by send time: sent ones still inside the window, then waiting ones
        self._wakeup = Wakeup()
        self._ratios: deque[float] = deque(maxlen=_RECENT)  # reported prompt tokens per estimated token
        self._completions: deque[int] = deque(maxlen=_RECENT)
        self._probing = False

    def __repr__(self) -> str:
        return f"RateLimiter(rpm={self.rpm}, tpm={self.tpm})"

    # -- the estimate --------------------------------------------------------------------------------

    def estimate(self, prompt_chars: int, max_tokens: int | None) -> float:
        """Tokens to reserve for a request: see the module docstring."""
        ratio = max(self._ratios, default=1.0)
        prompt = math.ceil(prompt_chars / 4 * max(1.0, ratio))
        completion = max_tokens if max_tokens else max(self._completions, default=0)
        return float(prompt + completion)

    @property
    def calibrated(self) -> bool:
        """Whether a reply has reported its usage (so estimates without max_tokens mean something)."""
        return bool(self._completions)

    # -- granting ------------------------------------------------------------------------------------

    def reserve(self, prompt_chars: int, max_tokens: int | None = None) -> Grant:
        """Place one request after every earlier one; its time is `grant.at`."""
        tokens = self.estimate(prompt_chars, max_tokens)
        if self.tpm is not None and tokens > self.tpm:
            raise LMError(
                f"a request estimated at {tokens:g} tokens can never fit in tpm={self.tpm:g} tokens per minute; "
                "lower max_tokens or shorten the prompt, or raise tpm"
            )
        grant = Grant(tokens, prompt_chars)
        with self._lock:
            now = self.clock()
            self._expire(now)
            self._place(self._grants, [grant], now)
            self._grants.append(grant)
        return grant

    def mark_sent(self, grant: Grant) -> None:
        """The request of `grant` goes out now: its place is the real send time."""
        with self._lock:
            grant.sent = True
            now = self.clock()
            if now > grant.at:
                grant.at = now
                self._replan(now)

    async def acquire(self, prompt_chars: int, max_tokens: int | None = None) -> Grant:
        """Wait until a request may be sent; the grant moves earlier when others give tokens back."""
        probe = self.tpm is not None and not max_tokens and await self._probe_turn()
        try:
            grant = self.reserve(prompt_chars, max_tokens)
        except BaseException:
            if probe:
                self._end_probe()
            raise
        grant.probe = probe
        try:
            while True:
                seen = self._wakeup.generation
                delay = grant.at - self.clock()
                if delay <= 0:
                    self.mark_sent(grant)
                    return grant
                await self._wakeup.wait(delay, seen)
        except BaseException:
            self.cancel(grant)
            raise

    async def _probe_turn(self) -> bool:
        """Until usage is known, let one request without max_tokens out at a time; True for that one."""
        while not self.calibrated:
            seen = self._wakeup.generation
            with self._lock:
                if not self._probing:
                    self._probing = True
                    return True
            await self._wakeup.wait(None, seen)
        return False

    def _end_probe(self) -> None:
        self._probing = False
        self._wakeup.wake_all()

    def settle(self, grant: Grant, prompt_tokens: int, completion_tokens: int) -> None:
        """What the request of `grant` used, as the provider reported it (zeros when it failed)."""
        used = prompt_tokens + completion_tokens
        with self._lock:
            grant.done = True
            grant.at = max(grant.at, self.clock())
            if used:
                if grant.chars:
                    self._ratios.append(prompt_tokens / max(1.0, grant.chars / 4))
                self._completions.append(completion_tokens)
            if grant.probe:
                grant.probe = False
                self._end_probe()
            grant.tokens = used
            self._replan(self.clock())

    def cancel(self, grant: Grant) -> None:
        """A grant given up before its request was sent frees its place (a sent one keeps it, ending now)."""
        with self._lock:
            if grant.probe:
                grant.probe = False
                self._end_probe()
            if grant.sent:
                grant.done = True
                grant.at = max(grant.at, self.clock())
                return
            if grant not in self._grants:
                return
            self._grants.remove(grant)
            self._replan(self.clock())

    # -- placement -----------------------------------------------------------------------------------

    def _expire(self, now: float) -> None:
        grants = self._grants
        gone = 0
        while gone < len(grants) and grants[gone].done and grants[gone].at + WINDOW <= now:
            gone += 1
        if gone:
            del grants[:gone]

    def _place(self, fixed: list[Grant], new: list[Grant], now: float) -> None:
        """Give each of `new`, in order, the first time >= now (and >= the grant before it) with room.

        A request in flight counts as happening now. Grants are placed in time
        order, so only the window ending at a new grant needs checking: every
        later window holds a subset of its grants.
        """
        placed = sorted(((g.at if g.done or not g.sent else max(g.at, now)), g.tokens) for g in fixed)
        prefix = [0.0]
        for _, tokens in placed:
            prefix.append(prefix[-1] + tokens)
        rpm, tpm = self.rpm, self.tpm
        first = 0  # placed[:first] have left the window ending at `at`
        for grant in new:
            at = max(now, placed[-1][0]) if placed else now
            while True:
                while first < len(placed) and placed[first][0] + WINDOW <= at:
                    first += 1
                inside = len(placed) - first
                tokens = prefix[-1] - prefix[first]
                if (rpm is None or inside + 1 <= rpm) and (tpm is None or tokens + grant.tokens <= tpm):
                    break
                at = placed[first][0] + WINDOW
            grant.at = at
            placed.append((at, grant.tokens))
            prefix.append(prefix[-1] + grant.tokens)

    def _replan(self, now: float) -> None:
        """Place the grants not yet sent again, in order; wake their waiters if one moved earlier."""
        grants = self._grants
        sent = sorted((g for g in grants if g.sent), key=lambda g: g.at)
        waiting = [g for g in grants if not g.sent]
        before = [g.at for g in waiting]
        self._place(sent, waiting, now)
        grants[:] = sent + waiting
        if any(g.at < old for g, old in zip(waiting, before, strict=True)):
            self._wakeup.wake_all()
