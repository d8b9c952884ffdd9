"""Traces on disk: Parquet save/load, the SQLite sink, and surviving a killed process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from dspex_lab.testing.kinds import ev, opens
from dspex_lab.trace import events, payload
from dspex_lab.trace.flow import get_message_flow
from dspex_lab.trace.persist import SQLiteSink, load, save
from dspex_lab.trace.query import get_events
from dspex_lab.trace.query import spans as get_spans
from dspex_lab.trace.store import EventStore

SECRET = "sk-persist-secret-987654321"


def record_some(store):
    """A small trace: a run with a program span, an LM exchange, a failure and a unicode payload."""
    with events.use_store(store):
        with events.run("r1"):
            with events.span(opens("program", {"inputs": {"question": "¿qué?"}}), "qa"):
                with events.span(
                    opens("lm.request", {"messages": [{"role": "user", "content": "hi"}]}, end="lm.response"),
                    "lm:x/y",
                    correlation_id="x#1",
                ) as call:
                    call.set(text="hello", prompt_tokens=3)
                events.emit(ev("adapter.parse", {"fields": {"answer": "hello"}}), "qa")
            with pytest.raises(ValueError, match="bad"), events.span(opens("program"), "qa"):
                raise ValueError("bad")
        events.emit(ev("outside", None), "nobody")


def comparable(store):
    return [{**record, "payload": record["payload"]} for record in store.records()]


def test_a_saved_trace_loads_back_event_for_event(tmp_path):
    store = EventStore(chunk_events=3)
    record_some(store)
    path = save(tmp_path / "trace.parquet", store=store)
    loaded = load(path)

    assert comparable(loaded) == comparable(store)
    assert loaded.uid == store.uid
    assert get_message_flow("qa", "lm:x/y", store=loaded)["text"].tolist() == ["hello"]
    assert get_spans(store=loaded)["status"].tolist() == ["ok", "ok", "error"]


def test_loading_keeps_new_span_ids_clear_of_the_loaded_ones(tmp_path):
    store = EventStore()
    record_some(store)
    highest = max(r["span_id"] or 0 for r in store.records())
    load(save(tmp_path / "t.parquet", store=store))
    assert events.new_id() > highest


def test_a_trace_can_be_loaded_into_a_bounded_store(tmp_path):
    store = EventStore()
    record_some(store)
    loaded = load(save(tmp_path / "t.parquet", store=store), max_events=2)
    assert [(r["kind"], r["run_id"]) for r in loaded.records()] == [("program.end", "r1"), ("outside", None)]


def test_the_current_store_is_saved_by_default(tmp_path, trace_store):
    events.emit(ev("x", {"n": 1}), "y")
    assert [r["kind"] for r in load(save(tmp_path / "t.parquet")).records()] == ["x"]


def test_files_that_are_not_traces_are_refused_with_the_reason(tmp_path):
    with pytest.raises(FileNotFoundError, match="no trace file"):
        load(tmp_path / "missing.parquet")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ValueError, match="neither a Parquet trace"):
        load(text)
    import pyarrow as pa
    import pyarrow.parquet as pq

    other = tmp_path / "other.parquet"
    pq.write_table(pa.table({"a": [1]}), other)
    with pytest.raises(ValueError, match="not a dspex_lab trace"):
        load(other)


def test_parquet_pages_carry_checksums_and_a_flipped_byte_is_reported(tmp_path):
    import pyarrow.parquet as pq

    store = EventStore()
    with events.use_store(store):
        for number in range(200):
            events.emit(ev("step", {"text": f"payload number {number} " * 4}), "qa")
    path = save(tmp_path / "trace.parquet", store=store)
    original = path.read_bytes()
    expected = pq.read_table(path)
    damaged = tmp_path / "damaged.parquet"
    metadata = pq.ParquetFile(path).metadata
    chunks = [metadata.row_group(0).column(i) for i in range(metadata.num_columns)]
    starts = [chunk.dictionary_page_offset or chunk.data_page_offset for chunk in chunks]
    positions = [
        p for start, c in zip(starts, chunks, strict=True) for p in range(start, start + c.total_compressed_size, 3)
    ]
    silent = 0
    for position in positions:  # every page, header and data, of every column
        data = bytearray(original)
        data[position] ^= 0xFF
        damaged.write_bytes(bytes(data))
        try:
            unchecked = pq.read_table(damaged, page_checksum_verification=False)
        except Exception:
            continue  # damage the format itself notices
        if unchecked.equals(expected):
            continue
        silent += 1  # without checksums this flip would load as other events
        with pytest.raises(ValueError, match=r"the trace file .*damaged\.parquet is damaged: .*load an earlier copy"):
            load(damaged)
    assert silent > 100


@pytest.mark.parametrize(
    ("column", "value", "complaint"),
    [
        ("payload", "'{not json'", r"row id=2 has a payload that is not JSON"),
        ("ts", "NULL", r"row id=2 has None in column ts"),
        ("kind", "NULL", r"row id=2 has None in column kind"),
        ("span_id", "x'ff'", r"row id=2 has b'\\xff' in column span_id"),
    ],
)
def test_a_damaged_sqlite_trace_row_is_named(tmp_path, column, value, complaint):
    import sqlite3

    store = EventStore()
    record_some(store)
    path = tmp_path / "trace.sqlite3"
    with SQLiteSink(path, store=store):
        pass
    with sqlite3.connect(path) as conn:
        # The same table without its NOT NULL constraints, as a damaged or hand-edited file may be.
        conn.execute("CREATE TABLE events2 AS SELECT * FROM events")
        conn.execute("DROP TABLE events")
        conn.execute("ALTER TABLE events2 RENAME TO events")
        conn.execute(f"UPDATE events SET {column} = {value} WHERE id = 2")
    with pytest.raises(ValueError, match=rf"trace file .* is damaged: events {complaint}"):
        load(path)


def test_the_sqlite_sink_writes_past_and_new_events(tmp_path):
    store = EventStore()
    events_before = 3
    with events.use_store(store):
        for i in range(events_before):
            events.emit(ev("before", {"i": i}), "c")
        with SQLiteSink(tmp_path / "trace.db", store, flush_interval=60) as sink:
            record_some(store)
            assert sink.flush() == len(store)
            assert sink.flush() == 0
            events.emit(ev("late"), "c")
    assert sink.flushed == len(store)
    assert comparable(load(tmp_path / "trace.db")) == comparable(store)


def test_the_sink_counts_events_a_bounded_store_dropped_before_it_could_write_them(tmp_path):
    store = EventStore(max_events=4, chunk_events=1)
    sink = SQLiteSink(tmp_path / "trace.db", store, flush_interval=60)
    with events.use_store(store):
        for i in range(10):
            events.emit(ev("e", {"i": i}), "c")
    sink.close()
    assert (sink.lost, sink.flushed) == (6, 4)
    assert [r["payload"]["i"] for r in load(tmp_path / "trace.db").records()] == [6, 7, 8, 9]


def test_a_bad_flush_interval_is_refused(tmp_path):
    with pytest.raises(ValueError, match="flush_interval"):
        SQLiteSink(tmp_path / "t.db", EventStore(), flush_interval=0)


CHILD = textwrap.dedent(
    """
    import sys
    from dspex_lab import trace
    from dspex_lab.trace import events, schema

    store = trace.enable(max_events=None)
    sink = trace.SQLiteSink(sys.argv[1], flush_interval=0.05)
    with events.run(sys.argv[2]):
        for i in range(200):
            with events.span(schema.ProgramStart(module="Child", inputs={"i": i}), "child"):
                pass
        assert sink.wait_flushed(400, timeout=60), "the background flush did not happen"
        print("flushed", sink.flushed, flush=True)
        for i in range(200, 300):
            with events.span(schema.ProgramStart(module="Child", inputs={"i": i}), "child"):
                pass
    print("waiting", flush=True)
    sys.stdin.read()
    """
)


def run_child(path, run_id):
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), run_id],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_process_killed_while_tracing_leaves_its_flushed_events_loadable(tmp_path):
    path = tmp_path / "trace.db"
    child = run_child(path, "killed")
    try:
        first = child.stdout.readline().split()
        assert first[0] == "flushed", child.stderr.read()
        assert child.stdout.readline().strip() == "waiting"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL

    loaded = load(path)
    spans = get_spans(store=loaded)
    assert len(loaded) >= int(first[1]) >= 400
    assert set(get_events(payload=False, store=loaded)["run_id"]) == {"killed"}
    started = [row["inputs"]["i"] for row in get_events(kind="program.start", store=loaded)["payload"]]
    assert started == list(range(len(started))), "a prefix of the events, in order, with nothing torn"
    assert (spans["status"].iloc[:200] == "ok").all()


def test_two_processes_writing_one_file_load_without_mixing_their_ids(tmp_path):
    path = tmp_path / "trace.db"
    for run_id in ("first", "second"):
        child = run_child(path, run_id)
        assert child.stdout.readline().startswith("flushed"), child.stderr.read()
        child.communicate("")
        assert child.returncode == 0

    loaded = load(path)
    spans = get_spans(store=loaded)
    assert len(spans) == 600
    assert spans.index.is_unique
    assert (spans["status"] == "ok").all()
    assert spans.groupby("run_id", observed=True).size().to_dict() == {"first": 300, "second": 300}


def test_secrets_never_reach_trace_files(tmp_path, monkeypatch):
    monkeypatch.setattr(payload, "_secrets", payload._secrets)
    monkeypatch.setattr(payload, "_secret_bytes", payload._secret_bytes)
    payload.register_secret(SECRET)
    store = EventStore()
    with events.use_store(store):
        sink = SQLiteSink(tmp_path / "trace.db", store, flush_interval=60)
        events.emit(ev("lm.response", {"error": f"401 for key {SECRET}", "params": {"api_key": "other"}}), "lm:x/y")
        sink.close()
    save(tmp_path / "trace.parquet", store=store)
    for name in ("trace.db", "trace.parquet"):
        data = b"".join(p.read_bytes() for p in tmp_path.glob(name + "*"))
        assert SECRET.encode() not in data
        assert b"other" not in data


def rewrite_parquet_meta(path, change):
    import json

    import pyarrow.parquet as pq

    table = pq.read_table(path)
    meta = json.loads(table.schema.metadata[b"dspex_lab.trace"])
    change(meta)
    pq.write_table(table.replace_schema_metadata({"dspex_lab.trace": json.dumps(meta)}), path)


def test_a_parquet_trace_saved_before_schema_versions_loads_as_version_1(tmp_path):
    store = EventStore()
    record_some(store)
    path = save(tmp_path / "old.parquet", store=store)
    rewrite_parquet_meta(path, lambda meta: meta.pop("schema_version"))

    assert load(path).records() == store.records()


def test_a_trace_from_a_newer_schema_is_refused_with_the_fix(tmp_path):
    store = EventStore()
    record_some(store)
    path = save(tmp_path / "new.parquet", store=store)
    rewrite_parquet_meta(path, lambda meta: meta.update(schema_version=99))

    with pytest.raises(ValueError, match=r"schema version 99.*upgrade dspex_lab"):
        load(path)


def test_a_sqlite_trace_records_its_schema_version_and_one_without_loads(tmp_path):
    import sqlite3

    store = EventStore()
    record_some(store)
    with SQLiteSink(tmp_path / "t.db", store=store):
        pass
    conn = sqlite3.connect(tmp_path / "t.db")
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("1",)
    with conn:
        conn.execute("DELETE FROM meta WHERE key = 'schema_version'")
    conn.close()

    assert len(load(tmp_path / "t.db")) == len(store)
