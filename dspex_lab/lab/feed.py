"""Feeding panels from the event store: what a run recorded so far, then what it records next.

A panel folds events; it never keeps its own account of a run. `recorded`
reads the events already in a store as `Event` tuples (the same shape live
listeners receive), `follow` replays those and then subscribes to new ones,
so a panel opened on a finished run and one watching it live show the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from dspex_lab.trace import events
from dspex_lab.trace.query import get_events
from dspex_lab.trace.schema import Event

if TYPE_CHECKING:
    from dspex_lab.trace.store import EventStore

KindFilter = str | Iterable[str] | None


def recorded(store: EventStore, *, run_id: str | None = None, kind: KindFilter = None) -> list[Event]:
    """The events of `store` matching `run_id` and `kind` (a name, a glob or a list), oldest first."""
    kinds = kind if kind is None or isinstance(kind, str) else list(kind)
    frame = get_events(kind=kinds, run_id=run_id, store=store)
    return [
        Event(
            int(ts),
            str(kind_),
            None if run is None or run != run else str(run),
            _id(span),
            _id(parent),
            str(component),
            str(task),
            corr,
            payload,
        )
        for ts, kind_, run, span, parent, component, task, corr, payload in zip(
            frame.index.tolist(),
            frame["kind"].tolist(),
            frame["run_id"].tolist(),
            frame["span_id"].tolist(),
            frame["parent_id"].tolist(),
            frame["component"].tolist(),
            frame["task"].tolist(),
            frame["correlation_id"].tolist(),
            frame["payload"].tolist(),
            strict=True,
        )
    ]


def _id(value: Any) -> int | None:
    """A span id as an int; None for a missing one (pandas.NA, None)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def matches(event: Event, run_id: str | None, kinds: tuple[str, ...]) -> bool:
    """Whether a live event belongs to `run_id` (any run when None) and has one of `kinds` (prefixes end in '.')."""
    if run_id is not None and event.run_id != run_id:
        return False
    return not kinds or any(event.kind == k or (k.endswith(".") and event.kind.startswith(k)) for k in kinds)


def follow(
    store: EventStore | None,
    on_event: Callable[[Event], None],
    *,
    run_id: str | None,
    kinds: tuple[str, ...],
) -> Callable[[], None]:
    """Call `on_event` for the matching events already in `store`, then for each new one; returns the unsubscribe.

    `kinds` are exact kinds or prefixes ending in "." (`schema.OPTIMIZE_PREFIX`). Call it on
    the thread that emits the followed events (the run's event loop), so no
    event falls between the replay and the subscription.
    """
    if store is not None:
        globs = [k + "*" if k.endswith(".") else k for k in kinds] or None
        for event in recorded(store, run_id=run_id, kind=globs):
            on_event(event)

    def listener(event: Event) -> None:
        if matches(event, run_id, kinds):
            on_event(event)

    return events.subscribe(listener)
