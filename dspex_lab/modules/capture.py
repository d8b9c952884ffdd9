"""What optimizers need from predictors while a teacher runs.

Inside `with capture_calls() as calls:`, every successful predictor call made in
this thread or task (and the tasks it starts) is appended to `calls` with its
inputs and outputs, intermediate fields such as `reasoning` included.

Inside `with excluding_demo(example):`, predictors leave any demo equal to
`example` out of their prompt, so an example is never its own demonstration;
`excluding(predicate)` leaves out the demos a predicate picks. Both are
context-local, so concurrent teacher runs do not see each other.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dspex_lab.modules.predict import Predict
    from dspex_lab.prediction import Prediction


@dataclass(slots=True, frozen=True)
class PredictorCall:
    """One predictor call: the predictor, its inputs and its prediction."""

    predictor: Predict
    inputs: dict[str, Any]
    prediction: Prediction


_calls: ContextVar[list[PredictorCall] | None] = ContextVar("dspex_captured_calls", default=None)


@contextlib.contextmanager
def capture_calls() -> Iterator[list[PredictorCall]]:
    """Collect the predictor calls made inside the block."""
    calls: list[PredictorCall] = []
    token = _calls.set(calls)
    try:
        yield calls
    finally:
        _calls.reset(token)


def note_call(predictor: Predict, inputs: dict[str, Any], prediction: Prediction) -> None:
    """Record a call in the innermost capture block, if one is open."""
    calls = _calls.get()
    if calls is not None:
        calls.append(PredictorCall(predictor, inputs, prediction))


_excluded: ContextVar[Callable[[Any], bool] | None] = ContextVar("dspex_excluded_demo", default=None)


@contextlib.contextmanager
def excluding(predicate: Callable[[Any], bool]) -> Iterator[None]:
    """Leave the demos for which `predicate(demo)` is true out of every prompt built inside the block."""
    token = _excluded.set(predicate)
    try:
        yield
    finally:
        _excluded.reset(token)


def excluding_demo(example: Any) -> contextlib.AbstractContextManager[None]:
    """Leave demos equal to `example` out of every prompt built inside the block."""
    return excluding(lambda demo: bool(demo == example))


def visible_demos(demos: list[Any]) -> list[Any]:
    """The demos a predictor shows now (all but the excluded ones)."""
    excluded = _excluded.get()
    if excluded is None:
        return list(demos)
    return [demo for demo in demos if not excluded(demo)]
