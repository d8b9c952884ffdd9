"""When to retry an LM call, and how long to wait first."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

from dspex_lab.errors import LMError
from dspex_lab.options import check_number

RETRYABLE_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})


class RetryPolicy:
    """Exponential backoff with jitter, bounded attempts, and the provider's Retry-After honoured.

    Retried: errors marked retryable (429, 5xx, timeouts, connection errors, cut-off
    replies). Attempt `n` (1-based) that failed waits `retry_after` when the provider
    sent one, else a random time between half and all of
    `min(max_delay, initial_delay * 2 ** (n - 1))`. A Retry-After longer than
    `max_retry_after` is not waited out: the error is raised instead.
    `sleep` is the coroutine used to wait (replaceable to observe the waits).
    """

    def __init__(
        self,
        num_retries: int = 3,
        *,
        initial_delay: float = 0.5,
        max_delay: float = 20.0,
        max_retry_after: float = 60.0,
        seed: int | None = None,
    ) -> None:
        self.num_retries = check_number("num_retries", num_retries, minimum=0, integer=True)
        self.initial_delay = initial_delay
        self.max_delay = max_delay
        self.max_retry_after = max_retry_after
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        self._random = random.Random(seed)

    def __repr__(self) -> str:
        return f"RetryPolicy(num_retries={self.num_retries}, max_delay={self.max_delay:g})"

    def delay(self, attempt: int, error: LMError) -> float | None:
        """Seconds to wait after failed attempt `attempt` (1-based), or None to give up."""
        if not error.retryable or attempt > self.num_retries:
            return None
        if error.retry_after is not None:
            return error.retry_after if error.retry_after <= self.max_retry_after else None
        ceiling = min(self.max_delay, self.initial_delay * 2 ** (attempt - 1))
        return ceiling / 2 + self._random.uniform(0, ceiling / 2)

    def give_up_reason(self, attempt: int, error: LMError) -> str:
        """Why `delay` returned None, for the error message."""
        if not error.retryable:
            return ""
        if error.retry_after is not None and error.retry_after > self.max_retry_after:
            return (
                f"the provider asked to wait {error.retry_after:g} s, longer than "
                f"max_retry_after={self.max_retry_after:g} s"
            )
        return f"gave up after {attempt} attempt{'s' if attempt > 1 else ''}"
