"""Chunks: columns converted on first use, strings coded store-wide, payloads packed."""

from __future__ import annotations

import threading

import numpy as np

from dspex_lab.trace.chunk import Chunk, Packed, Table
from dspex_lab.trace.payload import freeze


def new_tables():
    return {name: Table() for name in ("kind", "run_id", "component", "task", "correlation_id")}


def make_chunk(ts, *, floor=0, tables=None, payload=None):
    n = len(ts)
    columns = {
        "ts": list(ts),
        "kind": ["a", "b"] * (n // 2) + ["a"] * (n % 2),
        "run_id": [None] * n,
        "span_id": list(range(n)),
        "parent_id": [0] * n,
        "component": ["c"] * n,
        "task": ["t"] * n,
        "correlation_id": [None] * n,
    }
    tables = tables if tables is not None else new_tables()
    stored = payload if payload is not None else [freeze({"i": i})[0] for i in range(n)]
    return Chunk(10, columns, stored, floor=floor, tables=tables, lock=threading.Lock())


def test_timestamps_become_non_decreasing_and_never_earlier_than_the_floor():
    chunk = make_chunk([5, 3, 9, 8], floor=4)
    assert chunk.column("ts").tolist() == [5, 5, 9, 9]
    assert (chunk.first_ts, chunk.last_ts, chunk.end) == (5, 9, 14)
    assert chunk.values("ts") == [5, 5, 9, 9]


def test_strings_are_coded_against_tables_shared_by_chunks():
    tables = new_tables()
    first, second = make_chunk([1, 2, 3], tables=tables), make_chunk([4, 5], tables=tables)
    code = tables["kind"].code
    assert first.column("kind").tolist() == [code("a"), code("b"), code("a")]
    assert second.column("kind").tolist() == [code("a"), code("b")]
    assert sorted(tables["kind"].values) == ["a", "b"]
    assert first.column("run_id").tolist() == [-1, -1, -1]
    assert first.values("kind") == ["a", "b", "a"]
    assert first.values("run_id") == [None, None, None]


def test_positions_come_from_the_index_in_order_within_a_range():
    chunk = make_chunk([1, 2, 3, 4, 5, 6])
    chunk.column("kind")  # codes exist once the column is coded (a snapshot's table() does this for queries)
    code_a = np.array([chunk._tables["kind"].code("a")], dtype=np.int32)
    assert chunk.positions("kind", code_a, 0, 6).tolist() == [0, 2, 4]
    assert chunk.positions("kind", code_a, 1, 4).tolist() == [2]
    assert chunk.count("kind", code_a) == 3
    assert chunk.positions("kind", np.array([99], dtype=np.int32), 0, 6).tolist() == []
    assert chunk.row_range(2, 4) == (1, 4)


def test_payloads_are_packed_on_first_query_and_read_back_the_same():
    chunk = make_chunk([1, 2, 3], payload=[freeze({"i": 0})[0], None, freeze({"i": 2})[0]])
    before = chunk.decoded([0, 1, 2])
    chunk.column("ts")
    assert isinstance(chunk._payload, Packed)
    assert chunk.decoded([0, 1, 2]) == before == [{"i": 0}, None, {"i": 2}]
    assert chunk.stored(1) is None
    assert bytes(chunk.stored(2)) == freeze({"i": 2})[0]


def test_payloads_read_from_a_file_stay_as_json_text():
    chunk = make_chunk([1, 2], payload=['{"i": 0}', None])
    chunk.column("ts")
    assert chunk.decoded([0, 1]) == [{"i": 0}, None]
    assert chunk.stored(0) == '{"i": 0}'


def test_memo_keeps_derived_values_with_the_chunk():
    chunk = make_chunk([1])
    chunk.memo("k")["x"] = 1
    assert chunk.memo("k") == {"x": 1}
