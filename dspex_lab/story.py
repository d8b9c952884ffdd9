"""The whole story in one call: a shipped task, zero-shot score, BootstrapFewShot, compiled score, saved program.

    story = run_story("sentiment")          # the embedded model, offline
    print(story)                            # before/after table and the demos chosen

`run_story` returns a `Story` holding both evaluations, the compiled program,
the optimizer (its `attempts` are the teacher runs each bootstrapped demo came
from) and the time each step took, so a caller can print it its own way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dspex_lab import datasets
from dspex_lab.adapters.base import Adapter
from dspex_lab.evaluation.evaluator import DEFAULT_CONCURRENCY, aevaluate
from dspex_lab.evaluation.result import EvaluationResult
from dspex_lab.lm.base import BaseLM
from dspex_lab.loop import run_sync
from dspex_lab.modules.module import Module
from dspex_lab.modules.predict import Predict
from dspex_lab.optimize.bootstrap import BootstrapFewShot
from dspex_lab.settings import context, current_adapter

DEFAULT_MODEL = "local/smollm2-135m"


def embedded_lm(**options: Any) -> BaseLM:
    """The story's default model: the embedded SmolLM2-135M with the library's defaults, its cache off so
    every reply is generated (and timed); `options` are passed to `dx.LM` (`n_threads`, `instances`, ...)."""
    from dspex_lab.lm.factory import LM

    return LM(DEFAULT_MODEL, **{"cache": False, **options})


@dataclass(slots=True)
class Story:
    """What `run_story` did: the scores before and after compiling, the program, and the time each step took.

    `timings` has `zero_shot_s`, `compile_s`, `compiled_s` and `total_s`.
    """

    task: str
    model: str
    adapter: str
    trainset: int
    before: EvaluationResult = field(repr=False)
    after: EvaluationResult = field(repr=False)
    program: Module = field(repr=False)
    optimizer: BootstrapFewShot = field(repr=False)
    timings: dict[str, float] = field(default_factory=dict)
    saved_to: Path | None = None

    @property
    def gain(self) -> float:
        """Compiled accuracy minus zero-shot accuracy, on the dev set."""
        return self.after.score - self.before.score

    def table(self) -> str:
        """The before/after table: accuracy, replies parsed, LM calls, tokens and time for each program."""
        rows = [("program", "accuracy", "parsed", "LM calls", "tokens", "time")]
        for name, result, seconds in (
            ("zero-shot", self.before, self.timings.get("zero_shot_s", 0.0)),
            ("compiled", self.after, self.timings.get("compiled_s", 0.0)),
        ):
            usage = result.usage
            rows.append(
                (
                    name,
                    f"{result.score:.1%}",
                    f"{parse_rate(result):.1%}",
                    f"{usage.calls:,}",
                    f"{usage.total_tokens:,}",
                    f"{seconds:.1f} s",
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        return "\n".join(
            "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
            for row in rows
        )

    def demos_text(self) -> str:
        """Each installed demo: where it came from (the teacher run, or the trainset as labeled) and its fields."""
        report = self.optimizer.report
        passed = {attempt.index: attempt for attempt in self.optimizer.attempts if attempt.passed}
        lines = []
        predictors = dict(self.program.named_predictors())
        for name, origins in (report.demos if report else {}).items():
            lines.append(f"demos of predictor {name!r}:")
            for number, (origin, demo) in enumerate(zip(origins, predictors[name].demos), start=1):
                if origin.origin == "bootstrapped":
                    run = passed.get(origin.train_index) if origin.train_index is not None else None
                    where = f"bootstrapped from trainset[{origin.train_index}]"
                    if run is not None:
                        where += f" (teacher run, round {run.round}, score {run.score})"
                else:
                    where = f"labeled, trainset[{origin.train_index}]"
                shown = ", ".join(f"{key}={_short(value)}" for key, value in demo.items() if key != "augmented")
                lines.append(f"  {number}. {where}: {shown}")
        return "\n".join(lines)

    def __str__(self) -> str:
        attempts = self.optimizer.attempts
        passed = sum(a.passed for a in attempts)
        failed = sum(a.error is not None for a in attempts)
        head = (
            f"task {self.task!r} on {self.model} with {self.adapter}: {self.trainset} training examples, "
            f"{self.after.total} dev examples"
        )
        compile_line = (
            f"compile: BootstrapFewShot made {len(attempts)} teacher runs ({passed} passed, {failed} failed) "
            f"in {self.timings.get('compile_s', 0.0):.1f} s"
        )
        lines = [head, "", self.table(), "", compile_line, self.demos_text()]
        lines.append("")
        lines.append(
            f"dev accuracy {self.before.score:.1%} -> {self.after.score:.1%} ({self.gain:+.1%}); "
            f"total {self.timings.get('total_s', 0.0):.1f} s"
        )
        if self.saved_to is not None:
            lines.append(f"compiled program saved to {self.saved_to}")
        return "\n".join(lines)


def parse_rate(result: EvaluationResult) -> float:
    """The share of finished examples whose replies parsed (no error)."""
    return 1.0 - len(result.errors) / result.finished if result.finished else 0.0


def run_story(
    task: str = "sentiment",
    *,
    lm: BaseLM | None = None,
    dev_size: int | None = None,
    max_bootstrapped_demos: int = 4,
    max_labeled_demos: int | None = None,
    save_to: str | Path | None = None,
    progress: bool | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    adapter: Adapter | None = None,
) -> Story:
    """Evaluate the task's program zero-shot, compile it with BootstrapFewShot, evaluate it again.

    - `lm`: the model; `embedded_lm()` when None (SmolLM2-135M, cache off, so the
      timings are those of real generation).
    - `adapter`: how prompts are written and replies read; when None, the
      configured one, else the model's own default (JSONAdapter for the embedded
      model, ChatAdapter for others).
    - `dev_size`: score on the first `dev_size` dev examples (all when None).
    - `max_bootstrapped_demos`, `max_labeled_demos`: BootstrapFewShot's (None:
      the model's `max_demos`, 8 on the embedded model).
    - `save_to`: write the compiled program there (JSON, `dx.load` reads it back).
    - `concurrency`: examples in flight (the embedded model answers as many at
      once as it has copies, one per core by default).
    """
    return run_sync(
        arun_story(
            task,
            lm=lm,
            dev_size=dev_size,
            max_bootstrapped_demos=max_bootstrapped_demos,
            max_labeled_demos=max_labeled_demos,
            save_to=save_to,
            progress=progress,
            concurrency=concurrency,
            adapter=adapter,
        )
    )


async def arun_story(
    task: str = "sentiment",
    *,
    lm: BaseLM | None = None,
    dev_size: int | None = None,
    max_bootstrapped_demos: int = 4,
    max_labeled_demos: int | None = None,
    save_to: str | Path | None = None,
    progress: bool | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    adapter: Adapter | None = None,
) -> Story:
    """The async form of `run_story`."""
    spec = datasets.task(task)
    train, dev = spec.load()
    if dev_size is not None:
        dev = dev[:dev_size]
    if lm is None:
        lm = embedded_lm()
    if adapter is None:
        adapter = current_adapter(lm)
    student = Predict(spec.signature)
    options: dict[str, Any] = {"concurrency": concurrency, "progress": progress}
    started = time.perf_counter()
    with context(lm=lm, adapter=adapter):
        before = await aevaluate(student, dev, spec.metric, **options)
        zero_shot_s = time.perf_counter() - started
        optimizer = BootstrapFewShot(
            spec.metric,
            max_bootstrapped_demos=max_bootstrapped_demos,
            max_labeled_demos=max_labeled_demos,
            **options,
        )
        program = await optimizer.acompile(student, trainset=train)
        compile_s = time.perf_counter() - started - zero_shot_s
        after = await aevaluate(program, dev, spec.metric, **options)
    total_s = time.perf_counter() - started
    story = Story(
        task=task,
        model=lm.model,
        adapter=adapter.name,
        trainset=len(train),
        before=before,
        after=after,
        program=program,
        optimizer=optimizer,
        timings={
            "zero_shot_s": zero_shot_s,
            "compile_s": compile_s,
            "compiled_s": total_s - zero_shot_s - compile_s,
            "total_s": total_s,
        },
    )
    if save_to is not None:
        story.saved_to = program.save(save_to)
    return story


def _short(value: Any, limit: int = 70) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
