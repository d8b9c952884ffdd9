"""The in-memory event store: columnar buffers, turned into pandas frames on demand."""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from dspex_lab.trace.events import FIELDS


class EventStore:
    """Appends events to one buffer per column; bounded stores drop the oldest."""

    DEFAULT_MAX_EVENTS = 1_000_000

    def __init__(self, max_events: int | None = None) -> None:
        self.max_events = max_events
        self.dropped = 0
        self._lock = threading.Lock()
        self._columns: dict[str, deque[Any]] = {name: deque(maxlen=max_events) for name in FIELDS}

    def append(
        self,
        ts: int,
        kind: str,
        run_id: str | None,
        span_id: int | None,
        parent_id: int | None,
        component: str,
        task: str,
        correlation_id: str | None,
        payload: dict[str, Any] | None,
    ) -> None:
        c = self._columns
        with self._lock:
            if self.max_events is not None and len(c["ts"]) == self.max_events:
                self.dropped += 1
            c["ts"].append(ts)
            c["kind"].append(kind)
            c["run_id"].append(run_id)
            c["span_id"].append(span_id)
            c["parent_id"].append(parent_id)
            c["component"].append(component)
            c["task"].append(task)
            c["correlation_id"].append(correlation_id)
            c["payload"].append(payload)

    def __len__(self) -> int:
        return len(self._columns["ts"])

    def records(self) -> list[dict[str, Any]]:
        """Every event as a dict, oldest first."""
        with self._lock:
            columns = [list(self._columns[name]) for name in FIELDS]
        return [dict(zip(FIELDS, row, strict=True)) for row in zip(*columns, strict=True)]
