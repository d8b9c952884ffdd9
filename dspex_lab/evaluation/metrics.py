"""Metrics in every shape people write them, reduced to one call.

A metric is `metric(example, prediction, trace=None)` (DSPy's signature) or
`metric(example, prediction)`, sync or async, returning a bool, a number,
`(score, feedback)`, or an object with `.score` (and optionally `.feedback`).
A metric object with an async `acall(example, prediction, trace)` (the LM
judges) is awaited through it.
Several metrics can run at once as a dict name -> metric; the first is the
primary one.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any

Metric = Callable[..., Any]


class MetricSet:
    """One or more named metrics, called uniformly: `await metrics.score(example, prediction)`."""

    __slots__ = ("_calls", "names")

    def __init__(self, metric: Metric | Mapping[str, Metric]) -> None:
        if isinstance(metric, Mapping):
            if not metric:
                raise ValueError("metric is an empty dict; give at least one name -> metric")
            named = list(metric.items())
        else:
            named = [(metric_name(metric), metric)]
        for name, fn in named:
            if not isinstance(name, str):
                raise TypeError(f"metric names must be strings, got {name!r}")
            if not callable(fn):
                raise TypeError(
                    f"metric {name!r} is a {type(fn).__name__}, not a function; pass "
                    f"metric(example, prediction, trace=None) -> bool | float | (score, feedback)"
                )
        self.names = [name for name, _ in named]
        self._calls = [(name, fn, takes_trace(fn)) for name, fn in named]

    @property
    def primary(self) -> str:
        return self.names[0]

    async def score(self, example: Any, prediction: Any) -> tuple[dict[str, float], dict[str, str]]:
        """Scores per metric name, and the feedback of those metrics that gave any."""
        scores: dict[str, float] = {}
        feedback: dict[str, str] = {}
        for name, fn, traced in self._calls:
            acall = getattr(fn, "acall", None)  # an LM-judged metric runs its calls in this loop
            if callable(acall):
                value = acall(example, prediction, None)
            else:
                value = fn(example, prediction, None) if traced else fn(example, prediction)
            if inspect.isawaitable(value):
                value = await value
            scores[name], note = to_score(value, name)
            if note is not None:
                feedback[name] = note
        return scores, feedback


def metric_name(metric: Metric) -> str:
    """A readable name for a metric: its function or class name."""
    name = getattr(metric, "__name__", None) or type(metric).__name__
    return "metric" if name == "<lambda>" else name


def takes_trace(fn: Metric) -> bool:
    """Whether `fn` accepts a third positional argument (DSPy's `trace`)."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    try:
        signature.bind(None, None, None)
    except TypeError:
        return False
    return True


def to_score(value: Any, name: str) -> tuple[float, str | None]:
    """A metric's return value as (score, feedback), or a TypeError saying what is accepted."""
    feedback: Any = None
    if isinstance(value, tuple) and len(value) == 2:
        value, feedback = value
    elif not _is_number(value) and hasattr(value, "score"):
        feedback = getattr(value, "feedback", None)
        value = value.score
    if _is_number(value):
        score = float(value)
        if not math.isfinite(score):
            raise ValueError(
                f"metric {name!r} returned {score!r}; a score must be a finite number (a NaN or an "
                "infinity would make the run's mean meaningless). Return 0.0 for a failed check, or "
                "raise to record the example as an error"
            )
        return score, None if feedback is None else str(feedback)
    raise TypeError(
        f"metric {name!r} returned {value!r} ({type(value).__name__}); a metric must return "
        f"a bool, a number, (score, feedback), or an object with .score"
    )


def _is_number(value: Any) -> bool:
    # numpy's bool_ is not a numbers.Real, yet `(a == b).all()` returns one.
    return isinstance(value, numbers.Real) or (hasattr(type(value), "__float__") and not isinstance(value, str | bytes))
