"""Per-example records read back from the store: rows, sort orders, and each example's LM calls and errors."""

from __future__ import annotations

import pytest

import dspex_lab as dx
from dspex_lab.lab.examples import SORTS, RunExamples


def test_each_example_gets_its_inputs_outputs_score_and_lm_usage(trace_store, oracle, devset, metric):
    program = dx.Predict("question -> answer", lm=oracle(wrong={"q1"}))
    result = dx.evaluate(program, devset(3), metric, progress=False)

    rows = RunExamples(trace_store, result.run_id).rows

    assert [(r.index, r.score, r.error) for r in rows] == [(0, 1.0, None), (1, 0.0, None), (2, 1.0, None)]
    assert rows[1].inputs == {"question": "q1"}
    assert rows[1].outputs == {"answer": "wrong"}
    assert all(r.lm_calls == 1 and r.tokens > 0 and r.cache_hits == 0 for r in rows)
    assert all(r.latency_ms is not None and r.latency_ms >= 0 for r in rows)


def test_a_failed_example_keeps_both_replies_and_the_parse_errors(trace_store, oracle, devset, metric):
    program = dx.Predict("question -> answer", lm=oracle(garbled={"q0"}))
    result = dx.evaluate(program, devset(2), metric, progress=False)

    detail = RunExamples(trace_store, result.run_id).detail(0)

    assert detail.row.failed
    assert detail.row.error.startswith("AdapterParseError")
    assert [call.reply for call in detail.calls] == ["I would rather not say."] * 2  # chat, then the JSON fallback
    assert all(call.status == "ok" for call in detail.calls)
    assert len(detail.parse_errors) == 2
    assert all(error.raw == "I would rather not say." for error in detail.parse_errors)
    assert detail.program_error.startswith("AdapterParseError")


def test_examples_of_other_runs_are_not_mixed_in(trace_store, oracle, devset, metric):
    program = dx.Predict("question -> answer", lm=oracle())
    first = dx.evaluate(program, devset(2), metric, progress=False)
    dx.evaluate(program, devset(4), metric, progress=False)

    examples = RunExamples(trace_store, first.run_id)

    assert [r.index for r in examples.rows] == [0, 1]
    assert len(examples.detail(1).calls) == 1
    with pytest.raises(KeyError, match=r"example 3 did not run in 'eval-.*'; it has examples \[0, 1\]"):
        examples.detail(3)


def test_the_orders_put_failures_or_scores_first(trace_store, oracle, devset, metric):
    program = dx.Predict("question -> answer", lm=oracle(wrong={"q0", "q3"}, garbled={"q2"}))
    result = dx.evaluate(program, devset(4), metric, progress=False)
    examples = RunExamples(trace_store, result.run_id)

    assert next(iter(SORTS)) == "failures first"
    assert [r.index for r in examples.sorted("failures first")] == [2, 0, 3, 1]
    assert [r.index for r in examples.sorted("score (high to low)")] == [1, 0, 2, 3]
    assert [r.index for r in examples.sorted("example index")] == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="choose one of"):
        examples.sorted("random")
