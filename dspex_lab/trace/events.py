"""Emitting events: the one cheap call every layer makes.

Every event has the same small schema (see `FIELDS`). Context (the current run
and the enclosing span) lives in ContextVars, so it follows asyncio tasks and the
synchronous bridge on its own. Emitting imports nothing heavy: the store keeps
plain Python columns and builds pandas frames only when asked.

Where events go is a `Sink`: an optional store plus listeners (live progress
bars and panels). The process has one default sink; `use_store()` swaps in
another for a block (tests, isolated runs). With no store and no listeners,
`emit` and `span` return almost at once.
"""

from __future__ import annotations

import itertools
import threading
import time
from asyncio import _get_running_loop, current_task
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from dspex_lab.trace.store import EventStore

FIELDS = (
    "ts",
    "kind",
    "run_id",
    "span_id",
    "parent_id",
    "component",
    "task",
    "correlation_id",
    "payload",
)

MAX_TEXT = 32_768
"""Longest string kept in a payload value; longer ones are cut and marked."""


class Event(NamedTuple):
    """One event, as listeners receive it."""

    ts: int
    kind: str
    run_id: str | None
    span_id: int | None
    parent_id: int | None
    component: str
    task: str
    correlation_id: str | None
    payload: dict[str, Any] | None


Listener = Callable[[Event], None]


class Sink:
    """Where events go: an optional store and any number of listeners."""

    __slots__ = ("store", "listeners")

    def __init__(self, store: EventStore | None, listeners: tuple[Listener, ...] = ()) -> None:
        self.store = store
        self.listeners = listeners

    @property
    def active(self) -> bool:
        return self.store is not None or bool(self.listeners)


_run_id: ContextVar[str | None] = ContextVar("dspex_run_id", default=None)
_parent: ContextVar[int | None] = ContextVar("dspex_parent_span", default=None)
_sink_override: ContextVar[Sink | None] = ContextVar("dspex_sink", default=None)
_default_sink: Sink | None = None
_sink_lock = threading.Lock()
_ids = itertools.count(1)


def _sink() -> Sink:
    sink = _sink_override.get()
    if sink is not None:
        return sink
    return _default_sink if _default_sink is not None else _make_default_sink()


def _make_default_sink() -> Sink:
    global _default_sink
    with _sink_lock:
        if _default_sink is None:
            from dspex_lab.trace.store import EventStore

            _default_sink = Sink(EventStore(max_events=EventStore.DEFAULT_MAX_EVENTS))
        return _default_sink


def _task_label() -> str:
    loop = _get_running_loop()
    if loop is not None:
        task = current_task(loop)
        if task is not None:
            return "task:" + task.get_name()
    return "thread:" + threading.current_thread().name


def _cap(payload: dict[str, Any]) -> dict[str, Any]:
    for key, value in payload.items():
        if type(value) is str and len(value) > MAX_TEXT:
            payload[key] = value[:MAX_TEXT] + f"...[cut {len(value) - MAX_TEXT} chars]"
    return payload


def new_id() -> int:
    """A process-unique id for a span or a correlation."""
    return next(_ids)


def emit(
    kind: str,
    component: str,
    payload: dict[str, Any] | None = None,
    *,
    correlation_id: str | None = None,
    span_id: int | None = None,
    parent_id: int | None = None,
) -> None:
    """Record one event in the current sink. The payload dict is owned by the store afterwards."""
    sink = _sink()
    store = sink.store
    listeners = sink.listeners
    if store is None and not listeners:
        return
    if payload:
        payload = _cap(payload)
    if parent_id is None:
        parent_id = _parent.get()
    ts = time.time_ns()
    run_id = _run_id.get()
    task = _task_label()
    if store is not None:
        store.append(ts, kind, run_id, span_id, parent_id, component, task, correlation_id, payload)
    if listeners:
        event = Event(ts, kind, run_id, span_id, parent_id, component, task, correlation_id, payload)
        for listener in listeners:
            listener(event)


