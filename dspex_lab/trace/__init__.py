"""Tracing: every step as an event in one store that answers queries and replays time.

`dx.trace` holds the switches, the file formats and `schema` (every kind of
event as a typed class: what producers emit and consumers read); the queries are also
top-level (`dx.get_events`, `dx.get_state_at`, `dx.get_state_history`,
`dx.get_message_flow`). Tracing is on by default, into a store bounded to the
newest `EventStore.DEFAULT_MAX_EVENTS` events. Names are imported on first
use: importing this package loads neither pandas nor numpy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dspex_lab.lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "EventStore": "dspex_lab.trace.store",
    "Event": "dspex_lab.trace.schema",
    "EventData": "dspex_lab.trace.schema",
    "SCHEMA_VERSION": "dspex_lab.trace.schema",
    "emit": "dspex_lab.trace.events",
    "span": "dspex_lab.trace.events",
    "run": "dspex_lab.trace.events",
    "bind": "dspex_lab.trace.events",
    "subscribe": "dspex_lab.trace.events",
    "use_store": "dspex_lab.trace.events",
    "get_store": "dspex_lab.trace.events",
    "now_ns": "dspex_lab.trace.events",
    "register_secret": "dspex_lab.trace.payload",
    "enable": "dspex_lab.trace.switch",
    "disable": "dspex_lab.trace.switch",
    "get_events": "dspex_lab.trace.query",
    "spans": "dspex_lab.trace.query",
    "get_state_at": "dspex_lab.trace.timetravel",
    "get_state_history": "dspex_lab.trace.timetravel",
    "get_message_flow": "dspex_lab.trace.flow",
    "save": "dspex_lab.trace.persist",
    "load": "dspex_lab.trace.persist",
    "SQLiteSink": "dspex_lab.trace.persist",
    "export_otlp": "dspex_lab.trace.otlp",
}

__all__ = sorted([*_EXPORTS, "schema"])

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, ("schema",))


if TYPE_CHECKING:  # for type checkers; at run time the names load lazily through __getattr__
    from dspex_lab.trace import schema  # noqa: F401
    from dspex_lab.trace.events import (  # noqa: F401
        bind,
        emit,
        get_store,
        now_ns,
        run,
        span,
        subscribe,
        use_store,
    )
    from dspex_lab.trace.flow import get_message_flow  # noqa: F401
    from dspex_lab.trace.otlp import export_otlp  # noqa: F401
    from dspex_lab.trace.payload import register_secret  # noqa: F401
    from dspex_lab.trace.persist import SQLiteSink, load, save  # noqa: F401
    from dspex_lab.trace.query import get_events, spans  # noqa: F401
    from dspex_lab.trace.schema import SCHEMA_VERSION, Event, EventData  # noqa: F401
    from dspex_lab.trace.store import EventStore  # noqa: F401
    from dspex_lab.trace.switch import disable, enable  # noqa: F401
    from dspex_lab.trace.timetravel import get_state_at, get_state_history  # noqa: F401
