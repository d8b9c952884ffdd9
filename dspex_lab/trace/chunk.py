"""A chunk: a run of consecutive events frozen into columns, with lazy numpy views and indexes.

The store seals its append buffer into chunks of a few thousand events, doing
as little as it can while events are being emitted: the values are split into
one list per column and nothing is converted. A chunk never changes
afterwards, so everything derived from it is computed once, on the first query
that needs it, and kept: columns turned into numpy arrays (the Python values
are then let go), timestamps made non-decreasing, strings (kind, component,
run, task, correlation) turned into integer codes into store-wide `Table`s (so
chunks concatenate without re-mapping; -1 means None), payloads packed into
one buffer, per-key position indexes, and the span and correlation summaries
of `spantable.py` (kept through `memo`).

numpy is imported only when a chunk is first queried, never while emitting.
"""

from __future__ import annotations

import threading
from array import array
from collections.abc import Mapping, Sequence
from itertools import accumulate
from typing import TYPE_CHECKING, Any

from dspex_lab.trace.payload import thaw_all

if TYPE_CHECKING:
    import numpy as np

CODED = ("kind", "run_id", "component", "task", "correlation_id")
"""Columns queried as codes into a `Table`."""

INTEGER = ("ts", "span_id", "parent_id")
"""Integer columns (0 means no span / no parent): ts is int64, ids the smallest of int32 / int64 that holds them."""


class Table:
    """Interns the strings of one column: value <-> int code, shared by every chunk of a store."""

    __slots__ = ("_array", "codes", "values")

    def __init__(self) -> None:
        self.codes: dict[Any, int] = {None: -1}
        self.values: list[Any] = []
        self._array: Any = None

    def encode(self, column: Sequence[Any]) -> np.ndarray:
        """Codes for `column` (int16 while the table is small, else int32), adding values not seen before."""
        import numpy as np

        codes = self.codes
        for value in set(column).difference(codes):
            codes[value] = len(self.values)
            self.values.append(value)
        found = np.fromiter(map(codes.__getitem__, column), dtype=np.int32, count=len(column))
        return found.astype(np.int16) if len(self.values) < 2**15 else found

    def code(self, value: Any) -> int | None:
        """The code of `value`, None when the column never had it."""
        return self.codes.get(value)

    def objects(self) -> np.ndarray:
        """The values as a numpy object array indexed by code, ending in None so code -1 reads as None."""
        import numpy as np

        cached = self._array
        if cached is None or len(cached) != len(self.values) + 1:
            cached = np.empty(len(self.values) + 1, dtype=object)
            cached[:-1] = self.values
            self._array = cached
        return cached