class Span:
    """A timed step: emits `<start kind>` on entry and `<end kind>` on exit.

    The end event carries `status` ("ok", "error" or "cancelled"), `duration_ms`,
    the error message when there was one, and anything added with `set()`.
    """

    __slots__ = ("kind_start", "kind_end", "component", "payload", "span_id", "correlation_id", "result", "_token", "_t0", "_on")

    def __init__(
        self,
        kind_start: str,
        kind_end: str,
        component: str,
        payload: dict[str, Any] | None,
        correlation_id: str | None,
    ) -> None:
        self.kind_start = kind_start
        self.kind_end = kind_end
        self.component = component
        self.payload = payload
        self.correlation_id = correlation_id
        self.result: dict[str, Any] = {}
        self.span_id: int | None = None

    def set(self, **fields: Any) -> None:
        """Add fields to the end event's payload."""
        self.result.update(fields)

    def __enter__(self) -> Span:
        self._on = _sink().active
        if not self._on:
            return self
        self.span_id = next(_ids)
        emit(self.kind_start, self.component, self.payload, correlation_id=self.correlation_id, span_id=self.span_id)
        self._token = _parent.set(self.span_id)
        self._t0 = time.perf_counter_ns()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if not self._on:
            return
        _parent.reset(self._token)
        result = self.result
        result["duration_ms"] = (time.perf_counter_ns() - self._t0) / 1e6
        if exc_type is None:
            result.setdefault("status", "ok")
        elif issubclass(exc_type, (KeyboardInterrupt, GeneratorExit)) or exc_type.__name__ == "CancelledError":
            result["status"] = "cancelled"
        else:
            result["status"] = "error"
            result["error"] = f"{exc_type.__name__}: {exc}"
        emit(self.kind_end, self.component, result, correlation_id=self.correlation_id, span_id=self.span_id)


def span(
    kind: str,
    component: str,
    payload: dict[str, Any] | None = None,
    *,
    end: str | None = None,
    correlation_id: str | None = None,
) -> Span:
    """A span emitting `kind` + ".start" / ".end", or `kind` / `end` when `end` is given."""
    if end is None:
        return Span(kind + ".start", kind + ".end", component, payload, correlation_id)
    return Span(kind, end, component, payload, correlation_id)


def tracing_active() -> bool:
    """True when emitted events go somewhere (a store or a listener)."""
    return _sink().active


def current_run_id() -> str | None:
    return _run_id.get()


def current_span_id() -> int | None:
    return _parent.get()


@contextmanager
def run(run_id: str) -> Iterator[str]:
    """Tag every event emitted inside the block (and the tasks it starts) with `run_id`."""
    token = _run_id.set(run_id)
    try:
        yield run_id
    finally:
        _run_id.reset(token)


def get_store() -> EventStore | None:
    """The store events currently go to (None when tracing is off)."""
    return _sink().store


@contextmanager
def use_store(store: EventStore | None) -> Iterator[EventStore | None]:
    """Send events emitted in this block (this thread or task) to `store`; None turns tracing off."""
    token = _sink_override.set(Sink(store, _sink().listeners))
    try:
        yield store
    finally:
        _sink_override.reset(token)


def set_default_store(store: EventStore | None) -> None:
    """Replace the process's default store; None turns tracing off by default."""
    global _default_sink
    listeners = _sink().listeners if _default_sink is not None else ()
    _default_sink = Sink(store, listeners)


def subscribe(listener: Listener) -> Callable[[], None]:
    """Call `listener(event)` for every event emitted through the current sink.

    Returns a function that removes the listener. Listeners run in the emitting
    thread and must be quick.
    """
    sink = _sink()
    sink.listeners = (*sink.listeners, listener)

    def unsubscribe() -> None:
        sink.listeners = tuple(entry for entry in sink.listeners if entry is not listener)

    return unsubscribe
