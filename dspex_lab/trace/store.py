"""The in-memory event store: append buffers sealed into typed chunks, read through snapshots.

`append` takes the store's lock, writes one value into each column buffer and
returns; every `chunk_size` events the buffers are sealed into a `Chunk`
(strings turned into codes, nothing else). Reading takes a `Snapshot`: the
sealed chunks plus the unsealed tail frozen into a temporary chunk, so a query
sees one consistent set of events while appends go on. Everything pandas or
numpy is built lazily from chunks when a query asks (see `query.py`).

A bounded store (`max_events`) keeps the newest `max_events` events: older
ones are hidden at once and freed a chunk at a time; `dropped` counts them.
Event timestamps never decrease inside a store (an event appended after
another with an earlier clock reading is given the later time), which lets
every time window be found by binary search.
"""

from __future__ import annotations

import threading
import uuid
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import accumulate
from typing import TYPE_CHECKING, Any

from dspex_lab.trace.chunk import CODED, Chunk, Table
from dspex_lab.trace.events import FIELDS
from dspex_lab.trace.payload import freeze, thaw

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd

    from dspex_lab.trace.query import Moment

Row = tuple[int, int, str, "str | None", "int | None", "int | None", str, str, "str | None", Any]
"""(seq, ts, kind, run_id, span_id, parent_id, component, task, correlation_id, stored payload)."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A consistent read of a store: events with seq in [first, end), in `chunks`."""

    chunks: tuple[Chunk, ...]
    first: int
    end: int
    tables: dict[str, Table]
    cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """Structures derived from the whole snapshot (span table, correlation pairs), built on demand."""

    def __len__(self) -> int:
        return self.end - self.first

    def visible(self, chunk: Chunk) -> tuple[int, int]:
        """The positions [lo, hi) of `chunk` inside this snapshot."""
        return max(0, self.first - chunk.start), min(chunk.n, self.end - chunk.start)


