"""The event store: appends, sealing into chunks, bounds, snapshots and concurrent writers."""

from __future__ import annotations

import threading

import pytest

from dspex_lab.testing.kinds import ev, opens
from dspex_lab.trace import events
from dspex_lab.trace.query import get_events
from dspex_lab.trace.query import spans as get_spans
from dspex_lab.trace.schema import Event
from dspex_lab.trace.store import EventStore


def add(store, n, *, start_ts=1_000, kind="k", component="c"):
    for i in range(n):
        store.append(Event(start_ts + i, kind, None, None, None, component, "t", None, {"i": i}))


def test_events_come_back_in_order_across_chunk_boundaries():
    store = EventStore(chunk_events=4)
    add(store, 10)

    assert len(store) == 10
    assert [r["payload"]["i"] for r in store.records()] == list(range(10))
    assert [c.n for c in store.snapshot().chunks] == [4, 4, 2]


def test_a_bounded_store_keeps_the_newest_and_counts_what_it_dropped():
    store = EventStore(max_events=5, chunk_events=2)
    add(store, 12)

    assert len(store) == 5
    assert store.dropped == 7
    assert store.appended == 12
    assert [r["payload"]["i"] for r in store.records()] == [7, 8, 9, 10, 11]
    assert [row[0] for row in store.rows()] == [7, 8, 9, 10, 11]
    # Whole chunks older than the bound are freed; a partly hidden one stays until it is all old.
    assert sum(c.n for c in store.snapshot().chunks) <= 5 + 2


def test_an_unbounded_store_never_drops():
    store = EventStore(chunk_events=3)
    add(store, 100)
    assert (len(store), store.dropped) == (100, 0)


def test_timestamps_never_decrease_inside_a_store():
    store = EventStore()
    for ts in (100, 90, 120, 110, 130):
        store.append(Event(ts, "k", None, None, None, "c", "t", None, None))
    assert [r["ts"] for r in store.records()] == [100, 100, 120, 120, 130]


def test_rows_reads_from_a_sequence_number():
    store = EventStore(chunk_events=3)
    add(store, 8)
    assert [row[0] for row in store.rows(5)] == [5, 6, 7]
    assert [row[9] is not None for row in store.rows(7)] == [True]


def test_a_snapshot_is_unaffected_by_later_appends():
    store = EventStore(chunk_events=4)
    add(store, 6)
    snap = store.snapshot()
    add(store, 6, start_ts=5_000)

    assert (snap.first, snap.end, len(snap)) == (0, 6, 6)
    assert sum(c.n for c in snap.chunks) == 6
    assert store.snapshot().end == 12


def test_a_snapshot_is_reused_while_the_store_is_unchanged():
    store = EventStore()
    add(store, 3)
    assert store.snapshot() is store.snapshot()


def test_concurrent_writers_lose_nothing_and_keep_their_own_order():
    store = EventStore(chunk_events=64)
    barrier = threading.Barrier(4)

    def write(worker):
        barrier.wait()
        with events.use_store(store):
            for i in range(500):
                events.emit(ev("w", {"i": i}), f"worker{worker}")

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    records = store.records()
    assert len(records) == 2000
    for worker in range(4):
        mine = [r["payload"]["i"] for r in records if r["component"] == f"worker{worker}"]
        assert mine == list(range(500))
    stamps = [r["ts"] for r in records]
    assert stamps == sorted(stamps)


def test_extend_adds_many_events_oldest_first():
    store = EventStore(chunk_events=2)
    store.extend(
        [
            Event(5, "a", None, None, None, "x", "t", None, {"a": 1}),
            Event(6, "b", "r", 3, None, "y", "t", None, '{"b": 2}'),  # type: ignore[arg-type]
            Event(7, "c", "r", 3, 9, "z", "t", "k", None),
        ]
    )
    records = store.records()
    assert [(r["kind"], r["span_id"], r["parent_id"], r["payload"]) for r in records] == [
        ("a", None, None, {"a": 1}),
        ("b", 3, None, {"b": 2}),
        ("c", 3, 9, None),
    ]


def test_loading_columns_checks_they_are_all_as_long():
    store = EventStore()
    with pytest.raises(ValueError, match="payload"):
        store._extend_columns({"ts": [1], "kind": ["a"], "run_id": [None], "span_id": [None], "parent_id": [None],
                               "component": ["x"], "task": ["t"], "correlation_id": [None], "payload": []})  # fmt: skip


def test_clear_forgets_everything():
    store = EventStore(chunk_events=2)
    add(store, 5)
    store.clear()
    assert (len(store), store.records()) == (0, [])
    add(store, 1)
    assert len(store) == 1


def test_a_payload_that_is_not_a_dict_is_refused_with_a_clear_error():
    store = EventStore()
    with pytest.raises(TypeError, match="payload must be a dict"):
        store.append(Event(1, "k", None, None, None, "c", "t", None, ["not", "a", "dict"]))


@pytest.mark.parametrize("bad", [0, -3, 2.5, "10"])
def test_a_bad_bound_is_refused(bad):
    with pytest.raises(ValueError, match="max_events"):
        EventStore(max_events=bad)


def test_the_repr_says_size_and_bound():
    store = EventStore(max_events=3)
    add(store, 5)
    assert repr(store) == "<EventStore 3 events, max_events=3, 2 dropped>"


def test_queries_while_writers_append_see_whole_events_and_lose_none():
    store = EventStore(chunk_events=50)
    stop = threading.Event()
    failures = []
    seen_sizes = []

    def write(worker):
        with events.use_store(store), events.run(f"w{worker}"):
            for i in range(400):
                with events.span(opens("program", {"i": i}), f"worker{worker}"):
                    events.emit(ev("note", {"i": i}), f"worker{worker}")

    def read():
        while not stop.is_set():
            try:
                frame = get_events(component="worker0", store=store)
                assert frame["payload"].map(lambda p: p is not None).all()
                assert frame["seq"].is_monotonic_increasing
                seen_sizes.append(len(get_spans(store=store)))
            except Exception as exc:  # a failed read is the finding, not a crash of the reader
                failures.append(exc)
                return

    reader = threading.Thread(target=read)
    writers = [threading.Thread(target=write, args=(n,)) for n in range(3)]
    reader.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    reader.join()

    assert failures == []
    assert seen_sizes, "the reader ran while the writers wrote"
    assert len(store) == 3 * 400 * 3
    table = get_spans(store=store)
    assert len(table) == 1200
    assert (table["status"] == "ok").all()
    notes = get_events(kind="note", store=store)
    assert notes.groupby("component", observed=True).size().to_dict() == {f"worker{n}": 400 for n in range(3)}
