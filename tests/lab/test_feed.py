"""Feeding panels: the events a store holds read back as live listeners get them, then followed as they come."""

from __future__ import annotations

from dspex_lab.lab.feed import follow, matches, recorded
from dspex_lab.testing.kinds import ev, opens
from dspex_lab.trace import events


def emit_run(run_id, count):
    with events.run(run_id), events.span(opens("optimize", {"trainset": count}), "Opt"):
        for index in range(count):
            events.emit(ev("optimize.attempt", {"index": index}), "Opt")


def test_recorded_events_equal_what_a_live_listener_received(trace_store):
    seen = []
    unsubscribe = events.subscribe(seen.append)
    emit_run("r1", 3)
    unsubscribe()

    assert recorded(trace_store, run_id="r1") == seen


def test_recorded_filters_by_run_and_kind(trace_store):
    emit_run("r1", 2)
    emit_run("r2", 3)

    found = recorded(trace_store, run_id="r2", kind="optimize.attempt")

    assert [(e.run_id, e.kind, e.payload) for e in found] == [
        ("r2", "optimize.attempt", {"index": i}) for i in range(3)
    ]
    assert all(e.span_id is None and isinstance(e.parent_id, int) for e in found)


def test_follow_replays_the_past_then_delivers_new_events_of_the_run(trace_store):
    emit_run("r1", 2)
    got = []

    unsubscribe = follow(trace_store, got.append, run_id="r1", kinds=("optimize.",))
    emit_run("r1", 1)
    emit_run("r2", 1)
    unsubscribe()
    emit_run("r1", 1)

    replayed = ["optimize.start", "optimize.attempt", "optimize.attempt", "optimize.end"]
    followed = ["optimize.start", "optimize.attempt", "optimize.end"]
    assert [e.kind for e in got] == replayed + followed
    assert {e.run_id for e in got} == {"r1"}


def test_kinds_are_exact_names_or_prefixes_ending_in_a_dot(trace_store):
    seen = []
    unsubscribe = events.subscribe(seen.append)
    emit_run("r1", 1)
    unsubscribe()
    start, attempt, end = seen

    assert matches(attempt, "r1", ("optimize.attempt",))
    assert matches(attempt, None, ("optimize.",))
    assert not matches(attempt, "r2", ("optimize.",))
    assert not matches(start, "r1", ("optimize.attempt",))
    assert matches(end, "r1", ())
