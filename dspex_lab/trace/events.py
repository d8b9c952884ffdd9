"""Emitting events: the one cheap call every layer makes.

An event is a typed payload (an instance of a class of `schema.py`, whose
instance dict is the payload) in a small envelope (`schema.Event`). Context
(the current run and the enclosing span) lives in ContextVars, so it follows
asyncio tasks, the synchronous bridge and `asyncio.to_thread` on its own;
`bind(fn)` carries it into a plain thread or a thread pool. Emitting imports
nothing heavy: the payload is frozen with `marshal` and appended to the
store's buffer under the store's append lock.

Where events go is a `Sink`: an optional store plus listeners (live progress
bars and panels). The process has one default sink, created on first use with
a bounded store; `use_store()` swaps in another for a block (tests, isolated
runs). With no store and no listeners, `emit` and `span` return almost at once.

Timestamps are nanoseconds since the epoch, read from the monotonic clock
anchored to the wall clock at import: events in one process never go back in
time when the system clock is stepped.
"""

from __future__ import annotations

import contextvars
import functools
import itertools
import logging
import threading
import time
import uuid
from asyncio import current_task
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from dspex_lab.compat.asyncio_loop import running_loop_or_none as _get_running_loop
from dspex_lab.trace.payload import MAX_TEXT, freeze, register_secret
from dspex_lab.trace.schema import FIELDS, Event, EventData, SpanEnd

if TYPE_CHECKING:
    from dspex_lab.trace.store import EventStore

__all__ = [
    "FIELDS",
    "MAX_TEXT",
    "Event",
    "Sink",
    "Span",
    "bind",
    "current_run_id",
    "current_span_id",
    "emit",
    "get_store",
    "new_id",
    "now_ns",
    "register_secret",
    "run",
    "set_default_store",
    "span",
    "subscribe",
    "tracing_active",
    "use_store",
]


log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")


Listener = Callable[[Event], None]


class Sink:
    """Where events go: an optional store and any number of listeners.

    `buffer`, `lock` and `limit` are the store's append buffer, the lock that
    guards it and the length at which it is sealed: `emit` writes through them
    directly (see `EventStore.append`).
    """

    __slots__ = ("buffer", "limit", "listeners", "lock", "store")

    def __init__(self, store: EventStore | None, listeners: tuple[Listener, ...] = ()) -> None:
        self.store = store
        self.listeners = listeners
        self.buffer: list[Any]
        self.lock: threading.Lock
        self.limit: int
        if store is not None:
            self.buffer, self.lock, self.limit = store._writer()
        else:
            self.buffer, self.lock, self.limit = [], threading.Lock(), 0

    @property
    def active(self) -> bool:
        return self.store is not None or bool(self.listeners)


State = tuple["Sink | None", "str | None", "int | None"]
# (the sink set by use_store or None for the default, the run id, the enclosing span id): one
# variable, so an event costs one lookup.
_state: ContextVar[State] = ContextVar("dspex_trace", default=(None, None, None))
_default_sink: Sink | None = None
_sink_lock = threading.Lock()
_ids = itertools.count(1)
_thread_label = threading.local()
_task_labels: dict[str, str] = {}
_MAX_TASK_LABELS = 4096
_CLOCK_OFFSET = time.time_ns() - time.monotonic_ns()
_monotonic_ns = time.monotonic_ns


def now_ns() -> int:
    """The current time as events record it: epoch nanoseconds that never step backwards."""
    return _monotonic_ns() + _CLOCK_OFFSET


def _sink() -> Sink:
    return _state.get()[0] or _default_sink or _make_default_sink()


def _make_default_sink() -> Sink:
    global _default_sink
    with _sink_lock:
        if _default_sink is None:
            from dspex_lab.trace.store import EventStore

            _default_sink = Sink(EventStore(max_events=EventStore.DEFAULT_MAX_EVENTS))
        return _default_sink


def _thread_task() -> str:
    """The calling thread's task label, made once per thread."""
    label = _thread_label.value = "thread:" + threading.current_thread().name
    return label


def _task_label(name: str) -> str:
    """The label of the asyncio task called `name`, made once (one string shared by all its events)."""
    if len(_task_labels) >= _MAX_TASK_LABELS:
        _task_labels.clear()
    label = _task_labels[name] = "task:" + name
    return label


