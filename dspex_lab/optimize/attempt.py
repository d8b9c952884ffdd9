"""One bootstrap attempt: run the teacher on a training example, score it, and turn its trace into demos.

The teacher runs with its predictors' calls captured (`capture_calls`) and the
example left out of its own demos (`excluding_demo`); both are context-local,
so many attempts can run concurrently on the same teacher.
"""

from __future__ import annotations

import inspect
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dspex_lab import settings
from dspex_lab.evaluation.metrics import metric_name, takes_trace, to_score
from dspex_lab.example import Example
from dspex_lab.fields import jsonable
from dspex_lab.modules.capture import PredictorCall, capture_calls, excluding_demo
from dspex_lab.modules.module import Module
from dspex_lab.trace import events, schema


@dataclass(slots=True)
class Attempt:
    """One teacher run on training example `index` in round `round`.

    `demos` holds, per predictor name, the demo this run's trace yields (empty
    unless the run `passed`). `error` is set when the run or the metric raised.
    """

    index: int
    round: int
    inputs: dict[str, Any]
    outputs: dict[str, Any] | None = None
    score: float | None = None
    passed: bool = False
    error: str | None = None
    demos: dict[str, Example] = field(default_factory=dict)
    exception: BaseException | None = field(default=None, repr=False)

    def to_event(self, traces: list[schema.TraceStep]) -> schema.OptimizeAttempt:
        return schema.OptimizeAttempt(
            index=self.index,
            round=self.round,
            inputs=jsonable(self.inputs),
            outputs=self.outputs,
            score=self.score,
            passed=self.passed,
            error=self.error,
            traces=traces,
            demos_from=sorted(self.demos),
        )


class MetricCheck:
    """Scores a teacher run and decides whether it passes.

    The metric gets DSPy's `trace` argument (a list of `(predictor, inputs,
    prediction)`) when it takes three; it passes when its score is at least
    `threshold`, or, with no threshold, when the score is truthy. With no
    metric every run passes.
    """

    def __init__(self, metric: Callable[..., Any] | None, threshold: float | None) -> None:
        if metric is not None and not callable(metric):
            raise TypeError(
                f"metric must be a function metric(example, prediction, trace=None), got {type(metric).__name__}"
            )
        self.metric = metric
        self.threshold = threshold
        self._takes_trace = metric is not None and takes_trace(metric)
        self._name = metric_name(metric) if metric is not None else "none"

    async def __call__(
        self, example: Example, prediction: Any, calls: list[PredictorCall]
    ) -> tuple[float | None, bool]:
        if self.metric is None:
            return None, True
        if self._takes_trace:
            trace = [(call.predictor, call.inputs, call.prediction) for call in calls]
            value = self.metric(example, prediction, trace)
        else:
            value = self.metric(example, prediction)
        if inspect.isawaitable(value):
            value = await value
        score, _ = to_score(value, self._name)
        passed = score >= self.threshold if self.threshold is not None else bool(score)
        return score, passed


async def run_attempt(
    teacher: Module,
    names: Mapping[int, str],
    example: Example,
    index: int,
    round_index: int,
    check: MetricCheck,
    context: dict[str, Any],
    seed: int,
    component: str,
) -> Attempt:
    """Run `teacher` on `example` and return the attempt; never raises an Exception (errors are recorded)."""
    inputs = dict(example.inputs())
    attempt = Attempt(index, round_index, inputs)
    calls: list[PredictorCall] = []
    try:
        with settings.context(**context), capture_calls() as calls, excluding_demo(example):
            prediction = await teacher.acall(**inputs)
        attempt.outputs = jsonable(dict(prediction)) if isinstance(prediction, Mapping) else jsonable(prediction)
        attempt.score, attempt.passed = await check(example, prediction, calls)
    except Exception as exc:  # one bad example never sinks the compile; the limit is max_errors
        attempt.error = f"{type(exc).__name__}: {exc}"
        attempt.exception = exc
        attempt.passed = False
    if attempt.passed:
        attempt.demos = demos_from_trace(calls, names, seed, index)
    traces = [
        schema.TraceStep(
            predictor=names.get(id(call.predictor)),
            inputs=jsonable(call.inputs),
            outputs=call.prediction.to_dict(),
        )
        for call in calls
    ]
    events.emit(attempt.to_event(traces), component)
    return attempt


def demos_from_trace(calls: list[PredictorCall], names: Mapping[int, str], seed: int, index: int) -> dict[str, Example]:
    """One demo per predictor from a passing trace: its inputs and every output, `reasoning` included.

    A predictor called more than once in the run gives either its last call or
    one of the earlier ones, 50/50, as in DSPy; the draw is seeded by `seed`,
    the example's index and the predictor's name.
    """
    grouped: dict[str, list[Example]] = {}
    for call in calls:
        name = names.get(id(call.predictor))
        if name is None:
            continue
        demo = Example(augmented=True, **call.inputs, **dict(call.prediction)).with_inputs(*call.inputs)
        grouped.setdefault(name, []).append(demo)
    chosen = {}
    for name, demos in grouped.items():
        if len(demos) == 1:
            chosen[name] = demos[0]
        else:
            rng = random.Random(f"{seed}/{index}/{name}")
            chosen[name] = rng.choice(demos[:-1]) if rng.random() < 0.5 else demos[-1]
    return chosen
