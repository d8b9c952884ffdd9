"""Small programs, training sets and scripted LMs shared by the optimizer tests."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import dspex_lab as dx

_QUESTION = re.compile(r"\[\[ ## question ## \]\]\n(.*?)(?:\n\n|$)", re.S)
_SUM = re.compile(r"What is (\d+) \+ (\d+)\?")


def sums(count: int, start: int = 0) -> list[dx.Example]:
    """`count` distinct questions "What is a + b?" (for start + count <= 100) with answers, inputs marked."""
    examples = []
    for n in range(start, start + count):
        a, b = n % 10, (n // 10) % 10
        examples.append(dx.Example(question=f"What is {a} + {b}?", answer=str(a + b)).with_inputs("question"))
    return examples


def question_of(messages: list[dict[str, Any]]) -> str:
    """The question of the request's own (last) user turn."""
    match = _QUESTION.search(messages[-1]["content"])
    return match.group(1).strip() if match else ""


def demo_questions(messages: list[dict[str, Any]]) -> list[str]:
    """The questions shown as demos (the user turns before the last one)."""
    found = []
    for message in messages[1:-1]:
        if message["role"] == "user":
            match = _QUESTION.search(message["content"])
            if match:
                found.append(match.group(1).strip())
    return found


def true_sum(question: str) -> str:
    match = _SUM.search(question)
    return str(int(match.group(1)) + int(match.group(2))) if match else "?"


def adder(wrong: Callable[[str], bool] = lambda question: False) -> dx.ScriptedLM:
    """An LM that adds correctly, except for the questions `wrong` picks (it answers one more)."""

    def reply(messages: list[dict[str, Any]]) -> dict[str, str]:
        question = question_of(messages)
        answer = true_sum(question)
        if wrong(question):
            answer = str(int(answer) + 1)
        return {"answer": answer}

    return dx.ScriptedLM(reply)


def exact(example: dx.Example, prediction: Any, trace: Any = None) -> bool:
    return str(prediction.answer) == str(example.answer)


def qa() -> dx.Predict:
    return dx.Predict("question -> answer")
