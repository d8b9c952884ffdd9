"""Turning tracing on and off for the whole process."""

from __future__ import annotations

from dspex_lab.trace import events
from dspex_lab.trace.store import EventStore


def enable(store: EventStore | None = None, *, max_events: int | None = EventStore.DEFAULT_MAX_EVENTS) -> EventStore:
    """Send events to `store` from now on (a new store keeping the newest `max_events` when None).

    Returns the store. Blocks using `events.use_store(...)` keep their own store.
    """
    target = store if store is not None else EventStore(max_events=max_events)
    events.set_default_store(target)
    return target


def disable() -> None:
    """Stop recording events by default (listeners such as progress bars still get them)."""
    events.set_default_store(None)
