"""What every optimizer shares: the sync/async compile entry points, the traced compile run, and demo installation.

A compile runs inside `events.run(run_id)` and an `optimize` span, so everything
it causes (teacher calls, candidate evaluations, demo changes) can be found and
replayed from the trace store. Demos reach predictors only through
`install_demos`, which assigns them (recorded as `state.change` events) and
emits one `optimize.demos` event per predictor saying where each demo came from.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from dspex_lab import settings
from dspex_lab.errors import DspexError, Interrupted
from dspex_lab.evaluation.engine import new_run_id
from dspex_lab.example import Example
from dspex_lab.fields import jsonable
from dspex_lab.loop import run_sync
from dspex_lab.modules.module import Module
from dspex_lab.trace import events, schema

if TYPE_CHECKING:
    from dspex_lab.modules.predict import Predict

M = TypeVar("M", bound=Module)


class OptimizationError(DspexError, RuntimeError):
    """A compile could not finish (too many failed teacher runs, say); the message says why."""


@dataclass(frozen=True, slots=True)
class DemoOrigin:
    """Where one installed demo came from.

    `origin` is "bootstrapped" (a teacher trace that passed the metric) or
    "labeled" (a training example as it is); `train_index` is its position in the
    trainset the compile was given.
    """

    origin: str
    train_index: int | None

    def record(self) -> schema.DemoOrigin:
        """As the trace records it."""
        return schema.DemoOrigin(origin=self.origin, train_index=self.train_index)

    def to_dict(self) -> dict[str, Any]:
        return self.record().to_dict()


@dataclass(slots=True)
class CompileReport:
    """What one compile did: its run id (for the trace store), how it ended, and each predictor's demo origins."""

    optimizer: str
    run_id: str
    status: str = "running"
    reason: str | None = None
    duration_s: float = 0.0
    demos: dict[str, list[DemoOrigin]] = field(default_factory=dict)

    def __repr__(self) -> str:
        counts = ", ".join(
            f"{name}: {sum(o.origin == 'bootstrapped' for o in origins)} bootstrapped + "
            f"{sum(o.origin == 'labeled' for o in origins)} labeled"
            for name, origins in self.demos.items()
        )
        extra = f", reason={self.reason!r}" if self.reason else ""
        return (
            f"CompileReport({self.optimizer}, run_id={self.run_id!r}, status={self.status!r}, "
            f"{self.duration_s:.2f} s, demos {{{counts}}}{extra})"
        )


@dataclass(frozen=True, slots=True)
class RunningCompile:
    """The compile running in the current context: what a progress display needs to show it as one."""

    run_id: str
    optimizer: str
    start: schema.OptimizeStart
    span_id: int | None
    """The compile span's id (None when no event goes anywhere)."""


_running_compile: ContextVar[RunningCompile | None] = ContextVar("dspex_compile", default=None)


def running_compile() -> RunningCompile | None:
    """The outermost compile running in this context (an optimizer's inner compiles belong to it), or None."""
    return _running_compile.get()


