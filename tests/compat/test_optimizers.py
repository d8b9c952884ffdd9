"""Few-shot optimizers as DSPy runs them: max_errors, restrict=, reset_copy keeping LMs out of the way."""

from __future__ import annotations

from typing import Any

import pytest

import dspex_lab as dx
from dspex_lab.optimize.base import OptimizationError


def sums(n: int) -> list[dx.Example]:
    return [dx.Example(question=f"{i} + {i}", answer=str(2 * i)).with_inputs("question") for i in range(n)]


def exact(example: dx.Example, pred: dx.Prediction, trace: Any = None) -> bool:
    return example.answer == pred.answer


def adding_lm(bad: set[str] = frozenset()) -> dx.ScriptedLM:
    def reply(messages: list[dict[str, Any]]) -> Any:
        question = messages[-1]["content"].split("\n")[1]
        if question in bad:
            return "no fields here"
        left = int(question.split(" + ")[0])
        return {"answer": str(2 * left)}

    return dx.ScriptedLM(reply)


def test_bootstrap_stops_when_failed_runs_reach_max_errors():
    """DSPy raises once its error count reaches max_errors (max_errors=1: the first failure)."""
    train = sums(4)
    optimizer = dx.BootstrapFewShot(exact, max_errors=1, max_labeled_demos=0, concurrency=1, progress=False)
    with dx.context(lm=adding_lm({train[0].question})), pytest.raises(OptimizationError, match="reaching max_errors=1"):
        optimizer.compile(dx.Predict("question -> answer"), trainset=train)


def test_random_search_restrict_runs_only_the_named_candidate_seeds():
    """DSPy's compile(..., restrict=[...]) skips every other candidate seed."""
    search = dx.BootstrapFewShotWithRandomSearch(exact, num_candidate_programs=3, progress=False)
    with dx.context(lm=adding_lm()):
        search.compile(dx.Predict("question -> answer"), trainset=sums(6), restrict=[-3, 1])
    assert [candidate.seed for candidate in search.candidates] == [-3, 1]
    with pytest.raises(ValueError, match=r"restrict names candidate seeds \[7\]"):
        search.compile(dx.Predict("question -> answer"), trainset=sums(6), restrict=[7])


def test_compiling_keeps_a_predictors_pinned_lm():
    """Clearing demos for a fresh student keeps each predictor's own LM (only Predict.reset() drops it)."""
    lm = adding_lm()
    student = dx.Predict("question -> answer", lm=lm)
    compiled = dx.BootstrapFewShot(exact, max_labeled_demos=0, progress=False).compile(student, trainset=sums(3))
    assert compiled.lm is lm


def test_a_react_agent_compiles_saves_and_loads(tmp_path):
    """DSPy bootstraps ReAct like any program: its react and extract predictors get demos, saved as JSON."""
    from .planner import capital_of, population_of
    from .test_tools import QUESTION, scripted_agent_lm

    train = [dx.Example(question=QUESTION, answer=2_100_000).with_inputs("question")]
    agent = dx.ReAct("question -> answer: int", tools=[capital_of, population_of])
    with dx.context(lm=scripted_agent_lm(lambda prompt: False)):
        compiled = dx.BootstrapFewShot(exact, max_labeled_demos=0, progress=False).compile(agent, trainset=train)
        path = compiled.save(tmp_path / "agent.json")
        loaded = dx.load(path, into=dx.ReAct("question -> answer: int", tools=[capital_of, population_of]))
        assert loaded(question=QUESTION).answer == 2_100_000
    assert sorted(compiled.demos) == ["extract.predict", "react"]
    assert loaded.react.demos[0].question == QUESTION
