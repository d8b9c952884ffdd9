"""The in-memory event store: append buffers sealed into typed chunks, read through snapshots.

Events come in one way: `append` / `extend` of `Event`s (`events.emit` does
the same inline). Adding an event extends one flat list with its values under
a lock held for that step only (so no object per event stays alive, and
nothing relies on a list operation being atomic); every `chunk_size` events
the oldest are sealed into a `Chunk`, one column each.
Reading takes a `Snapshot`: the sealed chunks plus the unsealed tail frozen
into a temporary chunk, so a query sees one consistent set of events while
appends go on. Everything numpy or pandas is built lazily from chunks when a
query asks. The store answers no queries itself: `query.py`, `timetravel.py`
and `flow.py` read it through `snapshot()` (they import the store; the store
imports none of them).

A bounded store (`max_events`) keeps the newest `max_events` events: older
ones are hidden at once and freed a chunk at a time; `dropped` counts them.
Event timestamps never decrease inside a store (an event appended after
another with an earlier clock reading is given the later time), which lets
every time window be found by binary search.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from dspex_lab.trace.chunk import CODED, Chunk, Table
from dspex_lab.trace.payload import freeze, thaw
from dspex_lab.trace.schema import FIELDS, Event

Row = tuple[int, str, "str | None", int, int, str, str, "str | None", Any]
"""One event as the buffer holds it: the values of `FIELDS`, span ids 0 for none, the payload stored."""

WIDTH = len(FIELDS)

Numbered = tuple[int, int, str, "str | None", "int | None", "int | None", str, str, "str | None", Any]
"""(seq, *Row): an event with its number in the store."""


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

    def table(self, name: str) -> Table:
        """The table of a CODED column, holding every value present in this snapshot (for lookups)."""
        for chunk in self.chunks:
            chunk.column(name)
        return self.tables[name]

    def visible(self, chunk: Chunk) -> tuple[int, int]:
        """The positions [lo, hi) of `chunk` inside this snapshot."""
        return max(0, self.first - chunk.start), min(chunk.n, self.end - chunk.start)


class EventStore:
    """Every event of a process (or of a block using `use_store`), queryable while it grows.

    `max_events=None` keeps everything; a number keeps the newest events and
    counts the rest in `dropped`. `chunk_events` sets how many events are
    sealed together (smaller chunks make a busy store's newest events cheaper
    to query, larger ones make queries over millions of events cheaper).
    Query it with the top-level functions and `store=` this store:
    `dx.get_events(store=store)`, `dx.get_state_at(target, t, store=store)`.
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
        """Guards sealing, snapshots and the chunks' lazy columns."""
        self._append_lock = threading.Lock()
        """Guards the append buffer: writers in any thread never rely on a list operation being atomic."""
        self._tables = {name: Table() for name in CODED}
        self._chunks: list[Chunk] = []
        self._flat: list[Any] = []
        """The unsealed events, their FIELDS values one after another (WIDTH values per event)."""
        self._flat_limit = self._chunk_size * WIDTH
        self._sealed = 0
        self._last_ts = 0
        self._snapshot: Snapshot | None = None

    # --- writing -------------------------------------------------------------------------------
    def append(self, event: Event) -> None:
        """Add one event (its payload a dict, frozen here, or the frozen bytes `emit` makes).

        `events.emit` does the same inline, through the buffer and lock `_writer()` hands it.
        """
        payload: Any = event.payload
        if payload is not None and type(payload) is not bytes:
            payload = _stored(payload)
        row = (*event[:3], event.span_id or 0, event.parent_id or 0, *event[5:8], payload)
        flat = self._flat
        with self._append_lock:
            flat.extend(row)
            full = len(flat) >= self._flat_limit
        if full:
            self.seal()

    def extend(self, events: Iterable[Event]) -> None:
        """Add many events, oldest first (see `append`)."""
        rows = [
            (
                *event[:3],
                event.span_id or 0,
                event.parent_id or 0,
                *event[5:8],
                event.payload if event.payload is None or type(event.payload) is bytes else _stored(event.payload),
            )
            for event in events
        ]
        with self._append_lock:
            self._flat.extend(chain.from_iterable(rows))
        while len(self._flat) >= self._flat_limit:
            self.seal()

    def _writer(self) -> tuple[list[Any], threading.Lock, int]:
        """(the append buffer, the lock guarding it, its length that calls for `seal()`), for `emit`.

        The buffer and the lock are the same for the store's whole life.
        """
        return self._flat, self._append_lock, self._flat_limit

    def seal(self) -> None:
        """Turn the oldest `chunk_size` buffered events into a chunk."""
        with self._lock:
            flat = self._flat
            with self._append_lock:
                if len(flat) < self._flat_limit:
                    return
                batch = flat[: self._flat_limit]
                del flat[: len(batch)]
            chunk = self._chunk_of(batch, self._sealed, self._last_ts)
            self._chunks.append(chunk)
            self._sealed = chunk.end
            self._last_ts = chunk.last_ts
            if self.max_events is not None:
                first = self._first()
                while self._chunks and self._chunks[0].end <= first:
                    self._chunks.pop(0)

    def _chunk_of(self, flat: list[Any], start: int, floor: int) -> Chunk:
        """Buffered values as a chunk: one list per column; conversions wait for the first query."""
        columns = {name: flat[i::WIDTH] for i, name in enumerate(FIELDS)}
        payload = columns.pop("payload")
        return Chunk(start, columns, payload, floor=floor, tables=self._tables, lock=self._lock)

    def _extend_columns(self, columns: dict[str, list[Any]]) -> None:
        """Add many events given as one list per name in `FIELDS` (a saved trace being loaded).

        Payloads may be dicts, frozen bytes, or JSON text (as read from a file; decoded when queried).
        """
        count = len(columns["ts"])
        uneven = [name for name in FIELDS if len(columns[name]) != count]
        if uneven:
            raise ValueError(f"a trace needs one list per field, all {count} long; these differ: {uneven}")
        payloads = [value if value is None or type(value) is bytes else _stored(value) for value in columns["payload"]]
        ids = ([value or 0 for value in columns[name]] for name in ("span_id", "parent_id"))
        rows = zip(
            columns["ts"],
            columns["kind"],
            columns["run_id"],
            *ids,
            columns["component"],
            columns["task"],
            columns["correlation_id"],
            payloads,
            strict=True,
        )
        with self._append_lock:
            self._flat.extend(chain.from_iterable(rows))
        while len(self._flat) >= self._flat_limit:
            self.seal()

    def clear(self) -> None:
        """Forget every event (the count of dropped events starts again from zero)."""
        with self._lock, self._append_lock:
            self._chunks = []
            del self._flat[:]
            self._sealed = 0
            self._last_ts = 0
            self._snapshot = None
            self._tables = {name: Table() for name in CODED}

    # --- counting ------------------------------------------------------------------------------
    @property
    def appended(self) -> int:
        """How many events were ever appended (retained plus dropped)."""
        return self._sealed + len(self._flat) // WIDTH

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
            with self._append_lock:
                flat = self._flat[:]
            end = self._sealed + len(flat) // WIDTH
            cached = self._snapshot
            if cached is not None and cached.end == end and cached.tables is self._tables:
                return cached
            chunks = list(self._chunks)
            if flat:
                chunks.append(self._chunk_of(flat, self._sealed, self._last_ts))
            first = self._first()
            chunks = [chunk for chunk in chunks if chunk.end > first]
            snap = Snapshot(tuple(chunks), first, end, self._tables)
            self._snapshot = snap
            return snap

    def rows(self, since_seq: int = 0) -> Iterator[Numbered]:
        """Every retained event with seq >= since_seq, oldest first, as plain tuples."""
        snap = self.snapshot()
        for chunk in snap.chunks:
            lo, hi = snap.visible(chunk)
            lo = max(lo, since_seq - chunk.start)
            if hi <= lo:
                continue
            ts, kind, run_id, span_id, parent_id, component, task, correlation_id = (
                chunk.values(name) for name in FIELDS[:-1]
            )
            for i in range(lo, hi):
                yield (
                    chunk.start + i,
                    ts[i],
                    kind[i],
                    run_id[i],
                    span_id[i] or None,
                    parent_id[i] or None,
                    component[i],
                    task[i],
                    correlation_id[i],
                    chunk.stored(i),
                )

    def records(self) -> list[dict[str, Any]]:
        """Every retained event as a dict with the keys of `FIELDS`, oldest first."""
        return [dict(zip(FIELDS, (*row[1:9], thaw(row[9])), strict=True)) for row in self.rows()]


def _stored(payload: Any) -> bytes | str:
    if type(payload) is str:
        return payload
    if type(payload) is memoryview:
        return bytes(payload)
    if not isinstance(payload, dict):
        raise TypeError(f"an event payload must be a dict or None, got {type(payload).__name__}")
    return freeze(payload)[0]
