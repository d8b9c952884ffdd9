"""Showing a run's progress, driven only by its events.

A progress consumer is any object with `on_event(event)`. The engine subscribes
it to the event stream for the run's id, and it sees the run's start, one
event per example and the end (`EvaluateStart` / `EvaluateExample` /
`EvaluateEnd`, or the `Teacher*` kinds of an optimizer's teacher runs), in
that order, and a wait event (`EvaluateWait`, `TeacherWait`) when the run's
calls start or stop waiting for an LM's circuit breaker; nothing else.
`ProgressState` folds those events into the figures a display
shows (running score, throughput, errors, ETA), so every display computes them
the same way.

`progress=True` picks the terminal bar, or the notebook panel when one has been
registered with `register_notebook_progress()` and we are inside a kernel.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from dspex_lab.trace import events, schema
from dspex_lab.trace.schema import Event

PROGRESS_KINDS = schema.RUN_KINDS

log = logging.getLogger(__name__)


@runtime_checkable
class ProgressConsumer(Protocol):
    """Receives a run's progress events (`schema.RunStart`, `RunExample`, `RunEnd` kinds); the end is the last."""

    def on_event(self, event: Event) -> None: ...


class ProgressState:
    """A run's figures, computed from its progress events alone."""

    __slots__ = (
        "done",
        "errors",
        "label",
        "last_ns",
        "reason",
        "resumed",
        "run_id",
        "score_sum",
        "started_ns",
        "status",
        "total",
        "waiting",
    )

    def __init__(self) -> None:
        self.run_id: str | None = None
        self.label: str | None = None
        self.total = 0
        self.resumed = 0
        self.done = 0
        self.errors = 0
        self.score_sum = 0.0
        self.started_ns = 0
        self.last_ns = 0
        self.status: str | None = None
        self.reason: str | None = None
        self.waiting: str | None = None

    def update(self, event: Event) -> None:
        """Fold one progress event into the figures."""
        kind = event.kind
        if kind in schema.RUN_EXAMPLES:
            example = schema.RunExample.of(event.payload)
            self.done += 1
            if example.error is not None:
                self.errors += 1
            if example.score is not None:
                self.score_sum += example.score
            self.last_ns = event.ts
        elif kind in schema.RUN_STARTS:
            start = schema.RunStart.of(event.payload)
            self.run_id = event.run_id
            self.label = start.label
            self.total = start.total or 0
            self.resumed = start.resumed or 0
            self.done = self.resumed
            self.score_sum = start.resumed_score_sum or 0.0
            self.started_ns = self.last_ns = event.ts
        elif kind in schema.RUN_WAITS:
            wait = schema.RunWait.of(event.payload)
            self.waiting = wait.reason if wait.waiting else None
        elif kind in schema.RUN_ENDS:
            end = schema.RunEnd.of(event.payload)
            self.status = end.status
            self.reason = end.reason
            self.waiting = None
            self.last_ns = event.ts

    @property
    def score(self) -> float | None:
        """Mean score of the examples done so far (errors count as the failure score)."""
        return self.score_sum / self.done if self.done else None

    @property
    def elapsed_s(self) -> float:
        return (self.last_ns - self.started_ns) / 1e9

    @property
    def throughput(self) -> float | None:
        """Examples per second finished in this session (resumed ones excluded)."""
        elapsed = self.elapsed_s
        fresh = self.done - self.resumed
        return fresh / elapsed if fresh and elapsed > 0 else None

    @property
    def eta_s(self) -> float | None:
        rate = self.throughput
        return (self.total - self.done) / rate if rate else None

    def summary(self) -> str:
        """One line: done/total, score, errors, rate, ETA."""
        parts = [f"{self.done}/{self.total}"]
        if self.score is not None:
            parts.append(f"score={self.score:.3f}")
        parts.append(f"errors={self.errors}")
        if self.throughput is not None:
            parts.append(f"{self.throughput:.1f} ex/s")
        if self.eta_s is not None and self.status is None:
            parts.append(f"eta {self.eta_s:.0f}s")
        if self.waiting:
            parts.append(f"waiting: {self.waiting}")
        return " ".join(parts)


class TerminalProgress:
    """A tqdm bar on stderr with the running score and error count."""

    def __init__(self, file: Any = None, mininterval: float = 0.2) -> None:
        self.state = ProgressState()
        self._file = file
        self._mininterval = mininterval
        self._bar: Any = None

    def on_event(self, event: Event) -> None:
        state = self.state
        state.update(event)
        if event.kind in schema.RUN_EXAMPLES:
            bar = self._bar
            bar.update(1)
            if bar.n == state.total or bar.n % 16 == 0:
                bar.set_postfix_str(self._postfix(), refresh=False)
        elif event.kind in schema.RUN_STARTS:
            from tqdm import tqdm

            self._bar = tqdm(
                total=state.total,
                initial=state.resumed,
                desc=state.label or "evaluate",
                unit="ex",
                file=self._file if self._file is not None else sys.stderr,
                mininterval=self._mininterval,
                dynamic_ncols=True,
            )
            self._bar.set_postfix_str(self._postfix(), refresh=False)
        elif event.kind in schema.RUN_WAITS and self._bar is not None:
            self._bar.set_postfix_str(self._postfix(), refresh=True)
        elif event.kind in schema.RUN_ENDS and self._bar is not None:
            self._bar.set_postfix_str(self._postfix(), refresh=False)
            self._bar.close()
            if state.status != "completed" and state.reason:
                print(f"{state.label or 'evaluate'}: {state.reason}", file=self._bar.fp)

    def _postfix(self) -> str:
        score = self.state.score
        shown = "-" if score is None else f"{score:.3f}"
        waiting = f" waiting: {self.state.waiting}" if self.state.waiting else ""
        return f"score={shown} errors={self.state.errors}{waiting}"


_notebook_factory: Callable[[], ProgressConsumer] | None = None


def register_notebook_progress(factory: Callable[[], ProgressConsumer] | None) -> None:
    """Make `progress=True` use `factory()` inside a Jupyter kernel (None unregisters)."""
    global _notebook_factory
    _notebook_factory = factory


def _in_kernel() -> bool:
    if "IPython" not in sys.modules:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def resolve(progress: bool | ProgressConsumer | None) -> ProgressConsumer | None:
    """The consumer `progress=` asks for: True, False/None, or a consumer object."""
    if progress is None or progress is False:
        return None
    if progress is True:
        if _notebook_factory is not None and _in_kernel():
            return _notebook_factory()
        return TerminalProgress()
    if isinstance(progress, ProgressConsumer):
        return progress
    raise TypeError(
        f"progress must be True, False or an object with an on_event(event) method, got {type(progress).__name__}"
    )


def attach(consumer: ProgressConsumer, run_id: str) -> Callable[[], None]:
    """Subscribe `consumer` to the progress events of `run_id`; returns the unsubscribe function.

    A consumer that raises is dropped with a warning: a broken display never stops a run.
    """
    return _Subscription(consumer, run_id).unsubscribe


class _Subscription:
    __slots__ = ("consumer", "run_id", "unsubscribe")

    def __init__(self, consumer: ProgressConsumer, run_id: str) -> None:
        self.consumer = consumer
        self.run_id = run_id
        self.unsubscribe = events.subscribe(self)

    def __call__(self, event: Event) -> None:
        if event.run_id != self.run_id or event.kind not in PROGRESS_KINDS:
            return
        try:
            self.consumer.on_event(event)
        except Exception:
            log.warning("progress display %r failed and was turned off", self.consumer, exc_info=True)
            self.unsubscribe()
