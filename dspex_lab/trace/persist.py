"""Traces on disk: Parquet files written on demand, and a SQLite file kept up to date as events arrive.

`save(path)` writes a store's events to Parquet (strings dictionary-encoded,
payloads as JSON text); `load(path)` reads a Parquet file or a SQLite trace
back into a new `EventStore`, so yesterday's kernel's trace opens today.

`SQLiteSink(path)` follows a store: a background thread appends the events
that arrived since its last flush every `flush_interval` seconds (1 s by
default) in one transaction, in WAL mode. A process killed outright loses at
most the events of the last interval; everything committed before stays
readable. Several processes may use one file in turn: `load` keeps their
span and correlation ids apart.

Both record the event schema version (`schema.SCHEMA_VERSION`); a file
without one was written before versions were recorded and reads as version 1.
"""

from __future__ import annotations

import atexit
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dspex_lab.sqlite import connect
from dspex_lab.trace.chunk import CODED
from dspex_lab.trace.events import reserve_ids
from dspex_lab.trace.payload import to_json
from dspex_lab.trace.schema import FIELDS, SCHEMA_VERSION, check_version
from dspex_lab.trace.store import EventStore

if TYPE_CHECKING:
    import pyarrow as pa

FORMAT = "dspex_lab.trace"
VERSION = 1
_PARQUET_MAGIC = b"PAR1"
_SQLITE_MAGIC = b"SQLite format 3\x00"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    store TEXT NOT NULL,
    seq INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    kind TEXT NOT NULL,
    run_id TEXT,
    span_id INTEGER,
    parent_id INTEGER,
    component TEXT NOT NULL,
    task TEXT NOT NULL,
    correlation_id TEXT,
    payload TEXT
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


# --- Parquet -------------------------------------------------------------------------------------
def save(path: str | Path, store: EventStore | None = None) -> Path:
    """Write every retained event of `store` (default: the current one) to a Parquet file."""
    import pyarrow.parquet as pq

    from dspex_lab.trace.query import resolve_store

    source = resolve_store(store)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    table = _arrow_table(source)
    tmp = target.with_name(target.name + ".tmp")
    # Page checksums: a flipped byte on disk is reported on load, never read as other events.
    pq.write_table(table, tmp, compression="zstd", write_page_checksum=True)
    tmp.replace(target)
    return target


def _arrow_table(store: EventStore) -> pa.Table:
    import numpy as np
    import pyarrow as pa

    snap = store.snapshot()
    parts: dict[str, list[Any]] = {name: [] for name in ("seq", "ts", "span_id", "parent_id", *CODED)}
    payloads: list[str | None] = []
    for chunk in snap.chunks:
        lo, hi = snap.visible(chunk)
        if hi <= lo:
            continue
        parts["seq"].append(np.arange(chunk.start + lo, chunk.start + hi, dtype=np.int64))
        for name in ("ts", "span_id", "parent_id", *CODED):
            parts[name].append(chunk.column(name)[lo:hi])
        payloads.extend(to_json(chunk.stored(i)) for i in range(lo, hi))

    def joined(name: str, dtype: Any) -> np.ndarray:
        return np.concatenate(parts[name]) if parts[name] else np.empty(0, dtype=dtype)

    columns: dict[str, pa.Array] = {
        "seq": pa.array(joined("seq", np.int64)),
        "ts": pa.array(joined("ts", np.int64)),
    }
    for name in ("span_id", "parent_id"):
        values = joined(name, np.int64)
        columns[name] = pa.array(values, mask=values == 0)
    for name in CODED:
        codes = joined(name, np.int32)
        dictionary = pa.array(snap.tables[name].values, type=pa.string())
        columns[name] = pa.DictionaryArray.from_arrays(pa.array(codes, mask=codes < 0), dictionary)
    columns["payload"] = pa.array(payloads, type=pa.string())
    meta = {
        "version": VERSION,
        "schema_version": SCHEMA_VERSION,
        "store": store.uid,
        "dropped": store.dropped,
        "saved_at_ns": time.time_ns(),
    }
    order = ["seq", "ts", "kind", "run_id", "span_id", "parent_id", "component", "task", "correlation_id", "payload"]
    table = pa.table({name: columns[name] for name in order})
    return table.replace_schema_metadata({FORMAT: json.dumps(meta)})


