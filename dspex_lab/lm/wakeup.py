"""Waiting for a shared object to change, from any event loop or thread.

The rate limiter and the circuit breaker are shared by every copy of an LM,
whichever loop calls it (the private sync loop, a script's `asyncio.run`, a
test's loop). A caller that has to wait registers a future on its own loop;
whoever changes the object wakes every registered future on its owner's loop.
"""

from __future__ import annotations

import asyncio
import threading


class Wakeup:
    """`await wakeup.wait(timeout, seen)` returns when `wake_all()` is called or `timeout` seconds pass.

    `generation` counts the wake-ups: a caller reads it before looking at the
    shared state and passes it as `seen`, so a wake-up that came in between is
    not missed.
    """

    __slots__ = ("_lock", "_waiters", "generation")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = set()
        self.generation = 0

    async def wait(self, timeout: float | None, seen: int | None = None) -> None:
        """Wait for the next `wake_all()` after generation `seen`, at most `timeout` seconds (None: no bound)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        entry = (loop, future)
        with self._lock:
            if seen is not None and seen != self.generation:
                return
            self._waiters.add(entry)
        try:
            await asyncio.wait((future,), timeout=timeout)
        finally:
            with self._lock:
                self._waiters.discard(entry)
            if not future.done():
                future.cancel()

    def wake_all(self) -> None:
        """Wake every waiter (safe from any thread)."""
        with self._lock:
            self.generation += 1
            waiters, self._waiters = self._waiters, set()
        for loop, future in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(_resolve, future)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
