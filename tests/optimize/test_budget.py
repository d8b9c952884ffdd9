"""max_labeled_demos left unset follows the model: DSPy's 16, or the LM's own `max_demos`."""

from __future__ import annotations

from typing import Any

import pytest

import dspex_lab as dx
from dspex_lab.optimize.base import DEFAULT_MAX_DEMOS, demo_budget


def examples(count: int = 30) -> list[dx.Example]:
    return [
        dx.Example(review=f"review {n}", sentiment=("positive", "negative")[n % 2]).with_inputs("review")
        for n in range(count)
    ]


def right(example: dx.Example, prediction: Any, trace: Any = None) -> bool:
    return prediction.sentiment == example.sentiment


class FewDemosLM(dx.ScriptedLM):
    max_demos = 6


def test_without_max_labeled_demos_the_demos_fill_up_to_the_models_budget():
    lm = FewDemosLM(lambda messages: {"sentiment": "positive"})
    optimizer = dx.BootstrapFewShot(right, progress=False)
    with dx.context(lm=lm):
        program = optimizer.compile(dx.Predict("review -> sentiment"), trainset=examples())

    assert len(program.demos) == 6
    assert sorted(o.origin for o in optimizer.report.demos["self"]) == ["bootstrapped"] * 4 + ["labeled"] * 2


def test_a_given_max_labeled_demos_wins_over_the_models_budget():
    lm = FewDemosLM(lambda messages: {"sentiment": "positive"})
    optimizer = dx.BootstrapFewShot(right, max_labeled_demos=10, progress=False)
    with dx.context(lm=lm):
        program = optimizer.compile(dx.Predict("review -> sentiment"), trainset=examples())

    assert len(program.demos) == 10


def test_the_budget_is_dspys_16_for_provider_models_and_8_for_the_embedded_model():
    assert demo_budget(dx.Predict("a -> b"), None) == DEFAULT_MAX_DEMOS == 16
    assert dx.LM("openai/gpt-4o-mini", api_key="sk-test").max_demos == 16
    assert dx.LM("local/smollm2-135m").max_demos == 8
    assert demo_budget(dx.Predict("a -> b", lm=dx.LM("local/smollm2-135m")), None) == 8


@pytest.mark.parametrize("value", [-1, 2.5, True, "8"])
def test_a_bad_max_labeled_demos_is_refused_with_its_name(value):
    with pytest.raises(ValueError, match="max_labeled_demos"):
        dx.BootstrapFewShot(right, max_labeled_demos=value)