def new_id() -> int:
    """A process-unique id for a span or a correlation."""
    return next(_ids)


def reserve_ids(highest: int) -> None:
    """Make `new_id()` return only ids above `highest` (used after loading a saved trace)."""
    global _ids
    with _sink_lock:
        probe = next(_ids)
        _ids = itertools.count(max(probe, highest + 1))


def emit(
    event: EventData,
    component: str,
    correlation_id: str | None = None,
    span_id: int | None = None,
    parent_id: int | None = None,
) -> None:
    """Record one event in the current sink.

    Args:
        event: the payload, an instance of a class of `dspex_lab.trace.schema`
            (or of your own `EventData` subclass).
        component: what emits it ("qa.generate", "lm:openai/gpt-4o-mini").
        correlation_id: pairs a request with its reply.
        span_id: the span this event starts or ends (`span` sets it).
        parent_id: the enclosing span; defaults to the current one.

    The payload is frozen on the spot (later changes to objects inside it are
    not seen), cleaned of secrets and cut to size::

        from dspex_lab.trace import events, schema

        events.emit(schema.LMCircuit(state="open", failures=5), "lm:openai/gpt-4o-mini")
    """
    sink, run_id, parent = _state.get()
    if sink is None:
        sink = _default_sink or _make_default_sink()
    store = sink.store
    if store is None and not sink.listeners:
        return
    payload: dict[str, Any] | None = event.__dict__
    blob: bytes | None
    if payload:
        blob, payload = freeze(payload)
    else:
        blob = payload = None
    if parent_id is None:
        parent_id = parent
    ts = _monotonic_ns() + _CLOCK_OFFSET
    # The task label, inlined: this is the hottest function of the library.
    loop = _get_running_loop()
    current = current_task(loop) if loop is not None else None
    if current is None:
        try:
            task = _thread_label.value
        except AttributeError:
            task = _thread_task()
    else:
        name = current.get_name()
        task = _task_labels.get(name) or _task_label(name)
    if store is not None:
        # EventStore.append, inlined: the values go to the end of the store's buffer, under its lock.
        buffer, lock = sink.buffer, sink.lock
        lock.acquire()
        try:
            buffer.extend((ts, event.KIND, run_id, span_id or 0, parent_id or 0, component, task, correlation_id, blob))
            full = len(buffer) >= sink.limit
        finally:
            lock.release()
        if full:
            store.seal()
    if sink.listeners:
        record = Event(ts, event.KIND, run_id, span_id, parent_id, component, task, correlation_id, payload)
        for listener in sink.listeners:
            try:
                listener(record)
            except Exception:
                # A broken display must not break the call being traced.
                log.warning("trace listener %r failed and was removed", listener, exc_info=True)
                sink.listeners = tuple(entry for entry in sink.listeners if entry is not listener)


class Span:
    """A timed step: emits its start event on entry and an end event (of the start's `END` class) on exit.

    Both events carry the span's id. Events emitted inside the block (in this
    task and the tasks it starts) get it as `parent_id`. The end event carries
    `status` ("ok", "error" or "cancelled"), `duration_ms`, the error message
    when there was one, and the fields given to `set()`.
    """

    __slots__ = (
        "_parent_id",
        "_t0",
        "_token",
        "component",
        "correlation_id",
        "end",
        "result",
        "span_id",
        "start",
    )

    def __init__(self, start: EventData, component: str, correlation_id: str | None) -> None:
        end = type(start).END
        if end is None:
            raise TypeError(f"{type(start).__name__} starts no span: give its class an END event class")
        self.start = start
        self.end: type[SpanEnd] = end
        self.component = component
        self.correlation_id = correlation_id
        self.result: dict[str, Any] = {}
        self.span_id: int | None = None

    def set(self, **fields: Any) -> None:
        """Add fields of the end event (`type(start).END`) to its payload."""
        self.result.update(fields)

    def __enter__(self) -> Span:
        state = _state.get()
        sink = state[0] or _default_sink or _make_default_sink()
        if sink.store is None and not sink.listeners:
            return self
        self.span_id = span_id = next(_ids)
        self._parent_id = parent_id = state[2]
        emit(self.start, self.component, self.correlation_id, span_id, parent_id)
        self._token = _state.set((state[0], state[1], span_id))
        self._t0 = _monotonic_ns()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if self.span_id is None:
            return
        try:
            _state.reset(self._token)
        except ValueError:
            # Exited in another context than it was entered in (an async generator, say).
            sink, run_id, _ = _state.get()
            _state.set((sink, run_id, self._parent_id))
        result = self.result
        result["duration_ms"] = (_monotonic_ns() - self._t0) / 1e6
        if exc_type is None:
            result.setdefault("status", "ok")
        elif issubclass(exc_type, KeyboardInterrupt | GeneratorExit) or exc_type.__name__ == "CancelledError":
            result["status"] = "cancelled"
        else:
            result["status"] = "error"
            result["error"] = f"{exc_type.__name__}: {exc}"
        # The end event's fields are those set: made without running __init__, which would ask for all of them.
        end = self.end.__new__(self.end)
        end.__dict__ = result
        emit(end, self.component, self.correlation_id, self.span_id, self._parent_id)

    async def __aenter__(self) -> Span:
        return self.__enter__()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        self.__exit__(exc_type, exc, tb)