class Optimizer:
    """Base class of optimizers: a subclass implements the coroutine `optimize`, and gets the rest.

    `compile(student, trainset=...)` works in scripts and in a running Jupyter
    kernel; `acompile(...)` is the async form. Both check their arguments, run
    `optimize` inside a traced compile (a run id, an `optimize` span, the
    notebook's OptimizationPanel) and fill `report` with what the compile did.
    Settings given to `__init__` and kept as attributes of the same names are
    recorded with the compile (see `params`).

    A custom optimizer that gives every predictor the first `k` examples::

        class FirstK(dx.Optimizer):
            def __init__(self, k: int = 4) -> None:
                self.k = k

            async def optimize(self, student, trainset, report, **options):
                program = student.deepcopy()
                for predictor in program.predictors():
                    predictor.demos = trainset[: self.k]
                report.status = "completed"
                return program

        compiled = FirstK(k=2).compile(dx.Predict("question -> answer"), trainset=train)
    """

    report: CompileReport | None = None

    def compile(self, student: M, *, trainset: Sequence[Example], **options: Any) -> M:
        """A compiled copy of `student`; `student` itself is left as it was."""
        return run_sync(self.acompile(student, trainset=trainset, **options))

    async def acompile(
        self, student: M, *, trainset: Sequence[Example], run_id: str | None = None, **options: Any
    ) -> M:
        """The async form of `compile`.

        Args:
            student: the program to compile (left as it is).
            trainset: the training examples.
            run_id: tags the compile's events (a fresh id when None).
            **options: passed to `optimize` (a `teacher`, a `valset`, ...).

        Raises `dx.Interrupted` when the task awaiting it is cancelled.
        """
        check_program(student, "student")
        examples = check_trainset(trainset)
        name = type(self).__name__
        report = CompileReport(name, run_id or new_run_id("optimize"))
        self.report = report
        started = time.perf_counter()
        start = schema.OptimizeStart(
            optimizer=name,
            student=type(student).__name__,
            predictors=[n for n, _ in student.named_predictors()],
            trainset=len(examples),
            params=self.params(),
        )
        with events.run(report.run_id), events.span(start, name) as span:
            outermost = _running_compile.get() is None
            token = (
                _running_compile.set(RunningCompile(report.run_id, name, start, span.span_id)) if outermost else None
            )
            try:
                program = await self.optimize(student, examples, report, **options)
            except asyncio.CancelledError:
                # The teacher's partial run is no compiled program: the caller gets the cancellation.
                report.status = "cancelled"
                report.reason = report.reason or "interrupted: the compile task was cancelled"
                raise Interrupted(None, f"compile {report.run_id} was cancelled") from None
            finally:
                if token is not None:
                    _running_compile.reset(token)
                report.duration_s = time.perf_counter() - started
                if report.status == "running":
                    report.status = "failed"
                demos = {n: [o.record() for o in origins] for n, origins in report.demos.items()}
                span.set(status=report.status, reason=report.reason, demos=demos)
                if span.span_id is None and events.tracing_active():
                    # Tracing was off when the compile started, but a display has subscribed since: tell it.
                    end = schema.OptimizeEnd(report.status, report.duration_s * 1000, None, report.reason, demos)
                    events.emit(end, name)
        return program

    async def optimize(self, student: M, trainset: list[Example], report: CompileReport, **options: Any) -> M:
        """The compile itself: return a compiled copy of `student`, leaving `student` as it is.

        Args:
            student: the program to compile (checked: a module with predictors).
            trainset: the training examples, checked and as a list.
            report: what this compile did, shown and kept as `self.report`: set
                `report.status` to "completed" at the end (it reads "failed"
                otherwise), and `report.demos` to each predictor's demo origins.
            **options: the keyword arguments given to `compile` beyond `trainset`.

        Events emitted here belong to the compile's run; use `install_demos` to
        install demos so the demo inspector can tell where each came from.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must define `async def optimize(self, student, trainset, report, **options)`"
        )

    def params(self) -> dict[str, Any]:
        """The optimizer's settings (its constructor's arguments), as recorded in the `optimize.start` event."""
        names = [name for name in inspect.signature(type(self).__init__).parameters if name != "self"]
        return {name: jsonable(getattr(self, name)) for name in names if hasattr(self, name)}

    def __repr__(self) -> str:
        shown = ", ".join(f"{key}={value!r}" for key, value in self.params().items())
        return f"{type(self).__name__}({shown})"


# --- shared steps -------------------------------------------------------------------------------


def reset_copy(program: M) -> M:
    """An uncompiled copy of `program` with no demos; `program` is untouched."""
    copy = program.deepcopy()
    copy.reset_demos()
    object.__setattr__(copy, "_compiled", False)
    return copy


def is_compiled(program: Module) -> bool:
    return bool(getattr(program, "_compiled", False))


def mark_compiled(program: Module) -> None:
    object.__setattr__(program, "_compiled", True)


def install_demos(
    program: Module,
    chosen: Mapping[str, Sequence[tuple[Example, DemoOrigin]]],
    component: str,
    *,
    role: str = "student",
) -> dict[str, list[DemoOrigin]]:
    """Assign each named predictor its demos and emit an `optimize.demos` event per predictor.

    `component` is the optimizer's name in events; `role` tells the student's
    demos from those given to an internal teacher.
    """
    predictors = dict(program.named_predictors())
    installed: dict[str, list[DemoOrigin]] = {}
    for name, pairs in chosen.items():
        predictor: Predict = predictors[name]
        predictor.demos = [demo for demo, _ in pairs]
        origins = [origin for _, origin in pairs]
        installed[name] = origins
        events.emit(
            schema.OptimizeDemos(
                predictor=name,
                uid=predictor.uid,
                role=role,
                count=len(pairs),
                demos=[origin.record() for origin in origins],
            ),
            component,
        )
    return installed


def check_program(program: Any, what: str) -> None:
    if not isinstance(program, Module):
        raise TypeError(f"{what} must be a dx.Module (for example dx.Predict('question -> answer')), got {program!r}")
    if not program.named_predictors():
        raise ValueError(f"{what} {type(program).__name__} has no predictors, so there is nowhere to put demos")


def check_trainset(trainset: Sequence[Example], what: str = "trainset") -> list[Example]:
    """The examples as a list, or an error naming the first bad one and the fix."""
    if isinstance(trainset, str | bytes | Mapping) or not hasattr(trainset, "__iter__"):
        raise TypeError(f"{what} must be a list of dx.Example, got {type(trainset).__name__}")
    examples = list(trainset)
    for index, example in enumerate(examples):
        if not isinstance(example, Example):
            hint = " (wrap it: dx.Example(**item).with_inputs('question'))" if isinstance(example, Mapping) else ""
            raise TypeError(f"{what}[{index}] is a {type(example).__name__}, not a dx.Example{hint}")
        if example.input_keys is None:
            raise ValueError(
                f"{what}[{index}] has no input keys; mark them with example.with_inputs('question', ...) "
                f"(its fields: {list(example)})"
            )
    return examples


DEFAULT_MAX_DEMOS = 16
"""DSPy's `max_labeled_demos`."""


def demo_budget(program: Module, max_labeled_demos: int | None) -> int:
    """`max_labeled_demos`, or when None the `max_demos` of the LM the program runs on (16 with no LM)."""
    if max_labeled_demos is not None:
        return max_labeled_demos
    lm = next((predictor.lm for predictor in program.predictors() if predictor.lm is not None), None)
    lm = lm or settings.get("lm")
    return int(getattr(lm, "max_demos", DEFAULT_MAX_DEMOS))
