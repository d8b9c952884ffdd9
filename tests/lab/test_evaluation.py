"""EvaluationPanel: live figures and a Stop button while a run goes, then its examples, all from the run's events."""

from __future__ import annotations

import threading

import pytest

import dspex_lab as dx
from dspex_lab.lab.evaluation import STOP_REASON, EvaluationPanel
from dspex_lab.trace import events


def run_with_panel(program, examples, metric, **options):
    panel = EvaluationPanel(interval=0)
    panel.draw()  # drawn before the run, as in a notebook
    result = dx.evaluate(program, examples, metric, progress=panel, **options)
    return panel, result


def test_a_finished_run_shows_a_full_green_bar_its_score_and_errors(oracle, devset, metric):
    program = dx.Predict("question -> answer", lm=oracle(wrong={"q1"}, garbled={"q2"}))

    panel, result = run_with_panel(program, devset(6), metric, concurrency=2)

    parts = panel.parts
    assert (parts.bar.value, parts.bar.max, parts.bar.description) == (6, 6, "6/6")
    assert parts.bar.bar_style == "success"
    assert "score <b>0.667</b>" in parts.stats.value
    assert "errors <b>1</b>" in parts.stats.value
    assert "completed" in parts.stats.value
    assert parts.stop not in parts.controls.children
    assert panel.run_id == result.run_id


def test_the_results_table_marks_passed_failed_and_raised_apart_with_details_closed(oracle, devset, metric):
    program = dx.Predict("question -> answer", lm=oracle(wrong={"q1"}, garbled={"q2"}))

    panel, _ = run_with_panel(program, devset(6), metric)

    assert [row.index for row in panel.rows()] == [2, 1, 0, 3, 4, 5]
    assert [row.outcome(panel.threshold) for row in panel.rows()][:3] == ["error", "fail", "pass"]
    table = panel.parts.table.value
    assert table.count("<tr class='dspex-fail'>") == 2  # the wrong answer and the example that raised
    assert table.count("<tr") == 7  # header and six examples
    assert "<td>✗</td>" in table
    assert "<td>error</td>" in table
    assert table.count("<td>✓</td>") == 4
    assert "<td>answer=a1</td><td>answer=wrong</td>" in table  # expected next to predicted
    # The picker lists every example of the run; no details until one is picked.
    assert len(panel.parts.example.options) == 7
    assert panel.parts.example.value is None
    assert panel.parts.details.value == ""
    panel.select(2)
    details = panel.parts.details.value
    assert "I would rather not say." in details  # the reply
    assert "Your input fields are" in details  # the prompt
    assert "AdapterParseError" in details


def test_an_example_opens_with_its_prompt_reply_and_usage(oracle, devset, metric):
    program = dx.Predict("question -> answer", lm=oracle())
    panel, _ = run_with_panel(program, devset(3), metric)

    detail = panel.select(1)

    assert detail.row.inputs == {"question": "q1"}
    assert detail.row.outputs == {"answer": "a1"}
    assert len(detail.calls) == 1
    assert "[[ ## question ## ]]\nq1" in detail.calls[0].messages[-1]["content"]
    assert "a1" in detail.calls[0].reply
    assert panel.parts.example.value == 1
    assert "q1" in panel.parts.details.value


def test_the_table_sorts_and_pages(oracle, devset, metric):
    program = dx.Predict("question -> answer", lm=oracle(wrong={f"q{i}" for i in range(0, 45, 2)}))
    panel, _ = run_with_panel(program, devset(45), metric, concurrency=8)

    assert panel.pages == 3
    assert panel.parts.table.value.count("<tr") == 21
    panel.show_page(2)
    assert panel.parts.table.value.count("<tr") == 6
    assert panel.parts.page.value == 3

    panel.sort("score (high to low)")
    assert panel.page == 0
    assert panel.rows()[0].score == 1.0
    assert panel.rows()[0].index == 1
    panel.parts.order.value = "example index"  # the dropdown does the same
    assert [row.index for row in panel.rows()[:3]] == [0, 1, 2]
    with pytest.raises(ValueError, match="unknown order 'best'"):
        panel.sort("best")


