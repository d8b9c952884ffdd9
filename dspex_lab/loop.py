"""Run coroutines from synchronous code: in a script, a worker thread, or a Jupyter cell.

Synchronous entry points that need an event loop (an evaluation, a provider
without a synchronous path) hand their coroutine to one private event loop
running in a daemon thread. That works whether or not the calling thread already
runs a loop (a Jupyter kernel does), and survives a kernel interrupt:
KeyboardInterrupt in the waiting thread cancels the task, and whatever the
coroutine returns while handling that cancellation (a partial evaluation, say)
is returned to the caller. A synchronous HTTP LM call needs none of this: it
sends from the calling thread (see `dspex_lab.lm.blocking`).

The caller's contextvars (settings, trace run and span) travel with the task.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from dspex_lab.errors import Interrupted

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None


def background_loop() -> asyncio.AbstractEventLoop:
    """The private event loop, started on first use."""
    global _loop, _thread
    loop = _loop
    if loop is not None:
        return loop
    with _lock:
        if _loop is None:
            ready = threading.Event()
            new_loop = asyncio.new_event_loop()

            def serve() -> None:
                asyncio.set_event_loop(new_loop)
                new_loop.call_soon(ready.set)
                new_loop.run_forever()

            _thread = threading.Thread(target=serve, name="dspex-loop", daemon=True)
            _thread.start()
            ready.wait()
            _loop = new_loop
        return _loop


def in_background_loop() -> bool:
    """True when called from the private loop's own thread."""
    return _thread is not None and threading.current_thread() is _thread


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` to completion on the private loop and return its result.

    On KeyboardInterrupt the task is cancelled; if the coroutine ends with
    `Interrupted` carrying a partial result (an interrupted evaluation), that
    result is returned, otherwise KeyboardInterrupt is raised again.
    """
    if in_background_loop():
        coro.close()
        raise RuntimeError(
            "a synchronous dspex_lab call was made from inside an async task; "
            "use the async form instead (for example `await program.acall(...)`)"
        )
    loop = background_loop()
    ctx = contextvars.copy_context()
    done: concurrent.futures.Future[T] = concurrent.futures.Future()
    holder: list[asyncio.Task[T]] = []

    def start() -> None:
        if not done.set_running_or_notify_cancel():
            coro.close()
            return
        task = loop.create_task(_partial_on_cancel(coro), context=ctx)
        holder.append(task)
        task.add_done_callback(lambda t: _copy_outcome(t, done))

    try:
        loop.call_soon_threadsafe(start)
        return done.result()
    except KeyboardInterrupt:
        if done.cancel():
            # Interrupted before the task started: it never will.
            raise
        loop.call_soon_threadsafe(lambda: holder and holder[0].cancel())
        try:
            return done.result()
        except concurrent.futures.CancelledError:
            raise KeyboardInterrupt from None


async def _partial_on_cancel(coro: Coroutine[Any, Any, T]) -> T:
    """`coro`'s result, or the partial result of the `Interrupted` it ends with (for the synchronous caller)."""
    try:
        return await coro
    except Interrupted as stop:
        if stop.partial is None:
            raise
        partial: T = stop.partial
        return partial


def _copy_outcome(task: asyncio.Task[T], target: concurrent.futures.Future[T]) -> None:
    if task.cancelled():
        # The target is already RUNNING, where Future.cancel() is refused.
        target.set_exception(concurrent.futures.CancelledError())
        return
    exc = task.exception()
    if exc is not None:
        target.set_exception(exc)
    else:
        target.set_result(task.result())


class _ThreadLoop:
    """This thread's own event loop for `run_blocking`, closed when the thread ends."""

    __slots__ = ("loop",)

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def __del__(self) -> None:
        self.loop.close()


_thread_loops = threading.local()
_set_running_loop = asyncio.events._set_running_loop


def run_blocking(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` to its end in the calling thread, blocking it; for coroutines that mostly never wait.

    A coroutine that never suspends (the usual LM call over a blocking transport)
    runs with no event loop turning at all. When it does wait on the loop (a rate
    limit, a breaker's cool-down), a loop of this thread's own runs until the
    awaited future is done, then the coroutine goes on. A Ctrl-C during such a
    wait is raised inside the coroutine, so its clean-up runs. Works in a thread
    whose own loop is running (a Jupyter cell), which it blocks, as `run_sync` does.
    """
    if in_background_loop():
        coro.close()
        raise RuntimeError(
            "a synchronous dspex_lab call was made from inside an async task; "
            "use the async form instead (for example `await program.acall(...)`)"
        )
    holder = getattr(_thread_loops, "holder", None)
    if holder is None:
        holder = _thread_loops.holder = _ThreadLoop()
    loop = holder.loop
    outer = asyncio._get_running_loop()
    failure: BaseException | None = None
    while True:
        _set_running_loop(loop)
        try:
            waited = coro.send(None) if failure is None else coro.throw(failure)
        except StopIteration as done:
            return done.value
        finally:
            _set_running_loop(outer)
        failure = None
        if waited is None:
            continue  # a bare yield (asyncio.sleep(0)): go on at once
        _set_running_loop(None)
        waiter = loop.create_task(asyncio.wait((waited,)))
        try:
            loop.run_until_complete(waiter)
        except BaseException as exc:  # Ctrl-C while waiting: raised inside the coroutine
            failure = exc
            waiter.cancel()
            waited.cancel()
            with contextlib.suppress(BaseException):
                loop.run_until_complete(waiter)  # let the cancellation finish
        finally:
            _set_running_loop(outer)


async def on_private_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Await `coro` run on the private loop, from any event loop (at once when already on it).

    For objects bound to one loop (an httpx.AsyncClient's connections). Cancelling
    the caller cancels the task on the private loop.
    """
    if in_background_loop():
        return await coro
    future = asyncio.run_coroutine_threadsafe(coro, background_loop())
    return await asyncio.wrap_future(future)


_workers: concurrent.futures.ThreadPoolExecutor | None = None
WORKER_THREADS = 128


async def run_in_worker(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run blocking `fn` in a worker thread, with the caller's contextvars.

    The pool is larger than asyncio's default so a synchronous program evaluated
    at high concurrency is not throttled to a handful of threads.
    """
    global _workers
    if _workers is None:
        with _lock:
            if _workers is None:
                _workers = concurrent.futures.ThreadPoolExecutor(WORKER_THREADS, thread_name_prefix="dspex-worker")
    ctx = contextvars.copy_context()
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_workers, lambda: ctx.run(fn, *args, **kwargs))
