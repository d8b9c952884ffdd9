"""A plain function as a program, so `dx.Evaluate` takes one as DSPy's does.

    def qa(question: str) -> dx.Prediction: ...
    dx.Evaluate(devset=dev, metric=dx.answer_exact_match)(qa)

The function is called with the example's inputs as keywords, inside the usual
program span; a coroutine function is awaited, a plain one runs in a worker thread.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from dspex_lab.loop import run_in_worker
from dspex_lab.modules.module import Module


class FunctionProgram(Module):
    """`FunctionProgram(fn)`: a Module whose forward is `fn(**inputs)`."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        if not callable(fn):
            raise TypeError(f"a program must be a dx.Module or a function, got {type(fn).__name__}")
        self.fn = fn
        self.name = getattr(fn, "__name__", None) or type(fn).__name__

    def forward(self, **inputs: Any) -> Any:
        result = self.fn(**inputs)
        if inspect.isawaitable(result):
            raise TypeError(f"{self.name} is async: call it with `await program.acall(...)`")
        return result

    async def aforward(self, **inputs: Any) -> Any:
        if inspect.iscoroutinefunction(self.fn):
            return await self.fn(**inputs)
        return await run_in_worker(self.fn, **inputs)

    def __repr__(self) -> str:
        return f"FunctionProgram({self.name})"


def as_program(program: Any) -> Any:
    """`program` itself when it is a program (has `acall`), a FunctionProgram around a plain function."""
    if callable(getattr(program, "acall", None)) or not callable(program):
        return program
    return FunctionProgram(program)
