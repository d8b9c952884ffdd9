"""BootstrapFewShotWithRandomSearch: compile several candidate programs, score each on a valset, keep the best.

The candidates, in DSPy's order: the zero-shot student, the student with
labeled demos only, plain BootstrapFewShot, then `num_candidate_programs`
bootstraps over a seeded shuffle of the trainset, each with a seeded number of
bootstrapped demos between 1 and `max_bootstrapped_demos`. Each is scored on the
valset by the evaluation engine; the first best score wins ties.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from dspex_lab import settings
from dspex_lab.evaluation.evaluator import aevaluate
from dspex_lab.evaluation.executor import Executor
from dspex_lab.evaluation.result import EvaluationResult
from dspex_lab.example import Example
from dspex_lab.modules.module import Module
from dspex_lab.optimize.base import (
    CompileReport,
    M,
    Optimizer,
    check_trainset,
    demo_budget,
    mark_compiled,
    reset_copy,
)
from dspex_lab.optimize.bootstrap import BootstrapFewShot
from dspex_lab.optimize.labeled import LabeledFewShot
from dspex_lab.trace import events, schema


@dataclass(slots=True)
class Candidate:
    """One candidate program and how it scored on the valset.

    `kind` is "zero-shot", "labeled", "bootstrap" or "random bootstrap"; `seed`
    is DSPy's candidate seed (-3, -2, -1 for the first three, then 0, 1, ...).
    """

    index: int
    kind: str
    seed: int
    program: Module = field(repr=False)
    score: float
    evaluation: EvaluationResult = field(repr=False)
    report: CompileReport | None = field(default=None, repr=False)

    @property
    def demo_counts(self) -> dict[str, int]:
        return {name: len(predictor.demos) for name, predictor in self.program.named_predictors()}


KINDS = {-3: "zero-shot", -2: "labeled", -1: "bootstrap"}


class BootstrapFewShotWithRandomSearch(Optimizer):
    """Random search over bootstrapped demo sets, scored on a valset.

        search = dx.BootstrapFewShotWithRandomSearch(metric, num_candidate_programs=8)
        program = search.compile(student, trainset=train, valset=dev)

    Returns the best candidate; `candidates` keeps every one with its score and
    evaluation, `best` the winner. The bootstrap options are BootstrapFewShot's;
    `stop_at_score` ends the search once a candidate reaches it; `seed` offsets
    every candidate's seed; `concurrency` is used by teacher runs and scoring alike,
    and so is `executor` (`dx.DaskExecutor(client)` runs both on a Dask cluster).
    `stratify` is BootstrapFewShot's: with it (the default) each random candidate's
    bootstrap orders the trainset by label in turn under that candidate's seed
    (DSPy shuffles the trainset per candidate instead); False is DSPy's behaviour.
    """

    def __init__(
        self,
        metric: Callable[..., Any],
        teacher_settings: dict[str, Any] | None = None,
        max_bootstrapped_demos: int = 4,
        max_labeled_demos: int | None = None,
        max_rounds: int = 1,
        num_candidate_programs: int = 8,
        max_errors: int | None = None,
        stop_at_score: float | None = None,
        metric_threshold: float | None = None,
        *,
        seed: int = 0,
        concurrency: int = 8,
        stratify: bool = True,
        progress: bool | None = None,
        executor: Executor | None = None,
    ) -> None:
        if not callable(metric):
            raise TypeError("BootstrapFewShotWithRandomSearch needs a metric(example, prediction, trace=None) to rank")
        if isinstance(num_candidate_programs, bool) or not isinstance(num_candidate_programs, int):
            raise ValueError(f"num_candidate_programs must be a whole number >= 0, got {num_candidate_programs!r}")
        if num_candidate_programs < 0:
            raise ValueError(f"num_candidate_programs must be a whole number >= 0, got {num_candidate_programs!r}")
        self.metric = metric
        self.teacher_settings = teacher_settings
        self.max_bootstrapped_demos = max_bootstrapped_demos
        self.max_labeled_demos = max_labeled_demos
        self.max_rounds = max_rounds
        self.num_candidate_programs = num_candidate_programs
        self.max_errors = max_errors
        self.stop_at_score = stop_at_score
        self.metric_threshold = metric_threshold
        self.seed = seed
        self.stratify = bool(stratify)
        self.concurrency = concurrency
        self.progress = progress
        self.executor = executor
        # Checks the bootstrap options once, before anything runs.
        self._bootstrapper(max_bootstrapped_demos)
        self.candidates: list[Candidate] = []
        self.best: Candidate | None = None

    def _bootstrapper(self, size: int, seed: int = 0) -> BootstrapFewShot:
        return BootstrapFewShot(
            self.metric,
            self.metric_threshold,
            max_bootstrapped_demos=size,
            max_labeled_demos=self.max_labeled_demos,
            max_rounds=self.max_rounds,
            max_errors=self.max_errors,
            teacher_settings=self.teacher_settings,
            seed=self.seed + seed,
            stratify=self.stratify,
            concurrency=self.concurrency,
            progress=self.progress,
            executor=self.executor,
        )

    def compile(
        self,
        student: M,
        *,
        trainset: Sequence[Example],
        teacher: Module | None = None,
        valset: Sequence[Example] | None = None,
        restrict: Sequence[int] | None = None,
        labeled_sample: bool = True,
        **options: Any,
    ) -> M:
        """The best candidate, scored on `valset` (the trainset when None); `student` is untouched.

        `restrict` limits the search to these candidate seeds (DSPy's: -3 zero-shot,
        -2 labeled, -1 bootstrap, 0.. random bootstraps).
        """
        return super().compile(
            student,
            trainset=trainset,
            teacher=teacher,
            valset=valset,
            restrict=restrict,
            labeled_sample=labeled_sample,
            **options,
        )

    async def optimize(
        self,
        student: M,
        trainset: list[Example],
        report: CompileReport,
        *,
        teacher: Module | None = None,
        valset: Sequence[Example] | None = None,
        restrict: Sequence[int] | None = None,
        labeled_sample: bool = True,
        **options: Any,
    ) -> M:
        if options:
            raise TypeError(f"BootstrapFewShotWithRandomSearch.compile() got unexpected option(s) {sorted(options)}")
        if restrict is not None:
            unknown = sorted(set(restrict) - set(range(-3, self.num_candidate_programs)))
            if unknown:
                raise ValueError(
                    f"restrict names candidate seeds {unknown} this search does not have; "
                    f"its seeds are -3..{self.num_candidate_programs - 1}"
                )
        scored_on = check_trainset(valset, "valset") if valset is not None else trainset
        self.candidates = []
        self.best = None
        progress = settings.get("progress", True) if self.progress is None else self.progress
        for seed in range(-3, self.num_candidate_programs):
            if restrict is not None and seed not in restrict:
                continue
            index = len(self.candidates)
            kind = KINDS.get(seed, "random bootstrap")
            phase = schema.OptimizePhaseStart(phase="candidate", index=index, candidate=kind)
            with events.span(phase, report.optimizer):
                program, inner = await self._candidate(seed, student, teacher, trainset, report, labeled_sample)
                if inner is not None and inner.status == "cancelled":
                    report.status, report.reason = "cancelled", inner.reason
                    break
                evaluation = await aevaluate(
                    program,
                    scored_on,
                    self.metric,
                    concurrency=self.concurrency,
                    progress=progress,
                    executor=self.executor,
                )
                if evaluation.status != "completed":
                    report.status, report.reason = "cancelled", evaluation.reason
                    break
                candidate = Candidate(index, kind, seed, program, evaluation.score, evaluation, inner)
                self.candidates.append(candidate)
                if self.best is None or candidate.score > self.best.score:
                    self.best = candidate
                events.emit(
                    schema.OptimizeCandidate(
                        index=index,
                        candidate=kind,
                        seed=seed,
                        score=candidate.score,
                        best=self.best is candidate,
                        demos=candidate.demo_counts,
                        eval_run_id=evaluation.run_id,
                    ),
                    report.optimizer,
                )
            if self.stop_at_score is not None and candidate.score >= self.stop_at_score:
                break
        if self.best is None:
            best = reset_copy(student)
        else:
            best = cast(M, self.best.program)  # a compiled copy of the student
            if self.best.report is not None:
                report.demos = self.best.report.demos
        mark_compiled(best)
        if report.status == "running":
            report.status = "completed"
        return best

    async def _candidate(
        self,
        seed: int,
        student: M,
        teacher: Module | None,
        trainset: list[Example],
        report: CompileReport,
        labeled_sample: bool,
    ) -> tuple[M, CompileReport | None]:
        """Candidate `seed`'s program, compiled under this search's run id, and its compile report."""
        if seed == -3:
            return reset_copy(student), None
        if seed == -2:
            optimizer: Optimizer = LabeledFewShot(demo_budget(student, self.max_labeled_demos), seed=self.seed)
            program = await optimizer.acompile(student, trainset=trainset, run_id=report.run_id, sample=labeled_sample)
            return program, optimizer.report
        if seed == -1:
            optimizer = self._bootstrapper(self.max_bootstrapped_demos)
            program = await optimizer.acompile(student, trainset=trainset, run_id=report.run_id, teacher=teacher)
            return program, optimizer.report
        order = list(range(len(trainset)))
        random.Random(self.seed + seed).shuffle(order)
        size = random.Random(self.seed + seed).randint(1, max(1, self.max_bootstrapped_demos))
        # Stratified, the bootstrap orders the examples itself: its seed, not the shuffle, makes each candidate's set.
        optimizer = self._bootstrapper(size, seed + 1 if self.stratify else 0)
        program = await optimizer.acompile(
            student,
            trainset=[trainset[i] for i in order],
            run_id=report.run_id,
            teacher=teacher,
            positions=order,
        )
        return program, optimizer.report
