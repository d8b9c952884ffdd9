"""The notebook progress display: an evaluation panel per run, or the running compile's panel for its runs."""

from __future__ import annotations

import pytest

import dspex_lab as dx
from dspex_lab.evaluation import progress
from dspex_lab.lab import hooks
from dspex_lab.lab.evaluation import EvaluationPanel
from dspex_lab.lab.optimization import OptimizationPanel, PhaseProgress
from dspex_lab.trace import events
from dspex_lab.trace.store import EventStore


def test_outside_a_compile_each_run_gets_its_own_evaluation_panel():
    first, second = hooks.notebook_progress(), hooks.notebook_progress()

    assert isinstance(first, EvaluationPanel)
    assert isinstance(second, EvaluationPanel)
    assert first is not second


class Asking(dx.Optimizer):
    """An optimizer that asks for the progress display of two runs, as optimizers that drive runs do."""

    def __init__(self, inner: dx.Optimizer | None = None) -> None:
        self.inner = inner
        self.displays: list[progress.ProgressConsumer] = []

    async def optimize(self, student, trainset, report, **options):
        if self.inner is not None:
            await self.inner.acompile(student, trainset=trainset)
        self.displays += [hooks.notebook_progress(), hooks.notebook_progress()]
        report.status = "completed"
        return student.deepcopy()


def train() -> list[dx.Example]:
    return [dx.Example(question="1+1?", answer="2").with_inputs("question")]


@pytest.mark.parametrize("traced", [True, False])
def test_inside_a_compile_every_run_feeds_the_compiles_one_panel(traced):
    optimizer = Asking()
    with events.use_store(EventStore() if traced else None):
        optimizer.compile(dx.Predict("question -> answer"), trainset=train())

    first, second = optimizer.displays
    assert isinstance(first, PhaseProgress)
    assert first.panel is second.panel
    assert isinstance(first.panel, OptimizationPanel)
    assert first.panel.run_id == optimizer.report.run_id
    assert first.panel.finished  # it followed the compile's end, also with tracing off


def test_a_run_after_the_compile_ended_is_an_evaluation_again():
    Asking().compile(dx.Predict("question -> answer"), trainset=train())

    assert isinstance(hooks.notebook_progress(), EvaluationPanel)


def test_a_nested_compile_keeps_the_outer_one_open():
    outer = Asking(inner=Asking())
    outer.compile(dx.Predict("question -> answer"), trainset=train())

    panels = {display.panel for display in [*outer.inner.displays, *outer.displays]}  # type: ignore[union-attr]
    assert len(panels) == 1
    assert panels.pop().run_id == outer.report.run_id


def test_enable_and_disable_switch_the_display_progress_true_uses_in_a_kernel():
    hooks.enable()
    try:
        assert progress._notebook_factory is hooks.notebook_progress
    finally:
        hooks.disable()
    assert progress._notebook_factory is None
