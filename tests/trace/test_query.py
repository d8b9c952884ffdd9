"""Queries: get_events filters and windows, the trace frame's shape, spans(), and reading times."""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pandas as pd
import pytest

import dspex_lab as dx
from dspex_lab.testing.kinds import ev, opens
from dspex_lab.trace import events
from dspex_lab.trace.query import get_events, spans, to_ns
from dspex_lab.trace.schema import Event
from dspex_lab.trace.store import EventStore

# seq: (ts, kind, component, run, task, span, parent, correlation, payload)
ROWS = [
    (100, "program.start", "qa", "r1", "t1", 1, None, None, {"inputs": {"q": "a"}}),
    (110, "adapter.format", "qa.generate", "r1", "t1", None, 1, None, {"adapter": "chat"}),
    (120, "lm.request", "lm:x/m", "r1", "t1", 2, 1, "c1", {"messages": [{"role": "user", "content": "a"}]}),
    (130, "lm.response", "lm:x/m", "r1", "t1", 2, 1, "c1", {"text": "A", "duration_ms": 0.01, "status": "ok"}),
    (140, "adapter.parse", "qa.generate", "r1", "t1", None, 1, None, {"fields": {"answer": "A"}}),
    (150, "program.end", "qa", "r1", "t1", 1, None, None, {"status": "ok", "duration_ms": 0.05}),
    (200, "evaluate.example", "evaluator", "r2", "t2", None, None, None, {"index": 0, "score": 1.0}),
    (210, "evaluate.example", "evaluator", "r2", "t2", None, None, None, {"index": 1, "score": 0.0}),
    (220, "optimize.round", "opt", "r2", "t3", None, None, None, {"round": 1}),
    (230, "optimize.done", "opt", "r2", "t3", None, None, None, {"best": 0.9}),
]


@pytest.fixture
def store():
    made = EventStore(chunk_events=3)
    for ts, kind, component, run, task, span, parent, corr, body in ROWS:
        made.append(Event(ts, kind, run, span, parent, component, task, corr, body))
    return made


def seqs(frame):
    return frame["seq"].tolist()


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, list(range(10))),
        ({"kind": "evaluate.example"}, [6, 7]),
        ({"kind": "optimize.*"}, [8, 9]),
        ({"kind": ["program.start", "program.end"]}, [0, 5]),
        ({"component": ["qa", "qa.generate"]}, [0, 1, 4, 5]),
        ({"component": "qa.*"}, [1, 4]),
        ({"component": "nobody"}, []),
        ({"run_id": "r1", "kind": "adapter.*"}, [1, 4]),
        ({"task": "t3"}, [8, 9]),
        ({"correlation_id": "c1"}, [2, 3]),
        ({"since": 120, "until": 200}, [2, 3, 4, 5, 6]),
        ({"component": "lm:x/m", "since": 125}, [3]),
        ({"run_id": "r2", "until": 209}, [6]),
        ({"where": lambda p: p.get("score") == 0.0}, [7]),
        ({"where": {"index": 0}}, [6]),
        ({"kind": "evaluate.example", "where": {"index": 5}}, []),
        ({"limit": 3}, [0, 1, 2]),
        ({"limit": -2}, [8, 9]),
        ({"run_id": "r1", "limit": -4}, [2, 3, 4, 5]),
        ({"kind": "evaluate.example", "limit": -1}, [7]),
    ],
)
def test_get_events_answers_match_the_hand_computed_rows(store, filters, expected):
    assert seqs(get_events(store=store, **filters)) == expected


def test_the_trace_frame_is_indexed_by_ts_with_typed_columns(store):
    frame = get_events(store=store, run_id="r1")

    assert frame.index.name == "ts"
    assert frame.index.tolist() == [100, 110, 120, 130, 140, 150]
    assert str(frame["time"].dtype) == "datetime64[ns, UTC]"
    assert frame["time"].iloc[0] == pd.Timestamp(100, unit="ns", tz="UTC")
    for name in ("kind", "component", "run_id", "task"):
        assert isinstance(frame[name].dtype, pd.CategoricalDtype)
    assert str(frame["span_id"].dtype) == "Int64"
    assert frame["span_id"].isna().tolist() == [False, True, False, False, True, False]
    assert frame["parent_id"].tolist()[1] == 1
    assert frame["correlation_id"].isna().tolist() == [True, True, False, False, True, True]
    assert frame["correlation_id"].dropna().tolist() == ["c1", "c1"]
    assert frame["payload"].iloc[3] == {"text": "A", "duration_ms": 0.01, "status": "ok"}


def test_an_empty_answer_has_the_same_columns(store):
    empty = get_events(store=store, kind="nothing")
    full = get_events(store=store)
    assert list(empty.columns) == list(full.columns)
    assert len(empty) == 0


def test_expand_adds_a_column_per_payload_key(store):
    frame = get_events(store=store, kind="evaluate.example", expand=True)
    assert frame["index"].tolist() == [0, 1]
    assert frame["score"].tolist() == [1.0, 0.0]


def test_payload_false_leaves_payloads_out(store):
    assert "payload" not in get_events(store=store, payload=False).columns


def test_the_top_level_functions_query_the_current_store(trace_store):
    with events.run("r9"):
        events.emit(ev("evaluate.example", {"index": 0}), "ev")
    assert dx.get_events(run_id="r9")["component"].tolist() == ["ev"]
    assert get_events(kind="evaluate.example", store=trace_store)["run_id"].tolist() == ["r9"]


def test_queries_with_tracing_off_say_how_to_turn_it_on():
    with events.use_store(None), pytest.raises(RuntimeError, match=r"dx\.trace\.enable\(\)"):
        get_events()


