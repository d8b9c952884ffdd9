"""The one engine that runs a coroutine function over many items: evaluation and optimizers share it.

`run_each(fn, items)` awaits `fn(item)` for every item with bounded
concurrency. Each item is isolated (errors and timeouts are recorded on it, the
rest go on); progress goes out as run events tagged with the run id
(`EvaluateStart` / `EvaluateExample` / `EvaluateEnd`, or the `Teacher*` kinds
for an optimizer's teacher runs). The run can be stopped by `max_errors`, a
`CancelToken` or `cancel_run(run_id)`, and then the report of the outcomes
finished so far comes back; when the task awaiting it is cancelled, the run
stops the same way and raises `Interrupted` (a CancelledError) carrying that
report, so the task really is cancelled.

An optimizer running its teacher over a training set uses it like this::

    async def attempt(example):
        prediction = await teacher.acall(**example.inputs())
        return prediction, metric(example, prediction)

    report = await run_each(attempt, trainset, concurrency=8, progress=True, label="bootstrap")
    kept = [trainset[o.index] for o in report.outcomes if o.ok and o.value[1]]
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from dspex_lab.errors import Interrupted
from dspex_lab.evaluation import progress as progress_
from dspex_lab.evaluation.cancel import CancelToken, register
from dspex_lab.evaluation.executor import Executor, IsolatedJob, LocalExecutor, Outcome
from dspex_lab.lm.circuit import CircuitWait
from dspex_lab.lm.circuit import circuit_wait as circuit_wait_var
from dspex_lab.options import check_number
from dspex_lab.trace import events, schema


@dataclass(slots=True)
class RunReport:
    """What a run did: its outcomes in the order they finished, and how it ended.

    `status` is "completed", "cancelled" (interrupt, cancel token, cancel_run) or
    "stopped" (too many errors); `reason` says why when it is not "completed".
    """

    run_id: str
    total: int
    pending: int
    outcomes: list[Outcome] = field(default_factory=list)
    status: str = "completed"
    reason: str | None = None
    duration_s: float = 0.0

    @property
    def errors(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.error is not None]


def new_run_id(prefix: str = "eval") -> str:
    """A fresh, unique run id such as "eval-3f9c0a1b2d4e"."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


DEFAULT_CIRCUIT_WAIT = 120.0
"""Seconds a run's calls wait for an open circuit breaker before the run stops (see `run_each`)."""


def check_limits(
    concurrency: int, timeout: float | None, max_errors: int | None, circuit_wait: float = DEFAULT_CIRCUIT_WAIT
) -> None:
    """Reject bad limits before anything runs, naming the argument and what it accepts."""
    check_number("concurrency", concurrency, minimum=1, integer=True)
    check_number("timeout", timeout, above=0, optional=True, unit="seconds")
    check_number("max_errors", max_errors, minimum=0, integer=True, optional=True)
    check_number("circuit_wait", circuit_wait, minimum=0, unit="seconds")


async def run_each(
    fn: Callable[[Any], Awaitable[Any]],
    items: Sequence[Any],
    *,
    indices: Sequence[int] | None = None,
    concurrency: int = 16,
    timeout: float | None = None,
    max_errors: int | None = None,
    circuit_wait: float = DEFAULT_CIRCUIT_WAIT,
    run_id: str | None = None,
    progress: bool | progress_.ProgressConsumer | None = False,
    cancel: CancelToken | None = None,
    executor: Executor | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
    score_of: Callable[[Outcome], float | None] | None = None,
    component: str = "evaluate",
    label: str | None = None,
    start_info: dict[str, Any] | None = None,
    kinds: schema.RunKinds = schema.EVALUATION,
) -> RunReport:
    """Await `fn(item)` for each of `items` (only those at `indices`, when given).

    - `concurrency`: how many items run at once.
    - `timeout`: seconds one item may take before it is recorded as timed out.
    - `max_errors`: stop once more than this many items have failed.
    - `circuit_wait`: seconds an LM call waits for its open circuit breaker to
      close (the provider failed repeatedly) instead of failing its item; the
      wait shows as `evaluate.wait` events. When a call has waited this long
      the provider looks down and the run stops with status "stopped"; 0 fails
      such calls at once.
    - `progress`: True, False, or a progress consumer (see `dspex_lab.evaluation.progress`).
    - `cancel`: a `CancelToken` to stop the run from any thread.
    - `executor`: where items run; the current event loop when None.
    - `on_outcome(outcome)`: called on the loop thread as each item finishes,
      before its progress event (persist it here).
    - `score_of(outcome)`: the score shown in progress events.
    - `start_info`: fields of the start event (`RunStart`) beyond the limits.
    - `kinds`: the event classes of the run (`schema.EVALUATION`, or
      `schema.TEACHER` for an optimizer's teacher runs).

    Returns a `RunReport` also when the run is stopped. When the awaiting task
    is cancelled, raises `Interrupted` with the report as `partial`. An
    exception from `on_outcome` or the executor propagates.
    """
    check_limits(concurrency, timeout, max_errors, circuit_wait)
    ready = getattr(executor, "ready", None)
    if ready is not None:
        await ready()  # an executor that cannot serve (a closed cluster client, say) fails before the run starts
    run_id = run_id or new_run_id()
    todo = range(len(items)) if indices is None else indices
    report = RunReport(run_id, total=len(items), pending=len(todo))
    consumer = progress_.resolve(progress)
    token = cancel if cancel is not None else CancelToken()
    unregister = register(run_id, token)
    unsubscribe = progress_.attach(consumer, run_id) if consumer is not None else None
    try:
        with events.run(run_id):
            await _drive(
                fn, items, todo, report, token,
                concurrency=concurrency,
                timeout=timeout,
                max_errors=max_errors,
                circuit_wait=circuit_wait,
                executor=executor or LocalExecutor(),
                on_outcome=on_outcome,
                score_of=score_of,
                component=component,
                label=label or component,
                start_info=start_info,
                kinds=kinds,
            )  # fmt: skip
    finally:
        if unsubscribe is not None:
            unsubscribe()
        unregister()
    return report