def test_a_finished_run_reopens_from_the_store_as_it_was_seen_live(oracle, devset, metric):
    program = dx.Predict("question -> answer", lm=oracle(garbled={"q3"}))
    live, result = run_with_panel(program, devset(5), metric)

    replayed = EvaluationPanel(result.run_id)

    assert replayed.text() == live.text()
    assert [(r.index, r.score, r.error) for r in replayed.rows()] == [(r.index, r.score, r.error) for r in live.rows()]
    replayed.draw()
    assert replayed.parts.bar.value == 5


def test_an_unknown_run_is_an_error_that_lists_the_runs_there_are(oracle, devset, metric):
    _, result = run_with_panel(dx.Predict("question -> answer", lm=oracle()), devset(2), metric)

    with pytest.raises(ValueError, match=rf"no evaluation run 'eval-nope'.*{result.run_id}"):
        EvaluationPanel("eval-nope")


def test_with_tracing_off_the_live_figures_still_work_and_the_table_says_why_it_is_empty(oracle, devset, metric):
    program = dx.Predict("question -> answer", lm=oracle())
    with events.use_store(None):
        panel, result = run_with_panel(program, devset(3), metric)
        with pytest.raises(RuntimeError, match="tracing is off"):
            EvaluationPanel(result.run_id)

    assert panel.parts.bar.value == 3
    assert panel.rows() == []
    assert "dx.trace.enable()" in panel.parts.results.children[0].value


def test_the_stop_button_stops_the_run_and_keeps_what_finished(oracle, devset, metric, held):
    panel = EvaluationPanel(interval=0)
    panel.draw()

    class ClickStopAfterThree:
        """Forwards progress to the panel; once three examples are done, clicks Stop from another thread."""

        def on_event(self, event):
            panel.on_event(event)
            if event.kind == "evaluate.example" and panel.state.done == 3:
                threading.Thread(target=panel.parts.stop.click).start()

    result = dx.evaluate(
        held(oracle(), first_held=3), devset(10), metric, concurrency=1, progress=ClickStopAfterThree()
    )

    assert (result.status, result.finished, result.reason) == ("cancelled", 3, STOP_REASON)
    assert panel.state.status == "cancelled"
    assert panel.parts.bar.bar_style == "warning"
    assert panel.parts.bar.value == 3
    assert panel.parts.stop.disabled
    assert STOP_REASON in panel.parts.stats.value
    assert not panel.stop()  # a finished run has nothing left to stop


def test_outside_a_kernel_the_panel_is_text(oracle, devset, metric):
    program = dx.Predict("question -> answer", lm=oracle(garbled={"q1"}))
    panel, result = run_with_panel(program, devset(3), metric)

    bundle = panel._repr_mimebundle_()

    assert list(bundle) == ["text/plain"]
    text = bundle["text/plain"]
    assert text.splitlines()[0] == f"EvaluationPanel  evaluate Predict  run {result.run_id}"
    assert "3/3" in text
    assert "completed" in text
    assert "#1  AdapterParseError" in text
    assert repr(panel) == text


def test_latency_is_split_into_time_in_the_lm_and_the_rest(oracle, devset, metric):
    panel, _ = run_with_panel(dx.Predict("question -> answer", lm=oracle()), devset(5), metric, concurrency=5)

    for row in panel.rows():
        assert row.lm_calls == 1
        assert 0 < row.lm_ms <= row.latency_ms
        assert row.wait_ms == pytest.approx(row.latency_ms - row.lm_ms)
    panel.sort("most time in the LM first")
    in_lm = [row.lm_ms for row in panel.rows()]
    assert in_lm == sorted(in_lm, reverse=True)
    assert "<th>LM ms</th><th>wait ms</th>" in panel.parts.table.value