@pytest.mark.parametrize("bad", [0, 2.5])
def test_a_bad_limit_is_refused(store, bad):
    with pytest.raises(ValueError, match="limit"):
        get_events(store=store, limit=bad)


def test_filters_must_be_strings(store):
    with pytest.raises(TypeError, match="a filter takes a string"):
        get_events(store=store, component=3)
    with pytest.raises(TypeError, match="a filter takes strings"):
        get_events(store=store, component=["qa", 3])


# --- times -------------------------------------------------------------------------------------
def test_times_are_read_from_every_common_form():
    epoch_2025 = 1_735_689_600 * 10**9
    assert to_ns(None) is None
    assert to_ns(epoch_2025) == epoch_2025
    assert to_ns(1_735_689_600.5) == epoch_2025 + 500_000_000
    assert to_ns(dt.datetime(2025, 1, 1, tzinfo=dt.UTC)) == epoch_2025
    assert to_ns("2025-01-01T00:00:00+00:00") == epoch_2025
    assert to_ns(pd.Timestamp(epoch_2025 + 7, tz="UTC")) == epoch_2025 + 7
    assert to_ns(np.datetime64("2025-01-01T00:00:00")) == epoch_2025
    assert to_ns(np.int64(epoch_2025)) == epoch_2025
    assert to_ns(np.float64(1_735_689_600.5)) == epoch_2025 + 500_000_000
    local = dt.datetime(2025, 1, 1, 10, 42)
    assert to_ns(local) == int(time.mktime(local.timetuple())) * 10**9
    assert to_ns("2025-01-01 10:42") == to_ns(local)


def test_a_timedelta_means_that_long_ago():
    before = events.now_ns()
    moment = to_ns(dt.timedelta(seconds=10))
    after = events.now_ns()
    assert before - 10 * 10**9 <= moment <= after - 10 * 10**9


def test_an_unreadable_time_says_what_is_accepted():
    with pytest.raises(ValueError, match="ISO 8601"):
        to_ns("yesterday at ten")
    with pytest.raises(TypeError, match="epoch nanoseconds"):
        to_ns([2025])


# --- spans -------------------------------------------------------------------------------------
def test_spans_have_one_row_each_with_status_depth_and_lanes(trace_store):
    with events.span(opens("program"), "qa") as root:
        with (
            events.span(opens("program"), "qa.generate") as inner,
            events.span(opens("lm.request", end="lm.response"), "lm:x/m", correlation_id="c") as call,
        ):
            call.set(text="hi")
        with pytest.raises(KeyError), events.span(opens("program"), "qa.check") as failing:
            raise KeyError("missing")
    table = spans(store=trace_store)

    assert table.index.tolist() == [root.span_id, inner.span_id, call.span_id, failing.span_id]
    assert table["kind"].tolist() == ["program.start", "program.start", "lm.request", "program.start"]
    assert table["end_kind"].tolist() == ["program.end", "program.end", "lm.response", "program.end"]
    assert table["status"].tolist() == ["ok", "ok", "ok", "error"]
    assert table.loc[failing.span_id, "error"] == "KeyError: 'missing'"
    assert table["depth"].tolist() == [0, 1, 2, 1]
    assert table["parent_id"].tolist()[1:] == [root.span_id, inner.span_id, root.span_id]
    assert table["lane"].tolist() == [0, 1, 2, 3]
    assert table.loc[call.span_id, "correlation_id"] == "c"
    assert (table["end"] >= table["start"]).all()
    assert (table["duration_ms"] >= 0).all()
    assert str(table["start_time"].dtype) == "datetime64[ns, UTC]"


def test_an_open_span_shows_as_open_without_an_end(trace_store):
    running = events.span(opens("program"), "qa")
    running.__enter__()
    try:
        table = spans(store=trace_store)
    finally:
        running.__exit__(None, None, None)
    assert table["status"].tolist() == ["open"]
    assert table["end"].isna().tolist() == [True]
    assert table["end_time"].isna().tolist() == [True]
    assert np.isnan(table["duration_ms"].iloc[0])


def test_spans_filter_by_kind_component_and_start_time(store):
    assert spans(store=store, kind="program").index.tolist() == [1]
    assert spans(store=store, kind="lm.request").index.tolist() == [2]
    assert spans(store=store, component="lm:x/m").index.tolist() == [2]
    assert spans(store=store, since=101).index.tolist() == [2]
    assert spans(store=store, until=101).index.tolist() == [1]
    table = spans(store=store, payload=True)
    assert table.loc[1, "start_payload"] == {"inputs": {"q": "a"}}
    assert table.loc[2, "end_payload"]["text"] == "A"
    assert table.loc[1, "duration_ms"] == 0.05


def test_a_span_whose_start_was_dropped_by_the_bound_is_not_reported():
    store = EventStore(max_events=3, chunk_events=2)
    for ts, kind, component, run, task, span, parent, corr, body in ROWS[:6]:
        store.append(Event(ts, kind, run, span, parent, component, task, corr, body))
    # Retained: lm.response (span 2's end), adapter.parse, program.end (span 1's end).
    table = spans(store=store)
    assert table.index.tolist() == [2, 1]
    assert table["kind"].tolist() == ["lm.response", "program.end"]
    assert table["status"].tolist() == ["open", "open"]


def test_a_store_without_spans_has_an_empty_span_table():
    store = EventStore()
    store.append(Event(1, "note", None, None, None, "qa", "t", None, {"n": 1}))
    table = spans(store=store)
    assert len(table) == 0
    assert "status" in table.columns
