"""Whole-store structures for spans and correlations, built per snapshot from per-chunk pieces.

A span is the events sharing a `span_id`: the first is its start, the last its
end. A correlation is the events sharing a `correlation_id`: the first is the
request, the second the reply. Each chunk summarises its own events once (a
chunk never changes) and a snapshot combines the summaries with a few
vectorised passes, so a store that grows by one event costs a merge, not a
rescan, before the next span or message-flow query.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dspex_lab.trace.chunk import CODED, Chunk

if TYPE_CHECKING:
    import numpy as np

    from dspex_lab.trace.store import Snapshot

_MAX_DEPTH = 256
_KEPT = {"span_id": ("ts", "parent_id", *CODED), "correlation_id": ("ts", "parent_id", "component")}
"""What a summary keeps of the first event of each span (its start) or correlation (its request)."""


@dataclass(frozen=True, slots=True)
class SpanTable:
    """One entry per span, sorted by span id."""

    ids: np.ndarray
    start_seq: np.ndarray
    end_seq: np.ndarray
    """-1 while the span is open."""
    start_ts: np.ndarray
    parent: np.ndarray
    """The parent span id at the start event, 0 for none."""
    columns: dict[str, np.ndarray]
    """The coded columns (kind, component, run_id, task, correlation_id) of the start event."""

    def find(self, span_ids: np.ndarray) -> np.ndarray:
        """The row of each span id in this table, -1 where there is none."""
        import numpy as np

        if len(self.ids) == 0:
            return np.full(len(span_ids), -1, dtype=np.int64)
        at = np.searchsorted(self.ids, span_ids)
        at[at >= len(self.ids)] = 0
        return np.where((self.ids[at] == span_ids) & (span_ids != 0), at, -1)


@dataclass(frozen=True, slots=True)
class Correlations:
    """Request/reply pairs: per correlation code, and as a table of requests in store order."""

    request: np.ndarray
    """Per correlation code: the seq of its first event (the request), -1 if none."""
    reply: np.ndarray
    """Per correlation code: the seq of its second event (the reply), -1 if none."""
    codes: np.ndarray
    """The correlation codes that have a request, in the order of their requests."""
    seq: np.ndarray
    ts: np.ndarray
    component: np.ndarray
    parent: np.ndarray
    """Of each request in `codes`: where it is, when, from which component, under which span."""


def _summary(chunk: Chunk, lo: int, hi: int, key: str) -> dict[str, np.ndarray]:
    """The events of chunk positions [lo, hi) grouped by `key` (span_id or correlation_id).

    For each key value present: `key`, the seq of its first event, how many
    there are, the attributes of the first event (`_KEPT[key]`), and for a
    span the seq of its last event, for a correlation the seq of its second
    (-1 if there is only one). Whole chunks are summarised once and kept.
    """
    memo = chunk.memo(("summary", key, lo, hi)) if (lo, hi) == (0, chunk.n) else {}
    if memo:
        return memo
    import numpy as np

    values = chunk.column(key)[lo:hi]
    present = np.flatnonzero(values > 0 if key == "span_id" else values >= 0)
    order = np.argsort(values[present], kind="stable")
    keys = values[present][order]
    positions = present[order] + lo
    firsts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else np.empty(0, dtype=np.int64)
    lasts = np.r_[firsts[1:] - 1, len(keys) - 1] if len(keys) else np.empty(0, dtype=np.int64)
    first = positions[firsts]
    memo.update(
        key=keys[firsts],
        first=first + chunk.start,
        count=(lasts - firsts + 1).astype(np.int32),
        **{name: chunk.column(name)[first] for name in _KEPT[key]},
    )
    if key == "span_id":
        memo["last"] = positions[lasts] + chunk.start
    else:
        memo["second"] = np.where(lasts > firsts, positions[np.minimum(firsts + 1, len(keys) - 1)] + chunk.start, -1)
    return memo


def _combined(snap: Snapshot, key: str) -> dict[str, np.ndarray]:
    """The chunk summaries of `snap` merged: one entry per key value, sorted by it.

    A correlation's `next` is the first event of the next chunk holding it: its
    second event when the first chunk held only one.
    """
    import numpy as np

    parts = [_summary(chunk, *snap.visible(chunk), key) for chunk in snap.chunks if snap.visible(chunk)[1] > 0]
    own = ("last",) if key == "span_id" else ("second",)
    fields = ("key", "first", "count", *own, *_KEPT[key])
    joined = {name: np.concatenate([part[name] for part in parts]) for name in fields} if parts else {}
    if not parts or not len(joined["key"]):
        return {name: np.empty(0, dtype=np.int64) for name in (*fields, "next", "last", "second")}
    # Keys are handed out in time order, so this is nearly sorted already (cheap for timsort).
    order = np.argsort(joined["key"], kind="stable")
    keys = joined["key"][order]
    heads = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    tails = np.r_[heads[1:] - 1, len(keys) - 1]
    first_of = order[heads]
    merged = {name: joined[name][first_of] for name in ("key", "first", *_KEPT[key])}
    merged["count"] = np.add.reduceat(joined["count"][order], heads)
    if key == "span_id":
        merged["last"] = joined["last"][order[tails]]
    else:
        merged["second"] = joined["second"][first_of]
        merged["next"] = np.where(tails > heads, joined["first"][order[np.minimum(heads + 1, len(keys) - 1)]], -1)
    return merged


def span_table(snap: Snapshot) -> SpanTable:
    """The spans of `snap` (cached on it)."""
    cached = snap.cache.get("spans")
    if cached is not None:
        return cached
    import numpy as np

    merged = _combined(snap, "span_id")
    table = SpanTable(
        ids=merged["key"],
        start_seq=merged["first"],
        end_seq=np.where(merged["count"] > 1, merged["last"], -1),
        start_ts=merged["ts"],
        parent=merged["parent_id"],
        columns={name: merged[name].astype(np.int32) for name in CODED},
    )
    snap.cache["spans"] = table
    return table


def depths(table: SpanTable) -> np.ndarray:
    """How many ancestors each span of `table` has (a parent that is no longer retained counts as one)."""
    import numpy as np

    parent_row = table.find(table.parent)
    depth = (table.parent != 0).astype(np.int32)
    current = parent_row.copy()
    for _ in range(_MAX_DEPTH):
        walking = np.flatnonzero(current >= 0)
        if not len(walking):
            break
        above = table.parent[current[walking]]
        depth[walking] += above != 0
        current[walking] = parent_row[current[walking]]
    return depth


def correlations(snap: Snapshot) -> Correlations:
    """The request/reply pairs of `snap` (cached on it)."""
    cached = snap.cache.get("correlations")
    if cached is not None:
        return cached
    import numpy as np

    merged = _combined(snap, "correlation_id")
    size = len(snap.tables["correlation_id"].values)
    codes = merged["key"].astype(np.int64)
    second = np.where(merged["second"] >= 0, merged["second"], merged["next"])
    request = np.full(size, -1, dtype=np.int64)
    reply = np.full(size, -1, dtype=np.int64)
    request[codes] = merged["first"]
    reply[codes] = second
    order = np.argsort(merged["first"], kind="stable")
    found = Correlations(
        request=request,
        reply=reply,
        codes=codes[order],
        seq=merged["first"][order],
        ts=merged["ts"][order],
        component=merged["component"][order],
        parent=merged["parent_id"][order],
    )
    snap.cache["correlations"] = found
    return found