class EventStore:
    """Every event of a process (or of a block using `use_store`), queryable while it grows.

    `max_events=None` keeps everything; a number keeps the newest events and
    counts the rest in `dropped`. `chunk_events` sets how many events are
    sealed together (smaller chunks make a busy store's newest events cheaper
    to query, larger ones make queries over millions of events cheaper). The
    query methods (`events`, `spans`,
    `state_at`, `message_flow`, ...) are the same as the top-level functions
    with `store=` this store.
    """

    DEFAULT_MAX_EVENTS = 1_000_000
    CHUNK_EVENTS = 16_384

    def __init__(self, max_events: int | None = None, *, chunk_events: int | None = None) -> None:
        if max_events is not None and (not isinstance(max_events, int) or max_events < 1):
            raise ValueError(f"max_events must be a positive int or None (unbounded), got {max_events!r}")
        if chunk_events is not None and (not isinstance(chunk_events, int) or chunk_events < 1):
            raise ValueError(f"chunk_events must be a positive int, got {chunk_events!r}")
        self.max_events = max_events
        self.uid = uuid.uuid4().hex[:16]
        """Distinguishes this store's span ids from another process's in exports."""
        if chunk_events is not None:
            self._chunk_size = chunk_events
        elif max_events is None:
            self._chunk_size = self.CHUNK_EVENTS
        else:
            # A bounded store holds at most max_events + one chunk: keep the chunk small beside the bound.
            self._chunk_size = min(self.CHUNK_EVENTS, max(256, max_events // 4))
        self._lock = threading.Lock()
        self._tables = {name: Table() for name in CODED}
        self._chunks: list[Chunk] = []
        self._sealed = 0
        self._last_ts = 0
        self._snapshot: Snapshot | None = None
        self._new_buffers()

    def _new_buffers(self) -> None:
        self._ts: array[int] = array("q")
        self._kind: list[str] = []
        self._run: list[str | None] = []
        self._span: array[int] = array("q")
        self._parent: array[int] = array("q")
        self._component: list[str] = []
        self._task: list[str] = []
        self._corr: list[str | None] = []
        self._payload: list[Any] = []

    # --- writing -------------------------------------------------------------------------------
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
        payload: Any,
    ) -> None:
        """Add one event. `payload` is a dict (frozen here) or the frozen bytes `emit` already made."""
        if payload is not None and type(payload) is not bytes:
            payload = _stored(payload)
        with self._lock:
            if ts < self._last_ts:
                ts = self._last_ts
            else:
                self._last_ts = ts
            self._ts.append(ts)
            self._kind.append(kind)
            self._run.append(run_id)
            self._span.append(span_id or 0)
            self._parent.append(parent_id or 0)
            self._component.append(component)
            self._task.append(task)
            self._corr.append(correlation_id)
            self._payload.append(payload)
            if len(self._ts) >= self._chunk_size:
                self._seal()

    def _seal(self) -> None:
        """Turn the append buffers into a chunk (called with the lock held)."""
        chunk = self._buffers_chunk(copy=False)
        self._chunks.append(chunk)
        self._sealed = chunk.end
        self._new_buffers()
        if self.max_events is not None:
            first = self._first()
            while self._chunks and self._chunks[0].end <= first:
                self._chunks.pop(0)

    def _buffers_chunk(self, copy: bool) -> Chunk:
        tables = self._tables
        return Chunk(
            self._sealed,
            array("q", self._ts) if copy else self._ts,
            tables["kind"].encode(self._kind),
            tables["run_id"].encode(self._run),
            array("q", self._span) if copy else self._span,
            array("q", self._parent) if copy else self._parent,
            tables["component"].encode(self._component),
            tables["task"].encode(self._task),
            tables["correlation_id"].encode(self._corr),
            self._payload[:] if copy else self._payload,
        )

    def extend(self, columns: dict[str, list[Any]]) -> None:
        """Add many events at once, oldest first: one list per name in `FIELDS`.

        Payloads may be dicts, frozen bytes, or JSON text (as read from a file; decoded when queried).
        """
        count = len(columns["ts"])
        uneven = [name for name in FIELDS if len(columns[name]) != count]
        if uneven:
            raise ValueError(f"extend() needs one list per field, all {count} long; these differ: {uneven}")
        step = self._chunk_size
        with self._lock:
            for start in range(0, count, step):
                stop = min(count, start + step)
                stamps = list(accumulate(columns["ts"][start:stop], max, initial=self._last_ts))[1:]
                self._last_ts = stamps[-1]
                self._ts.extend(stamps)
                self._kind.extend(columns["kind"][start:stop])
                self._run.extend(columns["run_id"][start:stop])
                self._span.extend(value or 0 for value in columns["span_id"][start:stop])
                self._parent.extend(value or 0 for value in columns["parent_id"][start:stop])
                self._component.extend(columns["component"][start:stop])
                self._task.extend(columns["task"][start:stop])
                self._corr.extend(columns["correlation_id"][start:stop])
                self._payload.extend(
                    value if value is None or type(value) is bytes else _stored(value)
                    for value in columns["payload"][start:stop]
                )
                if len(self._ts) >= step:
                    self._seal()

    def clear(self) -> None:
        """Forget every event (the count of dropped events starts again from zero)."""
        with self._lock:
            self._chunks = []
            self._sealed = 0
            self._last_ts = 0
            self._snapshot = None
            self._tables = {name: Table() for name in CODED}
            self._new_buffers()

    # --- counting ------------------------------------------------------------------------------
    @property
    def appended(self) -> int:
        """How many events were ever appended (retained plus dropped)."""
        return self._sealed + len(self._ts)

    def _first(self) -> int:
        if self.max_events is None:
            return 0
        return max(0, self.appended - self.max_events)

    @property
    def dropped(self) -> int:
        """How many of the oldest events a bounded store has let go."""
        return self._first()

    def __len__(self) -> int:
        return self.appended - self._first()

    def __repr__(self) -> str:
        bound = "unbounded" if self.max_events is None else f"max_events={self.max_events:,}"
        dropped = f", {self.dropped:,} dropped" if self.dropped else ""
        return f"<EventStore {len(self):,} events, {bound}{dropped}>"

    # --- reading -------------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """The events as they are now, safe to read while appends continue."""
        with self._lock:
            end = self.appended
            cached = self._snapshot
            if cached is not None and cached.end == end and cached.tables is self._tables:
                return cached
            chunks = list(self._chunks)
            if self._ts:
                chunks.append(self._buffers_chunk(copy=True))
            first = self._first()
            chunks = [chunk for chunk in chunks if chunk.end > first]
            snap = Snapshot(tuple(chunks), first, end, self._tables)
            self._snapshot = snap
            return snap

    def rows(self, since_seq: int = 0) -> Iterator[Row]:
        """Every retained event with seq >= since_seq, oldest first, as plain tuples."""
        snap = self.snapshot()
        tables = snap.tables
        decode = {name: tables[name].values for name in CODED}
        for chunk in snap.chunks:
            lo, hi = snap.visible(chunk)
            lo = max(lo, since_seq - chunk.start)
            for i in range(lo, hi):
                yield (
                    chunk.start + i,
                    chunk.ts[i],
                    _value(decode["kind"], chunk.kind[i]),
                    _value(decode["run_id"], chunk.run_id[i]),
                    chunk.span_id[i] or None,
                    chunk.parent_id[i] or None,
                    _value(decode["component"], chunk.component[i]),
                    _value(decode["task"], chunk.task[i]),
                    _value(decode["correlation_id"], chunk.correlation_id[i]),
                    chunk.payload[i],
                )

    def records(self) -> list[dict[str, Any]]:
        """Every retained event as a dict with the keys of `FIELDS`, oldest first."""
        return [dict(zip(FIELDS, (*row[1:9], thaw(row[9])), strict=True)) for row in self.rows()]

    # --- queries (thin forms of the top-level functions) ---------------------------------------
    def events(self, **filters: Any) -> pd.DataFrame:
        """`dx.get_events(...)` on this store."""
        from dspex_lab.trace.query import get_events

        return get_events(store=self, **filters)

    def frame(self, payload: bool = True) -> pd.DataFrame:
        """Every retained event as a trace frame (see `get_events`)."""
        from dspex_lab.trace.query import get_events

        return get_events(store=self, payload=payload)

    def spans(self, **filters: Any) -> pd.DataFrame:
        """One row per span: start, end, duration, parent, status (see `query.spans`)."""
        from dspex_lab.trace.query import spans

        return spans(store=self, **filters)

    def state_at(self, target: Any, t: Moment) -> Any:
        """`dx.get_state_at(target, t)` on this store."""
        from dspex_lab.trace.timetravel import get_state_at

        return get_state_at(target, t, store=self)

    def state_history(self, target: Any, **window: Any) -> pd.DataFrame:
        """`dx.get_state_history(target)` on this store."""
        from dspex_lab.trace.timetravel import get_state_history

        return get_state_history(target, store=self, **window)

    def message_flow(self, a: Any, b: Any, **window: Any) -> pd.DataFrame:
        """`dx.get_message_flow(a, b)` on this store."""
        from dspex_lab.trace.flow import get_message_flow

        return get_message_flow(a, b, store=self, **window)

    def save(self, path: str | Path) -> Path:
        """Write every retained event to a Parquet file (`dx.trace.load` reads it back)."""
        from dspex_lab.trace.persist import save

        return save(path, store=self)


def _stored(payload: Any) -> bytes | str:
    if type(payload) is str:
        return payload
    if not isinstance(payload, dict):
        raise TypeError(f"an event payload must be a dict or None, got {type(payload).__name__}")
    return freeze(payload)[0]


def _value(values: list[Any], code: int) -> Any:
    return None if code < 0 else values[code]