def span(start: EventData, component: str, *, correlation_id: str | None = None) -> Span:
    """A span whose start event is `start` and whose end event is of `type(start).END`.

    Args:
        start: the start event (`schema.ProgramStart(...)`, `schema.LMRequest(...)`, ...).
        component: what runs the step.
        correlation_id: pairs the start with its end across processes (LM calls).

    ::

        with events.span(schema.OptimizePhaseStart(phase="install"), "BootstrapFewShot") as step:
            ...
            step.set(attempts=3)  # fields of schema.OptimizePhaseEnd
    """
    return Span(start, component, correlation_id)


def tracing_active() -> bool:
    """True when emitted events go somewhere (a store or a listener)."""
    return _sink().active


def current_run_id() -> str | None:
    return _state.get()[1]


def current_span_id() -> int | None:
    return _state.get()[2]


@contextmanager
def run(run_id: str | None = None) -> Iterator[str]:
    """Tag every event emitted inside the block (and the tasks it starts) with `run_id`.

    Without an id, a fresh one is made (12 hex digits).
    """
    run_id = run_id or uuid.uuid4().hex[:12]
    sink, _, parent = _state.get()
    token = _state.set((sink, run_id, parent))
    try:
        yield run_id
    finally:
        _state.reset(token)


def bind(fn: Callable[P, T]) -> Callable[P, T]:
    """`fn` wrapped to run in the caller's context (run, span, store) wherever it is called.

    asyncio tasks and `asyncio.to_thread` carry the context by themselves; a
    `threading.Thread` or a `ThreadPoolExecutor` starts from an empty one, so
    hand them `events.bind(fn)` to keep events attached to the caller's span.
    """
    ctx = contextvars.copy_context()

    @functools.wraps(fn)
    def bound(*args: P.args, **kwargs: P.kwargs) -> T:
        # A Context can be entered by one thread at a time; each call runs in its own copy.
        return ctx.copy().run(fn, *args, **kwargs)

    return bound


def get_store() -> EventStore | None:
    """The store events currently go to (None when tracing is off)."""
    return _sink().store


@contextmanager
def use_store(store: EventStore | None) -> Iterator[EventStore | None]:
    """Send events emitted in this block (this thread or task) to `store`; None turns tracing off."""
    _, run_id, parent = _state.get()
    token = _state.set((Sink(store, _sink().listeners), run_id, parent))
    try:
        yield store
    finally:
        _state.reset(token)


def set_default_store(store: EventStore | None) -> None:
    """Replace the process's default store; None turns tracing off by default."""
    global _default_sink
    with _sink_lock:
        listeners = _default_sink.listeners if _default_sink is not None else ()
        _default_sink = Sink(store, listeners)


def subscribe(listener: Listener) -> Callable[[], None]:
    """Call `listener(event)` for every event emitted through the current sink.

    Returns a function that removes the listener. Listeners run in the emitting
    thread and must be quick; one that raises is removed (and logged) so a
    broken display never breaks a run.
    """
    sink = _sink()
    with _sink_lock:
        sink.listeners = (*sink.listeners, listener)

    def unsubscribe() -> None:
        with _sink_lock:
            sink.listeners = tuple(entry for entry in sink.listeners if entry is not listener)

    return unsubscribe
