"""Plugging the panels into `dx.evaluate` and `compile`: the notebook progress display.

The engine asks for a progress display each time it starts a run with
`progress=True`, in the caller's context. Inside a compile (the optimizer
says so through `running_compile()`, also with tracing off) the answer is
that compile's OptimizationPanel, made and shown on its first run and fed
every later one (teacher runs, candidate evaluations); anywhere else it is a
new EvaluationPanel, shown when its run starts.
"""

from __future__ import annotations

import threading

from dspex_lab.evaluation import progress
from dspex_lab.evaluation.progress import ProgressConsumer
from dspex_lab.lab.evaluation import EvaluationPanel
from dspex_lab.lab.optimization import OptimizationPanel
from dspex_lab.optimize.base import running_compile
from dspex_lab.trace import events

_compiles: dict[str, OptimizationPanel] = {}
_lock = threading.Lock()


def notebook_progress() -> ProgressConsumer:
    """The display for a run starting now: its compile's panel, or a new evaluation panel."""
    store = events.get_store()
    compile_ = running_compile()
    if compile_ is not None:
        with _lock:
            for finished in [key for key, panel in _compiles.items() if panel.finished]:
                del _compiles[finished]
            panel = _compiles.get(compile_.run_id)
            if panel is None:
                panel = _compiles[compile_.run_id] = OptimizationPanel(compile_, store=store, display=True)
        return panel.phase_progress()
    return EvaluationPanel(store=store, display=True)


def enable() -> None:
    """Show the panels for `dx.evaluate(...)` and `compile(...)` with `progress=True` inside a kernel."""
    progress.register_notebook_progress(notebook_progress)


def disable() -> None:
    """Go back to the terminal progress bar."""
    progress.register_notebook_progress(None)