def load(path: str | Path, *, max_events: int | None = None) -> EventStore:
    """A new store holding the events of a Parquet file (from `save`) or a SQLite trace (from `SQLiteSink`)."""
    source = Path(path)
    try:
        with source.open("rb") as handle:
            magic = handle.read(16)
    except FileNotFoundError:
        raise FileNotFoundError(f"no trace file at {source}") from None
    if magic.startswith(_PARQUET_MAGIC):
        columns, uid = _read_parquet(source)
    elif magic.startswith(_SQLITE_MAGIC):
        columns, uid = _read_sqlite(source)
    else:
        raise ValueError(
            f"{source} is neither a Parquet trace (dx.trace.save) nor a SQLite trace (dx.trace.SQLiteSink)"
        )
    store = EventStore(max_events=max_events)
    if uid:
        store.uid = uid
    store._extend_columns(columns)
    highest = max((value or 0 for value in columns["span_id"]), default=0)
    # Spans made in this process after loading must not reuse the loaded ids.
    reserve_ids(highest)
    return store


def _damaged(source: Path, detail: str) -> ValueError:
    return ValueError(
        f"the trace file {source} is damaged: {detail}. It cannot be read as it is; load an earlier "
        "copy, or save the trace again from the kernel that recorded it"
    )


def _read_parquet(source: Path) -> tuple[dict[str, list[Any]], str | None]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(source, page_checksum_verification=True)
    except (pa.ArrowException, OSError) as exc:
        raise _damaged(source, f"{type(exc).__name__}: {exc}") from None
    meta = (table.schema.metadata or {}).get(FORMAT.encode())
    if meta is None:
        raise ValueError(f"{source} is a Parquet file but not a dspex_lab trace (no '{FORMAT}' metadata)")
    try:
        info = json.loads(meta)
    except ValueError as exc:
        raise _damaged(source, f"its '{FORMAT}' metadata is not JSON ({exc})") from None
    missing = [name for name in (*FIELDS, "seq") if name not in table.column_names]
    if missing:
        raise _damaged(source, f"columns {missing} are missing")
    if info.get("version") != VERSION:
        raise ValueError(f"{source} holds trace format version {info.get('version')}; this dspex_lab reads {VERSION}")
    check_version(info.get("schema_version"), str(source))
    table = table.sort_by([("ts", "ascending"), ("seq", "ascending")])
    columns = {name: table.column(name).to_pylist() for name in FIELDS}
    return columns, info.get("store")


def _read_sqlite(source: Path) -> tuple[dict[str, list[Any]], str | None]:
    conn = sqlite3.connect(f"file:{source}?mode=rw", uri=True)
    try:
        try:
            rows = conn.execute(
                "SELECT store, ts, kind, run_id, span_id, parent_id, component, task, correlation_id, payload, id "
                "FROM events ORDER BY ts, id"
            ).fetchall()
            found = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise ValueError(f"{source} is a SQLite file but not a dspex_lab trace ({exc})") from None
        check_version(json.loads(found[0]) if found else None, str(source))
    finally:
        conn.close()
    for row in rows:
        _check_row(source, row)
    rows = [row[:10] for row in rows]
    stores = list(dict.fromkeys(row[0] for row in rows))
    offsets = _id_offsets(rows, stores)
    columns: dict[str, list[Any]] = {name: [] for name in FIELDS}
    several = len(stores) > 1
    for store, ts, kind, run_id, span_id, parent_id, component, task, correlation_id, payload in rows:
        shift = offsets[store]
        columns["ts"].append(ts)
        columns["kind"].append(kind)
        columns["run_id"].append(run_id)
        columns["span_id"].append(span_id + shift if span_id else None)
        columns["parent_id"].append(parent_id + shift if parent_id else None)
        columns["component"].append(component)
        columns["task"].append(task)
        columns["correlation_id"].append(
            f"{store}:{correlation_id}" if several and correlation_id is not None else correlation_id
        )
        columns["payload"].append(payload)
    return columns, stores[0] if len(stores) == 1 else None


_ROW_TYPES = (
    ("store", (str,), False),
    ("ts", (int,), False),
    ("kind", (str,), False),
    ("run_id", (str,), True),
    ("span_id", (int,), True),
    ("parent_id", (int,), True),
    ("component", (str,), False),
    ("task", (str,), False),
    ("correlation_id", (str,), True),
    ("payload", (str,), True),
)


