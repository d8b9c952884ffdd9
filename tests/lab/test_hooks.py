"""The notebook progress display: an evaluation panel per run, or the running compile's panel for its runs."""

from __future__ import annotations

from dspex_lab.evaluation import progress
from dspex_lab.lab import hooks
from dspex_lab.lab.evaluation import EvaluationPanel
from dspex_lab.lab.optimization import OptimizationPanel, PhaseProgress
from dspex_lab.trace import events


def test_outside_a_compile_each_run_gets_its_own_evaluation_panel():
    first, second = hooks.notebook_progress(), hooks.notebook_progress()

    assert isinstance(first, EvaluationPanel)
    assert isinstance(second, EvaluationPanel)
    assert first is not second


def test_inside_a_compile_every_run_feeds_the_compiles_one_panel(trace_store):
    with events.run("optimize-1"), events.span("optimize", "Opt", {"student": "QA", "trainset": 3}):
        first, second = hooks.notebook_progress(), hooks.notebook_progress()

    assert isinstance(first, PhaseProgress)
    assert first.panel is second.panel
    assert isinstance(first.panel, OptimizationPanel)
    assert first.panel.run_id == "optimize-1"
    assert first.panel.finished  # it followed the compile's end


def test_a_run_after_the_compile_ended_is_an_evaluation_again(trace_store):
    with events.run("optimize-2"):
        with events.span("optimize", "Opt", {}):
            assert hooks.compiling(trace_store, "optimize-2")
        assert not hooks.compiling(trace_store, "optimize-2")
        assert isinstance(hooks.notebook_progress(), EvaluationPanel)


def test_a_nested_compile_keeps_the_outer_one_open(trace_store):
    with events.run("optimize-3"), events.span("optimize", "Search", {}):
        with events.span("optimize", "Bootstrap", {}):
            pass
        assert hooks.compiling(trace_store, "optimize-3")


def test_enable_and_disable_switch_the_display_progress_true_uses_in_a_kernel():
    hooks.enable()
    try:
        assert progress._notebook_factory is hooks.notebook_progress
    finally:
        hooks.disable()
    assert progress._notebook_factory is None
