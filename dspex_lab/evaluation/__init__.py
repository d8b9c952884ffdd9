"""Evaluation: run a program over a dev set concurrently and score it.

`dx.evaluate(program, devset, metric)` is the function `evaluator.evaluate`.

- `evaluator`: `evaluate`, `aevaluate`, `Evaluate`.
- `engine`: `run_each`, the engine evaluation and optimizers share.
- `executor`, `cancel`, `progress`, `metrics`, `runstore`, `result`: its parts.
"""

from __future__ import annotations

from dspex_lab.evaluation.cancel import CancelToken, active_runs, cancel_run
from dspex_lab.evaluation.engine import RunReport, run_each
from dspex_lab.evaluation.evaluator import Evaluate, aevaluate, evaluate
from dspex_lab.evaluation.executor import Executor, LocalExecutor, Outcome
from dspex_lab.evaluation.progress import ProgressConsumer, ProgressState, register_notebook_progress
from dspex_lab.evaluation.result import EvaluationResult, ExampleResult
from dspex_lab.evaluation.runstore import RunLockedError, RunMismatchError, RunStore, RunStoreError

__all__ = [
    "CancelToken",
    "Evaluate",
    "EvaluationResult",
    "ExampleResult",
    "Executor",
    "LocalExecutor",
    "Outcome",
    "ProgressConsumer",
    "ProgressState",
    "RunLockedError",
    "RunMismatchError",
    "RunReport",
    "RunStore",
    "RunStoreError",
    "active_runs",
    "aevaluate",
    "cancel_run",
    "evaluate",
    "register_notebook_progress",
    "run_each",
]
