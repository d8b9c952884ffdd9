"""Metrics in every shape DSPy users write them."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

import dspex_lab as dx
from dspex_lab.evaluation.metrics import MetricSet, metric_name

EXAMPLE = dx.Example(question="2+2?", answer="4").with_inputs("question")
RIGHT = dx.Prediction(answer="4")
WRONG = dx.Prediction(answer="5")


def score(metric: Any, prediction: Any = RIGHT) -> tuple[dict[str, float], dict[str, str]]:
    return asyncio.run(MetricSet(metric).score(EXAMPLE, prediction))


def exact_match(example, prediction, trace=None):
    return example.answer == prediction.answer


def test_a_bool_metric_scores_one_or_zero():
    assert score(exact_match) == ({"exact_match": 1.0}, {})
    assert score(exact_match, WRONG) == ({"exact_match": 0.0}, {})


def test_dspy_metrics_get_trace_none_and_two_argument_metrics_get_two():
    seen: list[tuple[Any, ...]] = []

    def with_trace(example, prediction, trace):
        seen.append((example, prediction, trace))
        return 1

    def two_args(example, prediction):
        seen.append((example, prediction))
        return 0.5

    assert score(with_trace)[0] == {"with_trace": 1.0}
    assert score(two_args)[0] == {"two_args": 0.5}
    assert seen == [(EXAMPLE, RIGHT, None), (EXAMPLE, RIGHT)]


def test_an_async_metric_is_awaited():
    async def judged(example, prediction, trace=None):
        await asyncio.sleep(0)
        return 0.75

    assert score(judged)[0] == {"judged": 0.75}


def test_score_and_feedback_pairs_and_score_objects_give_feedback():
    def pair(example, prediction):
        return 0.2, "too short"

    def prediction_like(example, prediction):
        return dx.Prediction(score=0.9, feedback="close")

    assert score(pair) == ({"pair": 0.2}, {"pair": "too short"})
    assert score(prediction_like) == ({"prediction_like": 0.9}, {"prediction_like": "close"})


def test_numpy_results_are_numbers():
    def numpy_metric(example, prediction):
        return np.array([1, 2]).all()

    assert score(numpy_metric)[0] == {"numpy_metric": 1.0}


def test_several_named_metrics_run_in_order_and_the_first_is_primary():
    metrics = MetricSet({"em": exact_match, "length": lambda example, prediction: len(prediction.answer) / 10})

    assert metrics.names == ["em", "length"]
    assert metrics.primary == "em"
    assert asyncio.run(metrics.score(EXAMPLE, RIGHT)) == ({"em": 1.0, "length": 0.1}, {})


def test_a_metric_returning_something_else_is_an_error_that_says_what_is_accepted():
    def wordy(example, prediction):
        return "yes"

    with pytest.raises(TypeError, match=r"metric 'wordy' returned 'yes' \(str\); a metric must return a bool"):
        score(wordy)


def test_bad_metrics_are_refused_up_front():
    with pytest.raises(TypeError, match="metric 'em' is a str, not a function"):
        MetricSet({"em": "exact"})
    with pytest.raises(ValueError, match="metric is an empty dict"):
        MetricSet({})


def test_metric_names_come_from_functions_and_classes():
    class F1:
        def __call__(self, example, prediction):
            return 1.0

    assert metric_name(exact_match) == "exact_match"
    assert metric_name(F1()) == "F1"
    assert metric_name(lambda e, p: 1) == "metric"
    assert score(F1())[0] == {"F1": 1.0}
