"""Asking the store: which events, which spans, between which moments.

Every query takes a `Snapshot` of the store (so events appended meanwhile do
not tear the answer) and works chunk by chunk: the time window becomes a
position range by binary search (timestamps never decrease in a store), and
each key filter uses the chunk's position index for that column, starting
from the filter that matches the fewest events. Only the rows that survive
are turned into a pandas frame, and only their payloads are decoded.

Trace frames are indexed by `ts` (epoch nanoseconds) and carry `time`
(UTC datetimes), `seq` (the event's number in its store), categorical
`kind` / `component` / `run_id` / `task`, `span_id` / `parent_id` (nullable
ints), `correlation_id` and `payload` (a dict, or None).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import numbers
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Union

from dspex_lab.trace.chunk import INTEGER, Chunk, Table
from dspex_lab.trace.schema import SpanEnd, span_start_kind

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from dspex_lab.trace.store import EventStore, Snapshot

Moment = Union[int, float, str, dt.datetime, dt.timedelta, "np.datetime64", None]
"""A point in time: int = epoch nanoseconds, float = epoch seconds, a datetime (naive means
local time), an ISO string, numpy datetime64 (UTC), or a timedelta meaning that long ago."""

KeyFilter = str | Sequence[str] | None
"""A column filter: one value, a glob ("optimize.*", "qa.*"), or a list of either."""

Where = Callable[[dict[str, Any]], Any] | Mapping[str, Any] | None
"""A payload filter: a function of the payload dict, or {key: value} pairs that must all match."""

Pick = tuple[Chunk, "np.ndarray"]
"""Positions chosen in one chunk (ascending)."""

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_EMPTY: dict[str, Any] = {}
_GLOB = ("*", "?")
FRAME_COLUMNS = (
    "seq",
    "time",
    "kind",
    "component",
    "run_id",
    "task",
    "span_id",
    "parent_id",
    "correlation_id",
    "payload",
)


# --- arguments -----------------------------------------------------------------------------------
def to_ns(moment: Moment) -> int | None:
    """`moment` as epoch nanoseconds (None stays None); see `Moment` for what is accepted."""
    if moment is None:
        return None
    if isinstance(moment, bool):
        raise TypeError("a time must be epoch nanoseconds (int), epoch seconds (float), a datetime or an ISO string")
    if isinstance(moment, numbers.Integral):  # numpy's integers too: a DataFrame's index or cell
        return int(moment)
    if isinstance(moment, numbers.Real):
        return round(float(moment) * 1e9)
    if isinstance(moment, dt.timedelta):
        from dspex_lab.trace.events import now_ns

        return now_ns() - _timedelta_ns(moment)
    if isinstance(moment, str):
        try:
            moment = dt.datetime.fromisoformat(moment)
        except ValueError:
            raise ValueError(
                f"cannot read {moment!r} as a time; use ISO 8601 such as '2025-01-31 10:42:00' "
                "(local time) or '2025-01-31T10:42:00+00:00'"
            ) from None
    if isinstance(moment, dt.datetime):
        extra_ns = getattr(moment, "nanosecond", 0)
        if moment.tzinfo is None:
            seconds = int(time.mktime(moment.timetuple()))
            return seconds * 1_000_000_000 + moment.microsecond * 1000 + extra_ns
        return _timedelta_ns(moment - _EPOCH) + extra_ns
    if isinstance(moment, dt.date):
        return to_ns(dt.datetime(moment.year, moment.month, moment.day))
    if type(moment).__name__ == "datetime64":
        import numpy as np

        stamp: Any = moment
        return int(stamp.astype("datetime64[ns]").astype(np.int64))
    raise TypeError(
        f"cannot read a {type(moment).__name__} as a time; pass epoch nanoseconds (int), epoch seconds "
        "(float), a datetime, an ISO string or a timedelta (that long ago)"
    )


def _timedelta_ns(delta: dt.timedelta) -> int:
    return ((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds) * 1000


def resolve_store(store: EventStore | None) -> EventStore:
    """`store`, or the store events currently go to; an error that says how to turn tracing on."""
    if store is not None:
        return store
    from dspex_lab.trace.events import get_store

    current = get_store()
    if current is None:
        raise RuntimeError(
            "tracing is off, so there are no events to query; turn it on with dx.trace.enable(), "
            "or pass store= (for example a trace read back with dx.trace.load(path))"
        )
    return current


def codes_for(table: Table, value: KeyFilter, *, prefix: bool = False) -> np.ndarray | None:
    """The sorted codes a filter matches (None = no filter); globs match with fnmatch.

    With `prefix`, "qa" also matches "qa.generate" and "qa.x.y" (a program and what it contains).
    """
    import numpy as np

    if value is None:
        return None
    if isinstance(value, str):
        wanted = [value]
    elif isinstance(value, list | tuple | set | frozenset):
        wanted = list(value)
    else:
        raise TypeError(f"a filter takes a string, a glob or a list of strings, got {type(value).__name__} ({value!r})")
    found: set[int] = set()
    for item in wanted:
        if not isinstance(item, str):
            raise TypeError(f"a filter takes strings, got {type(item).__name__} ({item!r})")
        if any(mark in item for mark in _GLOB):
            found.update(code for code, name in enumerate(table.values) if fnmatch.fnmatchcase(str(name), item))
            continue
        code = table.code(item)
        if code is not None:
            found.add(code)
        if prefix:
            dotted = item + "."
            found.update(code for code, name in enumerate(table.values) if str(name).startswith(dotted))
    return np.array(sorted(found), dtype=np.int32)


# --- selection -----------------------------------------------------------------------------------
def select(
    snap: Snapshot,
    filters: Mapping[str, np.ndarray | None],
    since: int | None = None,
    until: int | None = None,
    *,
    limit: int | None = None,
    keep: Callable[[Chunk, np.ndarray], np.ndarray] | None = None,
) -> list[Pick]:
    """The events matching every filter (column -> codes) in [since, until], chunk by chunk.

    `keep(chunk, positions)` may narrow each chunk's positions further (payload
    filters). A positive `limit` keeps the oldest events, a negative one the newest.
    """
    import numpy as np

    active = [(name, codes) for name, codes in filters.items() if codes is not None]
    if any(len(codes) == 0 for _, codes in active):
        return []
    chunks = [
        chunk
        for chunk in snap.chunks
        if (since is None or chunk.last_ts >= since) and (until is None or chunk.first_ts <= until)
    ]
    if limit is not None and limit < 0:
        chunks.reverse()
    picks: list[Pick] = []
    taken = 0
    for chunk in chunks:
        lo, hi = chunk.row_range(since, until)
        first, stop = snap.visible(chunk)
        lo, hi = max(lo, first), min(hi, stop)
        if hi <= lo:
            continue
        if active:
            counts = [chunk.count(name, codes) for name, codes in active]
            narrowest = counts.index(min(counts))
            name, codes = active[narrowest]
            positions = chunk.positions(name, codes, lo, hi)
            for index, (other, other_codes) in enumerate(active):
                if index != narrowest and len(positions):
                    values = chunk.column(other)[positions]
                    positions = positions[np.isin(values, other_codes)]
        else:
            positions = np.arange(lo, hi, dtype=np.int32)
        if keep is not None and len(positions):
            positions = keep(chunk, positions)
        if not len(positions):
            continue
        if limit is not None:
            room = abs(limit) - taken
            if len(positions) > room:
                positions = positions[:room] if limit > 0 else positions[len(positions) - room :]
            taken += len(positions)
        picks.append((chunk, positions))
        if limit is not None and taken >= abs(limit):
            break
    if limit is not None and limit < 0:
        picks.reverse()
    return picks


def payload_filter(where: Where) -> Callable[[Chunk, np.ndarray], np.ndarray] | None:
    """A `keep` function for `select` from a `where` argument."""
    import numpy as np

    if where is None:
        return None
    if isinstance(where, Mapping):
        pairs = list(where.items())

        def matches(payload: dict[str, Any]) -> Any:
            return all(key in payload and payload[key] == value for key, value in pairs)

        test: Callable[[dict[str, Any]], Any] = matches
    elif callable(where):
        test = where
    else:
        raise TypeError(
            f"where must be a function of the payload dict or a dict of payload values, got {type(where).__name__}"
        )

    def keep(chunk: Chunk, positions: np.ndarray) -> np.ndarray:
        payloads = chunk.decoded(positions.tolist())
        mask = np.fromiter((bool(test(p if p is not None else {})) for p in payloads), dtype=bool, count=len(payloads))
        return positions[mask]

    return keep


class Located:
    """Store positions grouped by the chunk holding them, to read several columns at the same places."""

    def __init__(self, snap: Snapshot, seqs: np.ndarray) -> None:
        import numpy as np

        self.size = len(seqs)
        starts = np.array([chunk.start for chunk in snap.chunks], dtype=np.int64)
        which = np.searchsorted(starts, seqs, "right") - 1
        self.parts: list[tuple[Chunk, np.ndarray, np.ndarray]] = []
        for index in np.unique(which).tolist():
            chunk = snap.chunks[index]
            slots = np.flatnonzero(which == index)
            self.parts.append((chunk, slots, seqs[slots] - chunk.start))

    def column(self, name: str) -> np.ndarray:
        """Column `name` at each position."""
        import numpy as np

        out = np.empty(self.size, dtype=np.int64 if name in INTEGER else np.int32)
        for chunk, slots, positions in self.parts:
            out[slots] = chunk.column(name)[positions]
        return out

    def fields(self, keys: tuple[str, ...]) -> list[tuple[Any, ...]]:
        """For each position, the payload's values under `keys` (None where missing).

        Kept per chunk (chunks never change), so asking again for the same events decodes nothing.
        """
        out: list[tuple[Any, ...]] = [()] * self.size
        for chunk, slots, positions in self.parts:
            memo = chunk.memo(("fields", keys))
            wanted = positions.tolist()
            missing = [p for p in wanted if p not in memo]
            if missing:
                for p, body in zip(missing, chunk.decoded(missing), strict=True):
                    memo[p] = tuple(map((body or _EMPTY).get, keys))
            for index, p in zip(slots.tolist(), wanted, strict=True):
                out[index] = memo[p]
        return out

    def payloads(self) -> list[dict[str, Any] | None]:
        """The decoded payload at each position."""
        out: list[dict[str, Any] | None] = [None] * self.size
        for chunk, slots, positions in self.parts:
            for index, body in zip(slots.tolist(), chunk.decoded(positions.tolist()), strict=True):
                out[index] = body
        return out


def gather(snap: Snapshot, seqs: np.ndarray, name: str) -> np.ndarray:
    """Column `name` at store positions `seqs` (which must be visible in `snap`)."""
    return Located(snap, seqs).column(name)


def gather_payloads(snap: Snapshot, seqs: np.ndarray) -> list[dict[str, Any] | None]:
    """The decoded payloads at store positions `seqs`."""
    return Located(snap, seqs).payloads()


# --- frames ----------------------------------------------------------------------------------------
def categorical(codes: np.ndarray, table: Table) -> pd.Categorical:
    """Codes as a pandas Categorical holding only the values present (-1 = missing)."""
    import numpy as np
    import pandas as pd

    size = len(table.values)
    present = np.flatnonzero(np.bincount(codes[codes >= 0], minlength=size)) if len(codes) else np.empty(0, int)
    remap = np.full(size + 1, -1, dtype=np.int32)  # the extra last slot maps code -1 to -1
    remap[present] = np.arange(len(present), dtype=np.int32)
    categories = pd.Index(table.objects()[present], dtype=object)
    return pd.Categorical.from_codes(remap[codes], categories=categories, validate=False)


def objects(values: Sequence[Any] | np.ndarray, index: pd.Index) -> pd.Series:
    """Values as an object column on `index`: strings are not converted to a string dtype, None stays None."""
    import numpy as np
    import pandas as pd

    if isinstance(values, np.ndarray) and values.dtype == object:
        column = values
    else:
        column = np.fromiter(values, dtype=object, count=len(values))
    return pd.Series(column, index=index, dtype=object, copy=False)


def nullable_ids(values: np.ndarray) -> pd.arrays.IntegerArray:
    """Span ids with 0 meaning none, as pandas nullable Int64."""
    import numpy as np
    import pandas as pd

    return pd.arrays.IntegerArray(values.astype(np.int64, copy=False), values == 0)


def datetimes(ns: np.ndarray) -> pd.DatetimeIndex:
    import pandas as pd

    return pd.to_datetime(ns, unit="ns", utc=True)


def frame(snap: Snapshot, picks: list[Pick], *, payload: bool = True, expand: bool = False) -> pd.DataFrame:
    """The trace frame of the picked events (see the module docstring for its columns)."""
    import numpy as np
    import pandas as pd

    def joined(name: str) -> np.ndarray:
        if not picks:
            return np.empty(0, dtype=np.int64 if name in ("ts", "span_id", "parent_id") else np.int32)
        return np.concatenate([chunk.column(name)[positions] for chunk, positions in picks])

    ts = joined("ts")
    index = pd.Index(ts, name="ts")
    seq = (
        np.concatenate([positions.astype(np.int64) + chunk.start for chunk, positions in picks])
        if picks
        else np.empty(0, dtype=np.int64)
    )
    tables = snap.tables
    correlations = joined("correlation_id")  # codes first: coding may add values to the table
    data: dict[str, Any] = {
        "seq": seq,
        "time": datetimes(ts),
        "kind": categorical(joined("kind"), tables["kind"]),
        "component": categorical(joined("component"), tables["component"]),
        "run_id": categorical(joined("run_id"), tables["run_id"]),
        "task": categorical(joined("task"), tables["task"]),
        "span_id": nullable_ids(joined("span_id")),
        "parent_id": nullable_ids(joined("parent_id")),
        "correlation_id": objects(tables["correlation_id"].objects()[correlations], index),
    }
    payloads: list[Any] = []
    if payload or expand:
        for chunk, positions in picks:
            payloads.extend(chunk.decoded(positions.tolist()))
    if payload:
        data["payload"] = objects(payloads, index)
    result = pd.DataFrame(data, index=index)
    if expand and payloads:
        result = _expand(result, payloads)
    return result


def _expand(result: pd.DataFrame, payloads: list[dict[str, Any] | None]) -> pd.DataFrame:
    import pandas as pd

    extra = pd.DataFrame.from_records([p if p is not None else {} for p in payloads], index=result.index)
    extra.columns = [f"payload.{name}" if name in result.columns else name for name in extra.columns]
    return pd.concat([result, extra], axis=1)


# --- public queries ------------------------------------------------------------------------------------
def get_events(
    kind: KeyFilter = None,
    component: KeyFilter = None,
    run_id: KeyFilter = None,
    task: KeyFilter = None,
    since: Moment = None,
    until: Moment = None,
    where: Where = None,
    limit: int | None = None,
    *,
    correlation_id: KeyFilter = None,
    store: EventStore | None = None,
    payload: bool = True,
    expand: bool = False,
) -> pd.DataFrame:
    """The events matching every filter, oldest first, as a trace frame.

    `kind`, `component`, `run_id`, `task` and `correlation_id` take a value, a
    glob (`kind="optimize.*"`) or a list. `since` / `until` bound the time
    (both inclusive). `where` filters on the payload. `limit=n` keeps the
    oldest n, `limit=-n` the newest n. `expand=True` adds one column per payload
    key; `payload=False` leaves payloads undecoded (faster for large answers).
    Queries the current store unless `store=` is given.
    """
    if limit is not None and (not isinstance(limit, int) or limit == 0):
        raise ValueError(f"limit must be a non-zero int (negative for the newest events), got {limit!r}")
    snap = resolve_store(store).snapshot()
    wanted = {"kind": kind, "component": component, "run_id": run_id, "task": task, "correlation_id": correlation_id}
    filters = {name: codes_for(snap.table(name), value) for name, value in wanted.items() if value is not None}
    picks = select(snap, filters, to_ns(since), to_ns(until), limit=limit, keep=payload_filter(where))
    return frame(snap, picks, payload=payload, expand=expand)


def spans(
    kind: KeyFilter = None,
    component: KeyFilter = None,
    run_id: KeyFilter = None,
    task: KeyFilter = None,
    since: Moment = None,
    until: Moment = None,
    *,
    store: EventStore | None = None,
    payload: bool = False,
) -> pd.DataFrame:
    """One row per span that started in [since, until], indexed by `span_id`, in start order.

    Columns: `parent_id`, `kind` (the start event's kind) and `end_kind`,
    `component`, `run_id`, `task`, `correlation_id`, `start` / `end` (epoch ns;
    `end` is missing while a span is open) and `start_time` / `end_time`,
    `duration_ms`, `status` ("ok", "error", "cancelled", or "open"), `error`,
    `depth` (0 for a span with no parent), and `lane` (a small int per
    component, in order of first appearance: a y axis for timelines). With
    `payload=True`, `start_payload` and `end_payload` too. `kind="program"`
    also matches "program.start".
    """
    import numpy as np
    import pandas as pd

    from dspex_lab.trace.spantable import depths, span_table

    snap = resolve_store(store).snapshot()
    tables = snap.tables
    table = span_table(snap)
    since_ns, until_ns = to_ns(since), to_ns(until)
    keep = np.ones(len(table.ids), dtype=bool)
    if since_ns is not None:
        keep &= table.start_ts >= since_ns
    if until_ns is not None:
        keep &= table.start_ts <= until_ns
    for name, value in (("component", component), ("run_id", run_id), ("task", task)):
        codes = codes_for(snap.table(name), value)
        if codes is not None:
            keep &= np.isin(table.columns[name], codes)
    if kind is not None:
        wanted = [kind] if isinstance(kind, str) else list(kind)
        kinds = codes_for(snap.table("kind"), [*wanted, *(span_start_kind(item) for item in wanted)])
        if kinds is not None:
            keep &= np.isin(table.columns["kind"], kinds)
    rows = np.flatnonzero(keep)
    rows = rows[np.argsort(table.start_seq[rows], kind="stable")]
    start_seq = table.start_seq[rows]
    end_seq = table.end_seq[rows]
    has_end = end_seq >= 0
    end_ts = np.where(has_end, gather(snap, np.where(has_end, end_seq, start_seq), "ts"), 0)
    end_kind = np.where(has_end, gather(snap, np.where(has_end, end_seq, start_seq), "kind"), -1).astype(np.int32)
    end_payloads = gather_payloads(snap, end_seq[has_end])
    status = np.full(len(rows), "open", dtype=object)
    error = np.full(len(rows), None, dtype=object)
    reported = np.full(len(rows), np.nan)
    ended = np.flatnonzero(has_end)
    for position, body in zip(ended.tolist(), end_payloads, strict=True):
        end = SpanEnd.of(body)
        status[position] = end.status
        error[position] = end.error
        if isinstance(end.duration_ms, int | float):
            reported[position] = end.duration_ms
    start_ts = table.start_ts[rows]
    measured = np.where(has_end, (end_ts - start_ts) / 1e6, np.nan)
    components = table.columns["component"][rows]
    _, first_seen = np.unique(components, return_index=True)
    lane_of = {int(components[i]): lane for lane, i in enumerate(sorted(first_seen.tolist()))}
    index = pd.Index(table.ids[rows], name="span_id")
    data: dict[str, Any] = {
        "parent_id": nullable_ids(table.parent[rows]),
        "kind": categorical(table.columns["kind"][rows], tables["kind"]),
        "end_kind": categorical(end_kind, tables["kind"]),
        "component": categorical(components, tables["component"]),
        "run_id": categorical(table.columns["run_id"][rows], tables["run_id"]),
        "task": categorical(table.columns["task"][rows], tables["task"]),
        "correlation_id": objects(tables["correlation_id"].objects()[table.columns["correlation_id"][rows]], index),
        "start": start_ts,
        "end": pd.arrays.IntegerArray(end_ts.astype(np.int64), ~has_end),
        "start_time": datetimes(start_ts),
        "end_time": datetimes(np.where(has_end, end_ts, 0)).where(has_end),
        "duration_ms": np.where(np.isnan(reported), measured, reported),
        "status": objects(status, index),
        "error": objects(error, index),
        "depth": depths(table)[rows],
        "lane": np.array([lane_of[int(code)] for code in components.tolist()], dtype=np.int32),
    }
    if payload:
        starts = np.empty(len(rows), dtype=object)
        starts[:] = gather_payloads(snap, start_seq)
        ends = np.full(len(rows), None, dtype=object)
        for position, body in zip(ended.tolist(), end_payloads, strict=True):
            ends[position] = body
        data["start_payload"] = objects(starts, index)
        data["end_payload"] = objects(ends, index)
    return pd.DataFrame(data, index=index)
