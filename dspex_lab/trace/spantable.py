"""Whole-store structures for spans and correlations, built once per snapshot.

A span is the events sharing a `span_id`: the first is its start, the last its
end. A correlation is the events sharing a `correlation_id`: the first is the
request, the second the reply. Both are derived here with a few vectorised
passes over the snapshot and cached on it, so repeated queries on a store that
has not changed cost nothing to set up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dspex_lab.trace.chunk import CODED

if TYPE_CHECKING:
    import numpy as np

    from dspex_lab.trace.store import Snapshot

_MAX_DEPTH = 256


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
    depth: np.ndarray

    def find(self, span_ids: np.ndarray) -> np.ndarray:
        """The row of each span id in this table, -1 where there is none."""
        import numpy as np

        if len(self.ids) == 0:
            return np.full(len(span_ids), -1, dtype=np.int64)
        at = np.searchsorted(self.ids, span_ids)
        at[at >= len(self.ids)] = 0
        return np.where((self.ids[at] == span_ids) & (span_ids != 0), at, -1)


def _visible_column(snap: Snapshot, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(values, seqs) of column `name` over every visible event, in seq order."""
    import numpy as np

    values, seqs = [], []
    for chunk in snap.chunks:
        lo, hi = snap.visible(chunk)
        if hi > lo:
            values.append(chunk.column(name)[lo:hi])
            seqs.append(np.arange(chunk.start + lo, chunk.start + hi, dtype=np.int64))
    if not values:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    return np.concatenate(values), np.concatenate(seqs)


def span_table(snap: Snapshot) -> SpanTable:
    """The spans of `snap` (cached on it)."""
    cached = snap.cache.get("spans")
    if cached is not None:
        return cached
    import numpy as np

    from dspex_lab.trace.query import gather

    ids, seqs = _visible_column(snap, "span_id")
    marked = ids != 0
    ids, seqs = ids[marked], seqs[marked]
    # Span ids are handed out in time order, so this is nearly sorted already (cheap for timsort).
    order = np.argsort(ids, kind="stable")
    ids, seqs = ids[order], seqs[order]
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if len(ids) else np.empty(0, dtype=np.int64)
    lasts = np.r_[starts[1:] - 1, len(ids) - 1] if len(ids) else np.empty(0, dtype=np.int64)
    unique = ids[starts]
    start_seq = seqs[starts]
    end_seq = np.where(lasts > starts, seqs[lasts], -1)
    parent = gather(snap, start_seq, "parent_id")
    table = SpanTable(
        ids=unique,
        start_seq=start_seq,
        end_seq=end_seq,
        start_ts=gather(snap, start_seq, "ts"),
        parent=parent,
        columns={name: gather(snap, start_seq, name) for name in CODED},
        depth=np.zeros(len(unique), dtype=np.int32),
    )
    _fill_depth(table)
    snap.cache["spans"] = table
    return table


def _fill_depth(table: SpanTable) -> None:
    """Count each span's ancestors (a parent that is no longer retained counts as one)."""
    import numpy as np

    parent_row = table.find(table.parent)
    depth = table.depth
    depth[(table.parent != 0)] = 1
    current = parent_row.copy()
    for _ in range(_MAX_DEPTH):
        walking = np.flatnonzero(current >= 0)
        if not len(walking):
            break
        above = table.parent[current[walking]]
        depth[walking] += above != 0
        current[walking] = parent_row[current[walking]]


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


def correlations(snap: Snapshot) -> Correlations:
    """The request/reply pairs of `snap` (cached on it)."""
    cached = snap.cache.get("correlations")
    if cached is not None:
        return cached
    import numpy as np

    from dspex_lab.trace.query import Located

    codes, seqs = _visible_column(snap, "correlation_id")
    marked = codes >= 0
    codes, seqs = codes[marked], seqs[marked]
    size = len(snap.tables["correlation_id"].values)
    never = np.iinfo(np.int64).max
    request = np.full(size, never, dtype=np.int64)
    np.minimum.at(request, codes, seqs)
    later = seqs != request[codes]
    reply = np.full(size, never, dtype=np.int64)
    np.minimum.at(reply, codes[later], seqs[later])
    request[request == never] = -1
    reply[reply == never] = -1
    firsts = codes[~later]
    located = Located(snap, seqs[~later])
    found = Correlations(
        request=request,
        reply=reply,
        codes=firsts,
        seq=seqs[~later],
        ts=located.column("ts"),
        component=located.column("component"),
        parent=located.column("parent_id"),
    )
    snap.cache["correlations"] = found
    return found
