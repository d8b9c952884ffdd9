"""Evaluation: run a program over a dev set concurrently and score it.

`dx.evaluate(program, devset, metric)` is the function `evaluator.evaluate`.
Python also binds this package to `dspex_lab.evaluate` once any of its modules
is imported, so the package itself is callable and does the same thing: either
way `dx.evaluate(...)` evaluates.

- `evaluator`: `evaluate`, `aevaluate`, `Evaluate`.
- `engine`: `run_each`, the engine evaluation and optimizers share.
- `executor`, `cancel`, `progress`, `metrics`, `runstore`, `result`: its parts.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from dspex_lab.evaluate.cancel import CancelToken, active_runs, cancel_run
from dspex_lab.evaluate.engine import RunReport, run_each
from dspex_lab.evaluate.evaluator import Evaluate, aevaluate, evaluate
from dspex_lab.evaluate.executor import Executor, LocalExecutor, Outcome
from dspex_lab.evaluate.progress import ProgressConsumer, ProgressState, register_notebook_progress
from dspex_lab.evaluate.result import EvaluationResult, ExampleResult
from dspex_lab.evaluate.runstore import RunMismatchError, RunStore

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
    "RunMismatchError",
    "RunReport",
    "RunStore",
    "active_runs",
    "aevaluate",
    "cancel_run",
    "evaluate",
    "register_notebook_progress",
    "run_each",
]


class _CallablePackage(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> EvaluationResult:
        return evaluate(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
