"""BootstrapFewShot: keep the teacher's traces that pass the metric as demos, then fill up with labeled examples.

DSPy's semantics, run concurrently through the evaluation engine:

- the teacher is a copy of `teacher` (default: of the student) which, unless
  already compiled, gets `max_labeled_demos` labeled demos (LabeledFewShot);
  when `max_labeled_demos` is None (the default) it is the model's `max_demos`:
  DSPy's 16, or 8 on the embedded model, which follows 8 demos better;
- training examples are tried in turn; each gets up to `max_rounds` attempts,
  rounds after the first drawing a fresh sample (temperature 1.0, its own
  `rollout_id`, so a re-run is repeatable through the cache);
- while an example runs it is left out of the teacher's own demos;
- every predictor call of a passing run becomes a demo of that predictor,
  intermediate fields such as `reasoning` included;
- the first `max_bootstrapped_demos` passing examples in that turn are kept
  (however the concurrent runs finish), the run stops once they are known;
- each predictor then gets labeled demos from the examples that were not
  bootstrapped, up to `max_labeled_demos` in all (bootstrapped first);
- the student passed in is never changed: a compiled copy is returned.

Where this differs from DSPy (`stratify=True`, the default): DSPy tries the
examples in trainset order and draws the labeled demos at random. A weak
teacher passes only the examples whose label is its favourite answer, so with
DSPy's order every demo can end up carrying one label, and a trainset grouped
by label decides which. Here the examples are first put in `balanced_order`
(one example of each label in turn, each label's examples in an order set by
`seed` and their content), and the labeled demos are the next examples in that
order. The demos are then laid out in the prompt label by label, with the
label nearest the question chosen by scoring each choice on training examples
that are not demos (`layout`): a small model otherwise tends to answer the
label of the last demo to everything. The result no longer depends on the order the
trainset arrives in, and the demos cover the labels the trainset has. The
counts, the seeding and the rest are DSPy's. `stratify=False` gives DSPy's exact
behaviour: trainset order, labeled demos drawn with `random.Random(seed)`,
bootstrapped demos before labeled ones.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from dspex_lab import settings
from dspex_lab.evaluation.cancel import CancelToken
from dspex_lab.evaluation.engine import run_each
from dspex_lab.evaluation.executor import Executor, Outcome
from dspex_lab.example import Example
from dspex_lab.modules.module import Module
from dspex_lab.optimize.attempt import Attempt, MetricCheck, run_attempt
from dspex_lab.optimize.base import (
    CompileReport,
    DemoOrigin,
    M,
    OptimizationError,
    Optimizer,
    check_program,
    demo_budget,
    install_demos,
    is_compiled,
    mark_compiled,
    reset_copy,
)
from dspex_lab.optimize.labeled import label
from dspex_lab.optimize.layout import Demos, lay_out
from dspex_lab.optimize.order import balanced_order, label_key, values_key
from dspex_lab.trace import events, schema

DEFAULT_MAX_ERRORS = 10
"""The failed teacher runs that stop a compile when `max_errors` is None (DSPy's default)."""

FRESH_TEMPERATURE = 1.0


class BootstrapFewShot(Optimizer):
    """`dx.BootstrapFewShot(metric).compile(student, trainset=train)`; see the module docstring.

    - `metric(example, prediction, trace=None)`: a run passes when its score is
      truthy, or at least `metric_threshold` when one is given (None: all pass).
    - `max_errors`: the compile stops with OptimizationError when this many teacher
      runs have failed (an LM, parse or metric error), as DSPy raises when its
      error count reaches max_errors; None means 10.
    - `teacher_settings`: settings for the teacher's runs, as `dx.context(**...)`
      takes them (for instance `{"lm": bigger_lm}`).
    - `seed`: seeds every random draw, so the same inputs compile the same program.
    - `stratify`: try examples, pick labeled demos and lay the demos out label by
      label, whatever the trainset's order (default); False keeps DSPy's
      trainset order, random labeled demos and demo order exactly.
    - `concurrency`: teacher runs in flight at once; `progress`: as in `dx.evaluate`.
    - `executor`: where the teacher runs go (`dx.DaskExecutor(client)` for a
      Dask cluster); the current process when None.

    After a compile, `attempts` lists every teacher run and `report` says what
    was installed where; the events of the run (`report.run_id`) replay it.
    """

    def __init__(
        self,
        metric: Callable[..., Any] | None = None,
        metric_threshold: float | None = None,
        max_bootstrapped_demos: int = 4,
        max_labeled_demos: int | None = None,
        max_rounds: int = 1,
        max_errors: int | None = None,
        teacher_settings: dict[str, Any] | None = None,
        *,
        seed: int = 0,
        stratify: bool = True,
        concurrency: int = 8,
        progress: bool | None = None,
        executor: Executor | None = None,
    ) -> None:
        for name, value, least in (
            ("max_bootstrapped_demos", max_bootstrapped_demos, 0),
            ("max_rounds", max_rounds, 1),
            ("concurrency", concurrency, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"{name} must be a whole number >= {least}, got {value!r}")
        for name, optional in (("max_labeled_demos", max_labeled_demos), ("max_errors", max_errors)):
            if optional is not None and (isinstance(optional, bool) or not isinstance(optional, int) or optional < 0):
                raise ValueError(f"{name} must be a whole number >= 0 or None, got {optional!r}")
        unknown = sorted(set(teacher_settings or {}) - set(settings.KNOWN_SETTINGS))
        if unknown:
            raise TypeError(
                f"teacher_settings has unknown setting(s) {unknown}; known settings are {list(settings.KNOWN_SETTINGS)}"
            )
        self.metric = metric
        self.metric_threshold = metric_threshold
        self.max_bootstrapped_demos = max_bootstrapped_demos
        self.max_labeled_demos = max_labeled_demos
        self.max_rounds = max_rounds
        self.max_errors = max_errors
        self.teacher_settings = dict(teacher_settings or {})
        self.seed = seed
        self.stratify = bool(stratify)
        self.concurrency = concurrency
        self.progress = progress
        self.executor = executor
        self._metric_check = MetricCheck(metric, metric_threshold)
        self.attempts: list[Attempt] = []

    def compile(self, student: M, *, trainset: Sequence[Example], teacher: Module | None = None, **options: Any) -> M:
        """A compiled copy of `student`; `teacher` (default: a copy of the student) makes the traces."""
        return super().compile(student, trainset=trainset, teacher=teacher, **options)

    async def optimize(
        self,
        student: M,
        trainset: list[Example],
        report: CompileReport,
        *,
        teacher: Module | None = None,
        positions: Sequence[int] | None = None,
        **options: Any,
    ) -> M:
        """Bootstrap demos with `teacher` and install them in a copy of `student`.

        `positions[i]` is what events and demo origins call `trainset[i]` (default: i).

        A caller that reorders a larger trainset passes the original positions, so
        every index reported refers to the trainset the person gave.
        """
        if options:
            raise TypeError(f"BootstrapFewShot.compile() got unexpected option(s) {sorted(options)}")
        if positions is not None and len(positions) != len(trainset):
            raise ValueError(f"positions has {len(positions)} entries for {len(trainset)} training examples")
        where = list(positions) if positions is not None else list(range(len(trainset)))
        if self.stratify:
            order = balanced_order(trainset, self.seed)
            trainset, where = [trainset[i] for i in order], [where[i] for i in order]
        self.attempts = []
        program = reset_copy(student)
        labeled = demo_budget(student, self.max_labeled_demos)
        teachers = self._teachers(student, teacher, trainset, where, report, labeled)
        names = _predictor_names(program, teachers)
        passed = await self._bootstrap(teachers, names, trainset, where, report)
        with events.span(schema.OptimizePhaseStart(phase="install"), report.optimizer):
            chosen = self._choose(program, trainset, where, passed, labeled)
            if self.stratify and report.status == "running":
                chosen = await lay_out(
                    program,
                    chosen,
                    list(zip(where, trainset)),
                    self._excess(trainset, where, passed),
                    self.metric,
                    self.seed,
                    component=report.optimizer,
                    concurrency=self.concurrency,
                    executor=self.executor,
                )
            report.demos = install_demos(program, chosen, report.optimizer)
        mark_compiled(program)
        if report.status == "running":
            report.status = "completed"
        return program

    # --- the teacher ------------------------------------------------------------------------------

    def _teachers(
        self,
        student: Module,
        teacher: Module | None,
        trainset: list[Example],
        where: list[int],
        report: CompileReport,
        labeled: int,
    ) -> list[Module]:
        """The teacher of each round: round 0's (`labeled` labeled demos), then copies whose own LMs sample
        afresh."""
        if teacher is not None:
            check_program(teacher, "teacher")
        base = (teacher if teacher is not None else student).deepcopy()
        if labeled and not is_compiled(base):
            phase = schema.OptimizePhaseStart(phase="teacher", k=labeled)
            with events.span(phase, report.optimizer):
                base.reset_demos()
                label(base, trainset, labeled, self.seed, report.optimizer, role="teacher", positions=where)
        teachers = [base]
        for round_index in range(1, self.max_rounds):
            variant = base.deepcopy()
            for predictor in variant.predictors():
                if predictor.lm is not None:
                    predictor.lm = predictor.lm.copy(temperature=FRESH_TEMPERATURE, rollout_id=round_index)
            teachers.append(variant)
        return teachers

    def _context(self, round_index: int) -> dict[str, Any]:
        """Settings for a teacher run: `teacher_settings`, and after round 0 an LM that samples afresh."""
        context = dict(self.teacher_settings)
        if round_index > 0:
            lm = context.get("lm") or settings.get("lm")
            if lm is not None:
                context["lm"] = lm.copy(temperature=FRESH_TEMPERATURE, rollout_id=round_index)
        return context

    # --- bootstrapping ----------------------------------------------------------------------------

    async def _bootstrap(
        self,
        teachers: list[Module],
        names: _PredictorNames,
        trainset: list[Example],
        where: list[int],
        report: CompileReport,
    ) -> dict[int, Attempt]:
        """The passing attempt of each of the first `max_bootstrapped_demos` examples that pass, by trainset index."""
        limit = self.max_bootstrapped_demos
        if limit == 0 or not trainset:
            return {}
        search = _Search(limit, DEFAULT_MAX_ERRORS if self.max_errors is None else self.max_errors)
        try_example = _TeacherRuns(
            teachers,
            names,
            where,
            self._metric_check,
            [self._context(round_index) for round_index in range(self.max_rounds)],
            self.seed,
            report.optimizer,
            search.halt,
        )

        def finished(outcome: Outcome) -> None:
            attempts = outcome.value if outcome.ok else None
            for attempt in attempts or ():
                self.attempts.append(attempt)
                if attempt.error is not None:
                    search.failed(attempt)
            search.finished(outcome)

        phase = schema.OptimizePhaseStart(phase="bootstrap", examples=len(trainset), max_bootstrapped_demos=limit)
        with events.span(phase, report.optimizer) as span:
            run = await run_each(
                try_example,
                list(enumerate(trainset)),
                concurrency=self.concurrency,
                run_id=report.run_id,
                progress=settings.get("progress", True) if self.progress is None else self.progress,
                cancel=search.token,
                executor=self.executor,
                on_outcome=finished,
                score_of=lambda outcome: 1.0 if outcome.ok and _passed(outcome.value) is not None else 0.0,
                component=report.optimizer,
                label=f"{report.optimizer}: teacher runs",
                kinds=schema.TEACHER,
            )
            span.set(attempts=len(self.attempts), failures=len(search.failures), stopped=search.stopped)
        if search.stopped == "errors":
            report.status, report.reason = "failed", search.token.reason
            raise OptimizationError(f"{report.optimizer} stopped: {search.token.reason}") from search.failures[
                0
            ].exception
        if run.status != "completed" and search.stopped is None:
            report.status, report.reason = "cancelled", run.reason
        return search.chosen()

    def _choose(
        self, program: Module, trainset: list[Example], where: list[int], passed: dict[int, Attempt], budget: int
    ) -> Demos:
        """Bootstrapped demos, then labeled ones drawn from the examples that were not bootstrapped, `budget` in
        all."""
        chosen: dict[str, list[tuple[Example, DemoOrigin]]] = {name: [] for name, _ in program.named_predictors()}
        for index in sorted(passed):
            for name, demo in passed[index].demos.items():
                chosen[name].append((demo, DemoOrigin("bootstrapped", where[index])))
        leftover = [(where[index], example) for index, example in enumerate(trainset) if index not in passed]
        if not self.stratify:
            random.Random(self.seed).shuffle(leftover)
        rng = random.Random(self.seed)
        for pairs in chosen.values():
            del pairs[self.max_bootstrapped_demos :]
            size = max(0, min(budget - len(pairs), len(leftover)))
            # Stratified, the leftover is already in balanced order: its head covers the labels.
            labeled = leftover[:size] if self.stratify else rng.sample(leftover, size)
            pairs.extend((example, DemoOrigin("labeled", position)) for position, example in labeled)
        return chosen

    def _excess(self, trainset: list[Example], where: list[int], passed: Mapping[int, Attempt]) -> Counter[str]:
        """Per label, how many more teacher runs answered it than had it as their truth.

        Only the examples up to the last one kept count when the search found all
        it wanted: which runs beyond it had started when it stopped depends on timing.
        """
        settled = max(passed) + 1 if passed and len(passed) >= self.max_bootstrapped_demos else len(trainset)
        at = dict(zip(where[:settled], trainset[:settled]))
        excess: Counter[str] = Counter()
        for attempt in self.attempts:
            if attempt.outputs is None or attempt.index not in at:
                continue
            truth = at[attempt.index]
            excess[values_key({name: attempt.outputs.get(name) for name in truth.labels()})] += 1
            excess[label_key(truth)] -= 1
        return excess


class _Halt:
    """Set once the search has settled, so a teacher run about to start a round does not.

    A copy sent to another process starts unset: there the run is stopped by cancelling its work.
    """

    __slots__ = ("set",)

    def __init__(self) -> None:
        self.set = False

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Halt, ())


class _TeacherRuns:
    """The work done for one training example: up to one teacher run per round, until one passes.

    Returns the attempts made (the last one passed, if any did). It holds only
    what the runs need, so it can be sent to another process (a Dask worker).
    """

    def __init__(
        self,
        teachers: list[Module],
        names: _PredictorNames,
        where: list[int],
        check: MetricCheck,
        contexts: list[dict[str, Any]],
        seed: int,
        component: str,
        halt: _Halt,
    ) -> None:
        self.teachers = teachers
        self.names = names
        self.where = where
        self.check = check
        self.contexts = contexts
        self.seed = seed
        self.component = component
        self.halt = halt

    async def __call__(self, item: tuple[int, Example]) -> list[Attempt]:
        index, example = item
        attempts: list[Attempt] = []
        for round_index, teacher in enumerate(self.teachers):
            if self.halt.set:
                break
            attempt = await run_attempt(
                teacher,
                self.names,
                example,
                self.where[index],
                round_index,
                self.check,
                self.contexts[round_index],
                self.seed,
                self.component,
            )
            attempts.append(attempt)
            if attempt.passed:
                break
        return attempts


def _passed(attempts: list[Attempt] | None) -> Attempt | None:
    """The passing attempt among an example's attempts, if any."""
    return attempts[-1] if attempts and attempts[-1].passed else None


class _Search:
    """Which examples passed so far, and when to stop: enough passes are known, or too many errors."""

    def __init__(self, limit: int, max_errors: int) -> None:
        self.limit = limit
        self.max_errors = max_errors
        self.token = CancelToken()
        self.halt = _Halt()
        self.results: dict[int, Attempt | None] = {}
        self.failures: list[Attempt] = []
        self.stopped: str | None = None

    def failed(self, attempt: Attempt) -> None:
        self.failures.append(attempt)
        if len(self.failures) >= self.max_errors and self.stopped is None:
            self.stopped = "errors"
            self.halt.set = True
            first = self.failures[0]
            self.token.cancel(
                f"{len(self.failures)} teacher runs failed, reaching max_errors={self.max_errors}; "
                f"first error, on trainset[{first.index}]: {first.error}"
            )

    def finished(self, outcome: Outcome) -> None:
        """Record an example's outcome; stop the run once the first `limit` passes are settled."""
        self.results[outcome.index] = _passed(outcome.value) if outcome.ok else None
        if self.stopped is None and self._settled() is not None:
            self.stopped = "enough"
            self.halt.set = True
            self.token.cancel(f"found the first {self.limit} passing examples; the rest of the trainset is not needed")

    def _settled(self) -> list[int] | None:
        """The indices of the first `limit` passing examples, once every example before them has finished."""
        found = []
        index = 0
        while index in self.results:
            if self.results[index] is not None:
                found.append(index)
                if len(found) == self.limit:
                    return found
            index += 1
        return None

    def chosen(self) -> dict[int, Attempt]:
        """The passing attempts kept: the first `limit` in trainset order (of those that ran, if interrupted)."""
        indices = self._settled()
        if indices is None:
            indices = sorted(index for index, attempt in self.results.items() if attempt is not None)[: self.limit]
        return {index: self.results[index] for index in indices}  # type: ignore[misc]


class _PredictorNames(Mapping[int, str]):
    """id(teacher predictor) -> predictor name; made again from the predictors themselves after unpickling."""

    def __init__(self, pairs: list[tuple[Any, str]]) -> None:
        self.pairs = pairs
        self._by_id = {id(predictor): name for predictor, name in pairs}

    def __getitem__(self, key: int) -> str:
        return self._by_id[key]

    def __iter__(self) -> Iterator[int]:
        return iter(self._by_id)

    def __len__(self) -> int:
        return len(self._by_id)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_PredictorNames, (self.pairs,))


def _predictor_names(student: Module, teachers: list[Module]) -> _PredictorNames:
    """id(teacher predictor) -> predictor name, after checking each teacher matches the student."""
    mine = student.named_predictors()
    names: list[tuple[Any, str]] = []
    for teacher in teachers:
        theirs = teacher.named_predictors()
        if [name for name, _ in mine] != [name for name, _ in theirs]:
            raise ValueError(
                f"the teacher must have the student's predictors: the student has {[n for n, _ in mine]}, "
                f"the teacher {[n for n, _ in theirs]}"
            )
        for (name, own), (_, other) in zip(mine, theirs):
            if own.signature.signature != other.signature.signature:
                raise ValueError(
                    f"predictor {name!r}: the teacher's signature '{other.signature.signature}' differs from "
                    f"the student's '{own.signature.signature}'"
                )
            names.append((other, name))
    return _PredictorNames(names)