def _check_row(source: Path, row: tuple[Any, ...]) -> None:
    """A ValueError naming the row and column of a SQLite trace row that cannot be an event."""
    for (name, kinds, nullable), value in zip(_ROW_TYPES, row, strict=False):
        if value is None and nullable:
            continue
        if not isinstance(value, kinds) or isinstance(value, bool):
            raise _damaged(source, f"events row id={row[10]} has {value!r:.60} in column {name}")
    payload = row[9]
    if payload is not None:
        try:
            json.loads(payload)
        except ValueError as exc:
            raise _damaged(source, f"events row id={row[10]} has a payload that is not JSON ({exc})") from None


def _id_offsets(rows: list[tuple[Any, ...]], stores: list[str]) -> dict[str, int]:
    """Per store, an amount added to its span ids so ids of different processes never meet."""
    highest: dict[str, int] = dict.fromkeys(stores, 0)
    for row in rows:
        for value in (row[4], row[5]):
            if value and value > highest[row[0]]:
                highest[row[0]] = value
    offsets, total = {}, 0
    for store in stores:
        offsets[store] = total
        total += highest[store]
    return offsets


# --- SQLite sink ------------------------------------------------------------------------------------
class SQLiteSink:
    """Keeps a SQLite file up to date with a store's events (see the module docstring).

    Starts at once; events already in the store are written too. `flush()`
    writes now; `close()` (or leaving a `with` block, or the interpreter
    exiting) writes the rest and stops. `flushed` is the number of events
    written so far; `lost` counts events a bounded store dropped before the
    sink could write them.
    """

    def __init__(self, path: str | Path, store: EventStore | None = None, *, flush_interval: float = 1.0) -> None:
        from dspex_lab.trace.query import resolve_store

        if not flush_interval > 0:
            raise ValueError(f"flush_interval must be a positive number of seconds, got {flush_interval!r}")
        self.path = Path(path)
        self.store = resolve_store(store)
        self.flush_interval = flush_interval
        self.flushed = 0
        self.lost = 0
        self._next = self.store.dropped
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn: sqlite3.Connection | None = connect(self.path, _SCHEMA, check_same_thread=False)
        self._conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('format', ?)", (json.dumps([FORMAT, VERSION]),)
        )
        self._conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (json.dumps(SCHEMA_VERSION),)
        )
        self._write_lock = threading.Lock()
        self._flushed_cond = threading.Condition()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"dspex-trace-sink:{self.path.name}", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def __repr__(self) -> str:
        return f"<SQLiteSink {str(self.path)!r}, {self.flushed:,} events written, every {self.flush_interval} s>"

    def __enter__(self) -> SQLiteSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        while not self._stop.wait(self.flush_interval):
            try:
                self.flush()
            except Exception as exc:
                # Keep the first failure for close() to report; keep trying (the disk may come back).
                self._error = self._error or exc

    def flush(self) -> int:
        """Write every event that arrived since the last flush; returns how many were written."""
        with self._write_lock:
            if self._conn is None:
                return 0
            first = self.store.dropped
            if self._next < first:
                self.lost += first - self._next
                self._next = first
            uid = self.store.uid
            written = [0, self._next]

            def batch() -> Any:
                for row in self.store.rows(self._next):
                    written[0] += 1
                    written[1] = row[0] + 1
                    yield (uid, *row[:9], to_json(row[9]))

            with self._conn:
                self._conn.executemany(
                    "INSERT INTO events (store, seq, ts, kind, run_id, span_id, parent_id, component, task, "
                    "correlation_id, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    batch(),
                )
            self._next = written[1]
            with self._flushed_cond:
                self.flushed += written[0]
                self._flushed_cond.notify_all()
            return written[0]

    def wait_flushed(self, count: int, timeout: float | None = None) -> bool:
        """Block until at least `count` events are written by the background thread (or `timeout`)."""
        with self._flushed_cond:
            return self._flushed_cond.wait_for(lambda: self.flushed >= count, timeout)

    def close(self) -> None:
        """Write what is left and stop; safe to call more than once."""
        if self._conn is None:
            return
        self._stop.set()
        if threading.current_thread() is not self._thread:
            self._thread.join()
        self.flush()
        with self._write_lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()
        atexit.unregister(self.close)
        if self._error is not None:
            raise RuntimeError(f"writing the trace to {self.path} failed: {self._error}") from self._error
