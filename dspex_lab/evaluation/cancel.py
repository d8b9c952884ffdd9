"""Stopping a running evaluation from anywhere: a thread-safe token, and a registry by run id.

A `CancelToken` can be cancelled from any thread (a notebook Stop button runs in
the kernel's thread, the engine on its private loop). `cancel_run(run_id)` finds
the token of a run that is in progress, so a consumer that only sees the event
stream (and therefore knows only the run id) can stop it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from dspex_lab.errors import DspexError


class RunInProgressError(DspexError, RuntimeError):
    """A run with this id is already in progress in this process."""


class CancelToken:
    """A request to stop a run, safe to make from any thread, before or during the run."""

    __slots__ = ("_callbacks", "_lock", "_reason")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reason: str | None = None
        self._callbacks: list[Callable[[str], None]] = []

    @property
    def cancelled(self) -> bool:
        return self._reason is not None

    @property
    def reason(self) -> str | None:
        return self._reason

    def cancel(self, reason: str = "cancelled by CancelToken.cancel()") -> None:
        """Ask the run to stop; finished examples are kept. Later calls do nothing."""
        with self._lock:
            if self._reason is not None:
                return
            self._reason = reason
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(reason)

    def on_cancel(self, callback: Callable[[str], None]) -> Callable[[], None]:
        """Call `callback(reason)` on cancellation (at once if already cancelled).

        The callback runs in the cancelling thread. Returns a function that removes it.
        """
        with self._lock:
            reason = self._reason
            if reason is None:
                self._callbacks.append(callback)
        if reason is not None:
            callback(reason)

        def remove() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return remove

    def __repr__(self) -> str:
        state = f"cancelled: {self._reason}" if self._reason else "active"
        return f"CancelToken({state})"


_active: dict[str, CancelToken] = {}
_active_lock = threading.Lock()


def register(run_id: str, token: CancelToken) -> Callable[[], None]:
    """Record `run_id` as in progress; returns the function that ends the record."""
    with _active_lock:
        if run_id in _active:
            raise RunInProgressError(
                f"run {run_id!r} is already in progress in this process; wait for it to finish, "
                f"stop it with dx.evaluate.cancel_run({run_id!r}), or use another run_id"
            )
        _active[run_id] = token

    def unregister() -> None:
        with _active_lock:
            if _active.get(run_id) is token:
                del _active[run_id]

    return unregister


def cancel_run(run_id: str, reason: str | None = None) -> bool:
    """Stop the run `run_id` if it is in progress here. Returns whether there was one."""
    with _active_lock:
        token = _active.get(run_id)
    if token is None:
        return False
    token.cancel(reason or f"cancelled with cancel_run({run_id!r})")
    return True


def active_runs() -> list[str]:
    """Ids of the runs in progress in this process."""
    with _active_lock:
        return sorted(_active)
