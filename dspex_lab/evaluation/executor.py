"""Where per-item work runs: the isolated job, and the executors that run many of them.

The engine hands an executor a job (one item in, one `Outcome` out, never an
exception) and a callback for finished outcomes. `LocalExecutor` runs jobs as
asyncio tasks on the current loop with bounded concurrency; `DaskExecutor`
(`dask_executor.py`) runs them in batches on a Dask cluster, through the same
one-method protocol.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from dspex_lab.lm.secret import redact_text
from dspex_lab.lm.usage import Usage, track_usage
from dspex_lab.trace import events, schema


@dataclass(slots=True)
class Outcome:
    """How one item went: its value, or the error that replaced it, and the LM usage it caused."""

    index: int
    value: Any = None
    error: str | None = None
    traceback: str | None = None
    latency_ms: float = 0.0
    timed_out: bool = False
    usage: Usage | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class IsolatedJob:
    """Runs `fn(item)` so that nothing it does escapes: errors and timeouts become Outcomes.

    Each call runs inside an item span (`EvaluateItemStart`), so the program's and the LM's
    events nest under the item they belong to, and counts the usage of every LM
    call it makes, also when it fails. Cancellation is not caught: it belongs to
    whoever stops the run.
    """

    __slots__ = ("component", "fn", "item", "timeout")

    def __init__(
        self,
        fn: Callable[[Any], Awaitable[Any]],
        timeout: float | None,
        component: str,
        item: type[schema.EvaluateItemStart] | type[schema.TeacherItemStart] = schema.EvaluateItemStart,
    ) -> None:
        self.fn = fn
        self.timeout = timeout
        self.component = component
        self.item = item

    async def __call__(self, index: int, item: Any) -> Outcome:
        start = time.perf_counter()
        deadline = asyncio.timeout(self.timeout)
        with track_usage() as usage:
            try:
                async with deadline:
                    with events.span(self.item(index=index), self.component):
                        value = await self.fn(item)
            except Exception as exc:  # isolation: one failing item never sinks the run
                outcome = _failed(index, exc, deadline.expired(), self.timeout)
            else:
                outcome = Outcome(index, value)
        outcome.latency_ms = (time.perf_counter() - start) * 1000
        outcome.usage = usage
        return outcome


def _failed(index: int, exc: Exception, timed_out: bool, timeout: float | None) -> Outcome:
    if timed_out:
        return Outcome(index, error=f"TimeoutError: example took longer than timeout={timeout:g} s", timed_out=True)
    message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    # Any exception may quote a reply or a request: keys never reach a result, a file or a trace.
    return Outcome(index, error=redact_text(message), traceback=redact_text("".join(traceback.format_exception(exc))))


Job = Callable[[int, Any], Awaitable[Outcome]]
OnOutcome = Callable[[Outcome], None]


class Executor(Protocol):
    """Runs `job(index, item)` for every item and reports each Outcome as it finishes.

    Pull `items` lazily, as capacity frees up (the engine ends the iterator
    when the run stops), and call `on_outcome` on the engine's event loop
    thread. When the `run` coroutine is cancelled, stop the in-flight jobs and
    re-raise. An executor may also have `async def ready()`, which the engine
    awaits before a run starts, to fail at once when it cannot serve.
    """

    async def run(
        self,
        job: Job,
        items: Iterable[tuple[int, Any]],
        *,
        concurrency: int,
        on_outcome: OnOutcome,
    ) -> None: ...


class LocalExecutor:
    """Runs jobs as tasks on the running loop, at most `concurrency` at once.

    A fixed pool of workers pulls items in order from one shared iterator, so a
    straggler holds up one worker and never the others.
    """

    async def run(
        self,
        job: Job,
        items: Iterable[tuple[int, Any]],
        *,
        concurrency: int,
        on_outcome: OnOutcome,
    ) -> None:
        pending = iter(items)

        async def worker() -> None:
            for index, item in pending:
                on_outcome(await job(index, item))

        tasks = [asyncio.create_task(worker(), name=f"evaluate-worker-{n}") for n in range(concurrency)]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks)

    def __repr__(self) -> str:
        return "LocalExecutor()"
