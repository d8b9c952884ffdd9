"""A chunk: a run of consecutive events frozen into typed columns, with lazy numpy indexes.

The store seals its append buffers into chunks of a few thousand events. A
chunk never changes afterwards, so everything derived from it (numpy views,
per-key position indexes, the span-id index) is computed once, on the first
query that needs it, and kept. Strings (kind, component, run, task,
correlation) are stored as int32 codes into store-wide `Table`s, so chunks
concatenate without re-mapping; -1 means None.

numpy is imported only when a chunk is first queried, never while emitting.
"""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

CODED = ("kind", "run_id", "component", "task", "correlation_id")
"""Columns stored as codes into a `Table`."""

INTEGER = ("ts", "span_id", "parent_id")
"""Columns stored as int64 (0 means no span / no parent)."""


class Table:
    """Interns the strings of one column: value <-> int code, shared by every chunk of a store."""

    __slots__ = ("_array", "codes", "values")

    def __init__(self) -> None:
        self.codes: dict[Any, int] = {None: -1}
        self.values: list[Any] = []
        self._array: Any = None

    def encode(self, column: list[Any]) -> array[int]:
        """Codes for `column`, adding values not seen before."""
        lookup = self.codes.__getitem__
        try:
            return array("i", map(lookup, column))
        except KeyError:
            codes = self.codes
            for value in set(column):
                if value not in codes:
                    codes[value] = len(self.values)
                    self.values.append(value)
            return array("i", map(lookup, column))

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
    """Events [start, start + n) of a store, in typed columns."""

    __slots__ = (
        "_cache",
        "component",
        "correlation_id",
        "kind",
        "n",
        "parent_id",
        "payload",
        "run_id",
        "span_id",
        "start",
        "task",
        "ts",
    )

    def __init__(
        self,
        start: int,
        ts: array[int],
        kind: array[int],
        run_id: array[int],
        span_id: array[int],
        parent_id: array[int],
        component: array[int],
        task: array[int],
        correlation_id: array[int],
        payload: list[Any],
    ) -> None:
        self.start = start
        self.n = len(ts)
        self.ts = ts
        self.kind = kind
        self.run_id = run_id
        self.span_id = span_id
        self.parent_id = parent_id
        self.component = component
        self.task = task
        self.correlation_id = correlation_id
        self.payload = payload
        self._cache: dict[Any, Any] = {}

    @property
    def end(self) -> int:
        return self.start + self.n

    @property
    def first_ts(self) -> int:
        return self.ts[0]

    @property
    def last_ts(self) -> int:
        return self.ts[-1]

    def column(self, name: str) -> np.ndarray:
        """A read-only numpy view of one column (int64 for INTEGER, int32 codes for CODED)."""
        found = self._cache.get(name)
        if found is None:
            import numpy as np

            found = np.frombuffer(getattr(self, name), dtype=np.int64 if name in INTEGER else np.int32)
            self._cache[name] = found
        return found

    def row_range(self, since: int | None, until: int | None) -> tuple[int, int]:
        """Positions [lo, hi) of the events with since <= ts <= until (ts never decreases in a store)."""
        if since is None and until is None:
            return 0, self.n
        import numpy as np

        ts = self.column("ts")
        lo = 0 if since is None else int(np.searchsorted(ts, since, "left"))
        hi = self.n if until is None else int(np.searchsorted(ts, until, "right"))
        return lo, max(lo, hi)

    def _key_index(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(positions ordered by code, the codes in that order) for a CODED column."""
        key = ("index", name)
        found = self._cache.get(key)
        if found is None:
            import numpy as np

            codes = self.column(name)
            order = np.argsort(codes, kind="stable").astype(np.int32)
            found = (order, codes[order])
            self._cache[key] = found
        return found

    def positions(self, name: str, codes: np.ndarray, lo: int, hi: int) -> np.ndarray:
        """Sorted positions in [lo, hi) whose `name` column holds one of `codes` (sorted, unique)."""
        import numpy as np

        order, ordered = self._key_index(name)
        starts = np.searchsorted(ordered, codes, "left")
        stops = np.searchsorted(ordered, codes, "right")
        parts = [order[a:b] for a, b in zip(starts.tolist(), stops.tolist(), strict=True) if b > a]
        if not parts:
            return np.empty(0, dtype=np.int32)
        found = parts[0] if len(parts) == 1 else np.sort(np.concatenate(parts))
        if lo > 0 or hi < self.n:
            found = found[np.searchsorted(found, lo, "left") : np.searchsorted(found, hi, "left")]
        return found

    def count(self, name: str, codes: np.ndarray) -> int:
        """How many events of this chunk have one of `codes` in column `name`."""
        import numpy as np

        _, ordered = self._key_index(name)
        return int((np.searchsorted(ordered, codes, "right") - np.searchsorted(ordered, codes, "left")).sum())

    def span_index(self) -> tuple[np.ndarray, np.ndarray]:
        """(span ids in ascending order, position of each one's first event in this chunk)."""
        found = self._cache.get("spans")
        if found is None:
            import numpy as np

            ids = self.column("span_id")
            where = np.flatnonzero(ids)
            order = np.argsort(ids[where], kind="stable")
            ordered_ids = ids[where][order]
            ordered_pos = where[order]
            first = np.ones(len(ordered_ids), dtype=bool)
            first[1:] = ordered_ids[1:] != ordered_ids[:-1]
            found = (ordered_ids[first], ordered_pos[first].astype(np.int32))
            self._cache["spans"] = found
        return found

    def find_spans(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each id: whether this chunk holds an event of that span, and the position of its first one."""
        import numpy as np

        known, first = self.span_index()
        if len(known) == 0 or len(ids) == 0:
            return np.zeros(len(ids), dtype=bool), np.zeros(len(ids), dtype=np.int32)
        at = np.searchsorted(known, ids, "left")
        at[at >= len(known)] = len(known) - 1
        hit = known[at] == ids
        return hit, first[at]

    def span_id_bounds(self) -> tuple[int, int]:
        """The smallest and largest span id in this chunk ((0, -1) when there is none)."""
        known, _ = self.span_index()
        return (int(known[0]), int(known[-1])) if len(known) else (0, -1)