class Chunk:
    """Events [start, start + n) of a store, in columns."""

    __slots__ = ("_cache", "_lock", "_payload", "_raw", "_tables", "first_ts", "floor", "last_ts", "n", "start")

    def __init__(
        self,
        start: int,
        columns: Mapping[str, Sequence[Any]],
        payload: Sequence[Any],
        *,
        floor: int,
        tables: dict[str, Table],
        lock: threading.Lock,
    ) -> None:
        self.start = start
        self._raw: dict[str, Sequence[Any]] = dict(columns)
        """Each column as it was appended, until a query turns it into numpy (then it is let go)."""
        self._payload: Sequence[Any] | Packed = payload
        """The stored payloads: as appended, or packed into one buffer once the chunk is queried."""
        self.n = len(payload)
        ts = columns["ts"]
        self.floor = floor
        """No event of this chunk is earlier than this (the latest time of the chunks before)."""
        self.first_ts = max(floor, ts[0])
        self.last_ts = max(floor, max(ts))
        self._tables = tables
        self._lock = lock
        self._cache: dict[Any, Any] = {}

    @property
    def end(self) -> int:
        return self.start + self.n

    def column(self, name: str) -> np.ndarray:
        """A read-only numpy array of one column: integers for INTEGER, codes for CODED (see `Table.encode`)."""
        found = self._cache.get(name)
        if found is not None:
            return found
        import numpy as np

        with self._lock:
            found = self._cache.get(name)
            if found is not None:
                return found
            raw = self._raw[name]
            if name == "ts":
                # An event appended after another with a later clock reading takes the later time.
                found = np.maximum.accumulate(np.maximum(np.array(raw, dtype=np.int64), self.floor))
            elif name in INTEGER:
                found = np.array(raw, dtype=np.int64)
                # Span ids are counters: they fit 32 bits in all but the longest-lived processes.
                if len(found) and found.max() < 2**31:
                    found = found.astype(np.int32)
            else:
                found = self._tables[name].encode(raw)
            found.flags.writeable = False
            self._cache[name] = found
            del self._raw[name]
            if not isinstance(self._payload, Packed):
                self._payload = Packed.of(self._payload)
            return found

    def stored(self, position: int) -> Any:
        """The payload at `position` in its stored form (encoded bytes, JSON text, or None)."""
        return self._payload[position]

    def decoded(self, positions: Sequence[int]) -> list[dict[str, Any] | None]:
        """The payloads at `positions`, decoded."""
        payload = self._payload
        return thaw_all([payload[p] for p in positions])

    def memo(self, key: Any) -> dict[Any, Any]:
        """A dict kept with this chunk for values derived from it (payload fields by position, say)."""
        found = self._cache.get(key)
        if found is None:
            found = self._cache.setdefault(key, {})
        return found

    def values(self, name: str) -> Sequence[Any]:
        """One column as Python objects: ints for INTEGER (0 for none), strings or None for CODED."""
        with self._lock:
            raw = self._raw.get(name)
        if raw is not None:
            return raw if name != "ts" else list(accumulate(raw, max, initial=self.floor))[1:]
        if name in INTEGER:
            return self.column(name).tolist()
        return self._tables[name].objects()[self.column(name)].tolist()

    def row_range(self, since: int | None, until: int | None) -> tuple[int, int]:
        """Positions [lo, hi) of the events with since <= ts <= until (ts never decreases in a store)."""
        if since is None and until is None:
            return 0, self.n
        import numpy as np

        ts = self.column("ts")
        lo = 0 if since is None else int(np.searchsorted(ts, since, "left"))
        hi = self.n if until is None else int(np.searchsorted(ts, until, "right"))
        return lo, max(lo, hi)

    def _key_index(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For a CODED column: (positions ordered by code, the codes present, where each one's run starts).

        Positions of code `present[i]` are `order[bounds[i]:bounds[i + 1]]`, ascending.
        """
        key = ("index", name)
        found = self._cache.get(key)
        if found is None:
            import numpy as np

            codes = self.column(name)
            order = np.argsort(codes, kind="stable").astype(np.int16 if self.n < 2**15 else np.int32)
            ordered = codes[order]
            heads = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]) if len(ordered) else np.empty(0, int)
            found = (order, ordered[heads], np.r_[heads, len(ordered)].astype(np.int32))
            self._cache[key] = found
        return found

    def _runs(self, name: str, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(order, run starts, run ends) of the wanted `codes` present in this chunk."""
        import numpy as np

        order, present, bounds = self._key_index(name)
        at = np.searchsorted(present, codes)
        inside = at < len(present)
        at = at[inside][present[at[inside]] == codes[inside]]
        return order, bounds[at], bounds[at + 1]

    def positions(self, name: str, codes: np.ndarray, lo: int, hi: int) -> np.ndarray:
        """Sorted positions in [lo, hi) whose `name` column holds one of `codes` (sorted, unique)."""
        import numpy as np

        order, starts, stops = self._runs(name, codes)
        parts = [order[a:b] for a, b in zip(starts.tolist(), stops.tolist(), strict=True)]
        if not parts:
            return np.empty(0, dtype=np.int32)
        found = parts[0] if len(parts) == 1 else np.sort(np.concatenate(parts))
        if lo > 0 or hi < self.n:
            found = found[np.searchsorted(found, lo, "left") : np.searchsorted(found, hi, "left")]
        return found

    def count(self, name: str, codes: np.ndarray) -> int:
        """How many events of this chunk have one of `codes` in column `name`."""
        _, starts, stops = self._runs(name, codes)
        return int((stops - starts).sum())


class Packed:
    """The encoded payloads of a chunk in one buffer: one object instead of one per event.

    Item i is the slice between the end of item i - 1 and `ends[i]`; an empty
    slice is None (an encoded payload is never empty).
    """

    __slots__ = ("_buffer", "_ends")

    def __init__(self, buffer: bytes, ends: array[int]) -> None:
        self._buffer = memoryview(buffer)
        self._ends = ends

    @classmethod
    def of(cls, items: Sequence[Any]) -> Packed | Sequence[Any]:
        """`items` packed, or as they are when some are not bytes (JSON text read from a file)."""
        if not all(item is None or type(item) is bytes for item in items):
            return items
        present = [item for item in items if item is not None]
        ends = array("q", accumulate(0 if item is None else len(item) for item in items))
        return cls(b"".join(present), ends)

    def __len__(self) -> int:
        return len(self._ends)

    def __getitem__(self, position: int) -> memoryview | None:
        end = self._ends[position]
        start = self._ends[position - 1] if position else 0
        return self._buffer[start:end] if end > start else None
