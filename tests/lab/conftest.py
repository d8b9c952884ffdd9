"""Fixtures for the workbench tests: scripted programs, dev sets, and blocking programs for Stop."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import pytest

import dspex_lab as dx

QUESTION = re.compile(r"\[\[ ## question ## \]\]\n(.*?)\n")


def question_of(messages: list[dict[str, Any]]) -> str:
    return QUESTION.search(messages[-1]["content"]).group(1)


@pytest.fixture
def oracle() -> Callable[..., dx.ScriptedLM]:
    """`oracle(wrong=..., garbled=...)`: answers `a<i>` to `q<i>`; wrong or unparseable to the questions listed."""

    def make(wrong: set[str] = frozenset(), garbled: set[str] = frozenset()) -> dx.ScriptedLM:
        def reply(messages: list[dict[str, Any]]) -> Any:
            question = question_of(messages)
            if question in garbled:
                return "I would rather not say."
            return {"answer": "wrong" if question in wrong else "a" + question[1:]}

        return dx.ScriptedLM(reply)

    return make


@pytest.fixture
def devset() -> Callable[[int], list[dx.Example]]:
    """`devset(n)`: questions q0..q<n-1> whose answers are a0..a<n-1>."""
    return lambda n: [dx.Example(question=f"q{i}", answer=f"a{i}").with_inputs("question") for i in range(n)]


def exact_match(example: dx.Example, prediction: Any, trace: Any = None) -> bool:
    return example.answer == prediction.answer


@pytest.fixture
def metric() -> Callable[..., bool]:
    return exact_match


class Held(dx.Module):
    """Predict, except that questions from `q<first_held>` on wait forever (until the run is stopped)."""

    def __init__(self, lm: dx.BaseLM, first_held: int) -> None:
        self.predict = dx.Predict("question -> answer", lm=lm)
        self.first_held = first_held

    async def aforward(self, question: str) -> dx.Prediction:
        if int(question[1:]) >= self.first_held:
            await asyncio.Event().wait()
        return await self.predict.acall(question=question)


@pytest.fixture
def held() -> type[Held]:
    return Held


class QA(dx.Module):
    """A one-step program: question -> answer through its `generate` predictor."""

    name = "qa"

    def __init__(self, lm: dx.BaseLM) -> None:
        self.generate = dx.Predict("question -> answer", lm=lm)

    def forward(self, question: str) -> dx.Prediction:
        return self.generate(question=question)


@pytest.fixture
def qa() -> type[QA]:
    return QA
