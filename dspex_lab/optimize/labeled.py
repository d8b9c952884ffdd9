"""LabeledFewShot: give every predictor k training examples, as they are, as its demos."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from dspex_lab.example import Example
from dspex_lab.optimize.base import CompileReport, DemoOrigin, M, Optimizer, install_demos, mark_compiled, reset_copy
from dspex_lab.trace import events, schema


class LabeledFewShot(Optimizer):
    """`dx.LabeledFewShot(k=16).compile(student, trainset=train)`.

    Each predictor gets `k` examples drawn with `random.Random(seed)` (or the
    first `k` with `sample=False`), as DSPy does. No LM is called.
    """

    def __init__(self, k: int = 16, *, seed: int = 0) -> None:
        if isinstance(k, bool) or not isinstance(k, int) or k < 0:
            raise ValueError(f"k is the number of demos per predictor, a whole number >= 0; got {k!r}")
        self.k = k
        self.seed = seed

    def compile(self, student: M, *, trainset: Sequence[Example], sample: bool = True, **options: Any) -> M:
        """A copy of `student` whose predictors hold `k` training examples each; `student` is untouched."""
        return super().compile(student, trainset=trainset, sample=sample, **options)

    async def optimize(
        self, student: M, trainset: list[Example], report: CompileReport, *, sample: bool = True, **options: Any
    ) -> M:
        if options:
            raise TypeError(f"LabeledFewShot.compile() got unexpected option(s) {sorted(options)}")
        program = reset_copy(student)
        with events.span(schema.OptimizePhaseStart(phase="labeled", k=self.k), report.optimizer):
            report.demos = label(program, trainset, self.k, self.seed, report.optimizer, sample=sample)
        mark_compiled(program)
        report.status = "completed"
        return program


def label(
    program: M,
    trainset: list[Example],
    k: int,
    seed: int,
    component: str,
    *,
    sample: bool = True,
    role: str = "student",
    positions: list[int] | None = None,
) -> dict[str, list[DemoOrigin]]:
    """Install up to `k` training examples as every predictor's demos; returns their origins.

    `positions[i]` is the index reported for `trainset[i]` (default: i).
    """
    rng = random.Random(seed)
    count = min(k, len(trainset))
    chosen = {}
    for name, _ in program.named_predictors():
        indices = rng.sample(range(len(trainset)), count) if sample else list(range(count))
        chosen[name] = [(trainset[i], DemoOrigin("labeled", positions[i] if positions else i)) for i in indices]
    return install_demos(program, chosen, component, role=role)
