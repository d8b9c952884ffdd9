"""Events of any kind, for tests of the event store and its queries that need kinds outside the schema."""

from __future__ import annotations

from typing import Any

from dspex_lab.trace.schema import EventData, SpanEnd

_made: dict[tuple[str, str | None], type[EventData]] = {}


def _kind(kind: str, end: str | None = None) -> type[EventData]:
    found = _made.get((kind, end))
    if found is None:
        attrs: dict[str, Any] = {"KIND": kind}
        if end is not None:
            attrs["END"] = type("End", (SpanEnd,), {"KIND": end})
        found = _made[(kind, end)] = type("Custom", (EventData,), attrs)
    return found


def ev(kind: str, payload: dict[str, Any] | None = None) -> EventData:
    """An event of `kind` whose payload is `payload`."""
    event = _kind(kind).__new__(_kind(kind))
    event.__dict__.update(payload or {})
    return event


def opens(name: str, payload: dict[str, Any] | None = None, *, end: str | None = None) -> EventData:
    """The start event of a span: kinds `name`.start / `name`.end, or `name` / `end` when `end` is given."""
    start, stop = (name + ".start", name + ".end") if end is None else (name, end)
    cls = _kind(start, stop)
    event = cls.__new__(cls)
    event.__dict__.update(payload or {})
    return event
