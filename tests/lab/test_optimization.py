"""OptimizationPanel: a compile's phases, teacher runs and candidate scores from its events, live or replayed."""

from __future__ import annotations

import pytest

import dspex_lab as dx
from dspex_lab.lab.optimization import OptimizationPanel
from dspex_lab.trace import events


def bootstrap(metric, **options):
    """BootstrapFewShot in trainset order (DSPy's), so each chart point is the training example it names."""
    return dx.BootstrapFewShot(
        metric, max_bootstrapped_demos=2, max_labeled_demos=3, progress=False, concurrency=1, stratify=False, **options
    )


def test_a_bootstrap_compile_shows_its_teacher_runs_and_the_demos_it_installed(oracle, devset, metric):
    optimizer = bootstrap(metric)
    optimizer.compile(dx.Predict("question -> answer", lm=oracle(wrong={"q0"})), trainset=devset(6))

    panel = OptimizationPanel(optimizer)

    state = panel.state
    assert panel.finished
    assert state.status == "completed"
    attempts = optimizer.attempts
    assert len(state.attempts) == len(attempts) >= 3
    assert state.passed == sum(a.passed for a in attempts) >= 2
    assert state.failed == 0
    assert state.demos_text() == "self: 2 bootstrapped + 1 labeled"
    assert panel.text().splitlines()[0] == (
        f"OptimizationPanel  BootstrapFewShot compiling Predict on 6 examples  run {optimizer.report.run_id}"
    )
    assert "completed  attempts" in panel.text()


def test_the_chart_plots_each_teacher_run_by_training_example(oracle, devset, metric):
    optimizer = bootstrap(metric)
    optimizer.compile(dx.Predict("question -> answer", lm=oracle(wrong={"q0"})), trainset=devset(6))
    panel = OptimizationPanel(optimizer.report.run_id)

    panel.draw()

    [output] = panel.parts.chart.outputs
    traces = output["data"]["application/vnd.plotly.v1+json"]["data"]
    assert [t["name"] for t in traces] == ["passed", "did not pass"]
    assert 0 not in traces[0]["x"]
    assert {1, 2} <= set(traces[0]["x"])
    assert traces[1]["x"] == [0]
    assert panel.parts.bar.bar_style == "success"
    assert "self: 2 bootstrapped + 1 labeled" in panel.parts.summary.value
    assert f"teacher runs <b>{len(optimizer.attempts)}</b>" in panel.parts.counts.value


def test_a_random_search_charts_every_candidate_and_marks_the_best(oracle, devset, metric, qa):
    optimizer = dx.BootstrapFewShotWithRandomSearch(
        metric, max_bootstrapped_demos=1, max_labeled_demos=1, num_candidate_programs=1, progress=False
    )
    optimizer.compile(qa(oracle(wrong={"q1"})), trainset=devset(4))

    panel = OptimizationPanel(optimizer)
    panel.draw()

    state = panel.state
    assert [c.candidate for c in state.candidates] == ["zero-shot", "labeled", "bootstrap", "random bootstrap"]
    assert [c.score for c in state.candidates] == [c.score for c in optimizer.candidates]
    assert state.best.index == optimizer.best.index
    bars = panel.parts.chart.outputs[0]["data"]["application/vnd.plotly.v1+json"]["data"][0]
    assert bars["type"] == "bar"
    assert len(bars["x"]) == 4
    assert bars["marker"]["color"].count("#2a9d8f") == 1
    assert "candidate scores: #0 0.75, #1 0.75" in panel.text()


def test_a_panel_opened_during_a_compile_follows_it_to_the_end(oracle, devset):
    opened = []

    def metric(example, prediction, trace=None):
        if not opened:  # runs inside the compile, on its event loop: open the panel as a notebook would
            opened.append(OptimizationPanel(events.current_run_id(), interval=0))
        return example.answer == prediction.answer

    optimizer = bootstrap(metric)
    optimizer.compile(dx.Predict("question -> answer", lm=oracle()), trainset=devset(5))

    [live] = opened
    replayed = OptimizationPanel(optimizer)
    assert live.finished
    assert live.text() == replayed.text()
    assert len(live.state.attempts) == len(optimizer.attempts)


def test_a_panel_gets_the_progress_of_each_run_the_compile_drives(oracle, devset, metric):
    optimizer = bootstrap(metric)
    optimizer.compile(dx.Predict("question -> answer", lm=oracle()), trainset=devset(3))
    panel = OptimizationPanel(optimizer)
    panel.draw()
    progress = panel.phase_progress()

    with events.run("teacher-runs"):
        dx.evaluate(dx.Predict("question -> answer", lm=oracle()), devset(4), metric, progress=progress)

    assert (panel.progress.done, panel.progress.total) == (4, 4)
    assert (panel.parts.bar.value, panel.parts.bar.max) == (4, 4)


def test_a_compile_that_is_not_in_the_store_is_an_error(oracle):
    with pytest.raises(ValueError, match="no compile with run id 'optimize-nope'"):
        OptimizationPanel("optimize-nope")
    with pytest.raises(TypeError, match="has not compiled yet"):
        OptimizationPanel(dx.BootstrapFewShot())
    with events.use_store(None), pytest.raises(RuntimeError, match="tracing is off"):
        OptimizationPanel("optimize-x")