async def _drive(
    fn: Callable[[Any], Awaitable[Any]],
    items: Sequence[Any],
    todo: Sequence[int],
    report: RunReport,
    token: CancelToken,
    *,
    concurrency: int,
    timeout: float | None,
    max_errors: int | None,
    circuit_wait: float,
    executor: Executor,
    on_outcome: Callable[[Outcome], None] | None,
    score_of: Callable[[Outcome], float | None] | None,
    component: str,
    label: str,
    start_info: dict[str, Any] | None,
    kinds: schema.RunKinds,
) -> None:
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    error_count = 0
    events.emit(
        kinds.start(
            total=report.total,
            pending=report.pending,
            resumed=report.total - report.pending,
            concurrency=concurrency,
            timeout=timeout,
            max_errors=max_errors,
            circuit_wait=circuit_wait,
            label=label,
            **(start_info or {}),
        ),
        component,
    )

    def waiting(on: bool, detail: str) -> None:
        events.emit(kinds.wait(waiting=on, reason=detail or None), component)

    waits = CircuitWait(circuit_wait, waiting)

    def finished(outcome: Outcome) -> None:
        nonlocal error_count
        report.outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
        events.emit(
            kinds.example(
                index=outcome.index,
                score=score_of(outcome) if score_of is not None else None,
                error=outcome.error,
                latency_ms=outcome.latency_ms,
            ),
            component,
        )
        if outcome.error is not None:
            error_count += 1
            if waits.exhausted is not None:
                stop("stopped", f"stopped after {error_count} failed examples: {waits.exhausted}")
            elif max_errors is not None and error_count > max_errors:
                stop(
                    "stopped",
                    f"stopped after {error_count} failed examples (more than max_errors={max_errors}); "
                    f"first error, on example {report.errors[0].index}: {report.errors[0].error}",
                )

    def feed() -> Iterator[tuple[int, Any]]:
        # Checked before each item: a worker whose items never suspend would
        # otherwise run on past a stop it cannot be interrupted by.
        for index in todo:
            if report.status != "completed":
                return
            yield index, items[index]

    job = IsolatedJob(fn, timeout, component, kinds.item)
    waiting_rule = circuit_wait_var.set(waits)  # the work task copies the context with the rule in it
    work = loop.create_task(
        executor.run(job, feed(), concurrency=min(concurrency, max(1, report.pending)), on_outcome=finished),
        name=f"evaluate-{report.run_id}",
    )
    circuit_wait_var.reset(waiting_rule)

    def stop(status: str, reason: str) -> None:
        # The status reads "completed" until something stops the run; the first stop wins.
        if report.status == "completed":
            report.status, report.reason = status, reason
            work.cancel()

    def on_cancel(reason: str) -> None:
        loop.call_soon_threadsafe(stop, "cancelled", reason)

    remove = token.on_cancel(on_cancel)
    me = asyncio.current_task()
    interrupted = False
    try:
        await work
    except asyncio.CancelledError:
        # Either stop() cancelled the work, or the task awaiting us was cancelled
        # (Ctrl-C through run_sync, a kernel interrupt, wait_for): keep what finished,
        # and in the second case stay cancelled once the end is recorded.
        interrupted = me is not None and me.cancelling() > 0
        if report.status == "completed":
            report.status = "cancelled"
            report.reason = "interrupted: the evaluation task was cancelled (KeyboardInterrupt or task.cancel())"
        work.cancel()
        await asyncio.wait([work])
        error = None if work.cancelled() else work.exception()
        if error is not None:
            report.status, report.reason = "failed", repr(error)
            raise error from None
    except BaseException as exc:
        report.status, report.reason = "failed", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        remove()
        report.duration_s = time.perf_counter() - started
        done = len(report.outcomes)
        events.emit(
            kinds.end(
                status=report.status,
                reason=report.reason,
                finished=done,
                errors=error_count,
                total=report.total,
                pending=report.pending - done,
                duration_ms=report.duration_s * 1000,
            ),
            component,
        )
    if interrupted:
        raise Interrupted(report, f"run {report.run_id} was cancelled: {report.reason}")
