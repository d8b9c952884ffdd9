"""`dx.evaluate` / `dx.aevaluate` / `dx.Evaluate`: score a program on a dev set, concurrently and resumably."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from dspex_lab import settings
from dspex_lab.errors import ConfigurationError, Interrupted, TruncatedReplyError
from dspex_lab.evaluation.cancel import CancelToken
from dspex_lab.evaluation.engine import DEFAULT_CIRCUIT_WAIT, check_limits, run_each
from dspex_lab.evaluation.executor import Executor, Outcome
from dspex_lab.evaluation.identity import fingerprint
from dspex_lab.evaluation.metrics import Metric, MetricSet
from dspex_lab.evaluation.progress import ProgressConsumer
from dspex_lab.evaluation.progress import resolve as resolve_progress
from dspex_lab.evaluation.result import EvaluationResult, ExampleResult, output_fields
from dspex_lab.evaluation.runstore import RunStore, example_hash
from dspex_lab.lm.usage import Usage, current_usage
from dspex_lab.loop import run_sync
from dspex_lab.modules.function import as_program
from dspex_lab.options import check_number
from dspex_lab.prediction import Prediction

DEFAULT_CONCURRENCY = 16


def evaluate(
    program: Any,
    devset: Sequence[Any],
    metric: Metric | Mapping[str, Metric],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: bool | ProgressConsumer | None = None,
    max_errors: int | None = None,
    failure_score: float = 0.0,
    timeout: float | None = None,
    run_id: str | None = None,
    db_path: str | os.PathLike[str] | None = None,
    cancel: CancelToken | None = None,
    executor: Executor | None = None,
    circuit_wait: float = DEFAULT_CIRCUIT_WAIT,
    allow_truncated: bool = False,
    resume: str = "check",
) -> EvaluationResult:
    """Run `program` on every example of `devset` and score it with `metric`.

    Works in scripts and inside a running Jupyter kernel. Ctrl-C (or a kernel
    interrupt) stops the run and returns the partial result. See `aevaluate`
    for the arguments.
    """
    return run_sync(
        aevaluate(
            program,
            devset,
            metric,
            concurrency=concurrency,
            progress=progress,
            max_errors=max_errors,
            failure_score=failure_score,
            timeout=timeout,
            run_id=run_id,
            db_path=db_path,
            cancel=cancel,
            executor=executor,
            circuit_wait=circuit_wait,
            allow_truncated=allow_truncated,
            resume=resume,
        )
    )


async def aevaluate(
    program: Any,
    devset: Sequence[Any],
    metric: Metric | Mapping[str, Metric],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: bool | ProgressConsumer | None = None,
    max_errors: int | None = None,
    failure_score: float = 0.0,
    timeout: float | None = None,
    run_id: str | None = None,
    db_path: str | os.PathLike[str] | None = None,
    cancel: CancelToken | None = None,
    executor: Executor | None = None,
    circuit_wait: float = DEFAULT_CIRCUIT_WAIT,
    allow_truncated: bool = False,
    resume: str = "check",
) -> EvaluationResult:
    """Run `program` on every example of `devset` and score it with `metric`; the async form.

    - `metric`: `metric(example, prediction, trace=None)` or a two-argument
      function, sync or async, returning a bool, a number or (score, feedback);
      or a dict name -> metric (the first is the primary score).
    - `concurrency`: examples in flight at once.
    - `progress`: True (terminal bar, or the notebook panel in a kernel), False,
      or a progress consumer; None follows the `progress` setting (default True).
    - `max_errors`: stop once more than this many examples have failed.
    - `failure_score`: the score of an example that failed.
    - `timeout`: seconds one example may take before it counts as failed.
    - `run_id`: persist each finished example under this id (SQLite in the
      cache dir, or `db_path`); running again with the same id skips the
      examples already scored and runs the rest (failed ones included).
      The run keeps a fingerprint of the program (signatures, instructions,
      demos), its LMs (model and sampling options) and the metrics: resuming
      with other ones raises RunMismatchError, unless `resume="force"`. A run
      id in use by another live process is refused (RunLockedError).
    - `cancel`: a `CancelToken` that stops the run from any thread.
    - `executor`: where examples run (see `dspex_lab.evaluation.executor`).
    - `circuit_wait`: seconds an LM call waits for its open circuit breaker
      (after repeated provider failures) before the run stops as "stopped";
      a short outage delays the run instead of failing the remaining examples.
      0 fails those calls at once.
    - `allow_truncated`: score examples whose LM replies were cut off at
      max_tokens (with a warning) instead of recording them as errors.

    A `cancel` token (or `cancel_run`, or a Stop button) stops the run and the
    examples finished so far come back as a result with status "cancelled".
    If the task awaiting this is cancelled, it raises `dx.Interrupted` (a
    CancelledError) whose `partial` is that result.
    """
    metrics = MetricSet(metric)
    examples = _check_devset(devset)
    program = as_program(program)
    _check_program(program)
    check_limits(concurrency, timeout, max_errors, circuit_wait)
    failure_score = check_number("failure_score", failure_score)
    if resume not in ("check", "force"):
        raise ValueError(f'resume must be "check" or "force", got {resume!r}')
    if db_path is not None and run_id is None:
        raise ValueError("db_path is where a run's examples are kept for resuming; pass run_id= with it")
    if progress is None:
        progress = settings.get("progress", True)
    # Resolved here so the display that followed the run also gets its result (`on_result`, when it has one).
    display = resolve_progress(progress)

    failed_scores = dict.fromkeys(metrics.names, float(failure_score))
    # A configuration error (no API key, unknown model) fails every example alike: the run stops at the
    # first one and raises it, rather than finishing N identical error rows as "completed".
    token = cancel if cancel is not None else CancelToken()
    misconfigured: list[str] = []
    records: list[ExampleResult] = []
    store = RunStore(db_path) if run_id is not None else None
    truncated_examples: list[int] = []
    try:
        todo: list[int] | None = None
        hashes: list[str] = []
        if store is not None and run_id is not None:
            hashes = [example_hash(example) for example in examples]
            identity = fingerprint(program, metrics)
            begun = store.begin(run_id, hashes, metrics.names, identity, force=resume == "force")
            finished = [row for row in begun if row["error"] is None]
            records.extend(_restored(row, examples) for row in finished)
            done = {row["idx"] for row in finished}
            todo = [index for index in range(len(examples)) if index not in done]

        async def one(example: Any) -> tuple[Any, dict[str, float], dict[str, str]]:
            prediction = await program.acall(**example.inputs())
            used = current_usage()
            if used is not None and used.truncated:
                if not allow_truncated:
                    raise TruncatedReplyError(
                        f"{used.truncated} LM repl{'y' if used.truncated == 1 else 'ies'} of this example "
                        "were cut off at max_tokens (finish_reason='length'), so the answer may be "
                        "incomplete; raise max_tokens, or pass allow_truncated=True to score such replies"
                    )
                truncated_examples.append(1)
            scores, feedback = await metrics.score(example, prediction)
            return prediction, scores, feedback

        def finished_example(outcome: Outcome) -> None:
            if outcome.error is not None and outcome.error.startswith(f"{ConfigurationError.__name__}:"):
                if not misconfigured:
                    misconfigured.append(outcome.error)
                    token.cancel(f"stopped at the first configuration error: {outcome.error}")
                return
            record = _record(outcome, examples[outcome.index], failed_scores)
            records.append(record)
            if store is not None and run_id is not None:
                store.save(
                    run_id,
                    record.index,
                    hashes[record.index],
                    scores=record.scores,
                    feedback=record.feedback,
                    prediction=output_fields(record.prediction) if record.error is None else None,
                    error=record.error,
                    traceback=record.traceback,
                    latency_ms=record.latency_ms,
                    usage=record.usage.to_dict(),
                )

        primary = metrics.primary
        interrupted = False
        run = run_each(
            one,
            examples,
            indices=todo,
            concurrency=concurrency,
            timeout=timeout,
            max_errors=max_errors,
            circuit_wait=circuit_wait,
            run_id=run_id,
            progress=display if display is not None else False,
            cancel=token,
            executor=executor,
            on_outcome=finished_example,
            score_of=lambda outcome: outcome.value[1][primary] if outcome.ok else float(failure_score),
            label=f"evaluate {type(program).__name__}",
            start_info={
                "metrics": metrics.names,
                "resumed_score_sum": sum(record.score for record in records),
            },
        )
        try:
            report = await run
        except Interrupted as stop:
            report, interrupted = stop.partial, True
    finally:
        if store is not None:
            store.close()
    if misconfigured:
        raise ConfigurationError(misconfigured[0].split(": ", 1)[1])
    if truncated_examples:
        warnings.warn(
            f"{len(truncated_examples)} examples were scored on LM replies cut off at max_tokens "
            "(allow_truncated=True); raise max_tokens if their answers are incomplete",
            RuntimeWarning,
            stacklevel=2,
        )
    result = EvaluationResult(
        run_id=report.run_id,
        total=len(examples),
        metrics=metrics.names,
        results=records,
        status=report.status,
        reason=report.reason,
        duration_s=report.duration_s,
        failure_score=float(failure_score),
    )
    on_result = getattr(display, "on_result", None)
    if callable(on_result):
        try:
            on_result(result)
        except Exception:  # a broken display never costs the caller the result
            logging.getLogger(__name__).warning("progress display %r failed on the result", display, exc_info=True)
    if interrupted:
        raise Interrupted(result, f"evaluation {report.run_id} was cancelled: {report.reason}")
    return result


def _record(outcome: Outcome, example: Any, failed_scores: dict[str, float]) -> ExampleResult:
    usage = outcome.usage or Usage()
    if outcome.error is not None:
        return ExampleResult(
            outcome.index,
            example,
            scores=dict(failed_scores),
            error=outcome.error,
            traceback=outcome.traceback,
            latency_ms=outcome.latency_ms,
            usage=usage,
            timed_out=outcome.timed_out,
        )
    prediction, scores, feedback = outcome.value
    return ExampleResult(
        outcome.index, example, prediction, scores, feedback, latency_ms=outcome.latency_ms, usage=usage
    )


def _restored(row: dict[str, Any], examples: Sequence[Any]) -> ExampleResult:
    usage = row["usage"]
    return ExampleResult(
        row["idx"],
        examples[row["idx"]],
        Prediction(row["prediction"]),
        row["scores"],
        row["feedback"] or {},
        latency_ms=row["latency_ms"],
        usage=Usage(
            prompt_tokens=usage["prompt_tokens"],
            completion_tokens=usage["completion_tokens"],
            cost=usage["cost"],
            calls=usage["calls"],
            cache_hits=usage["cache_hits"],
        ),
        resumed=True,
    )


def _check_devset(devset: Sequence[Any]) -> list[Any]:
    if isinstance(devset, str | bytes | Mapping) or not hasattr(devset, "__iter__"):
        raise TypeError(f"devset must be a list of dx.Example, got {type(devset).__name__}")
    examples = list(devset)
    for index, example in enumerate(examples):
        if not callable(getattr(example, "inputs", None)):
            hint = " (wrap it: dx.Example(**item).with_inputs('question'))" if isinstance(example, Mapping) else ""
            raise TypeError(f"devset[{index}] is a {type(example).__name__}, not a dx.Example{hint}")
        try:
            example.inputs()
        except ValueError as exc:
            raise ValueError(f"devset[{index}]: {exc}") from None
    return examples


def _check_program(program: Any) -> None:
    if not callable(getattr(program, "acall", None)):
        raise TypeError(f"program must be a dx.Module or a function of the inputs, got {type(program).__name__}")


class Evaluate:
    """DSPy's evaluator, on the async engine: `dx.Evaluate(devset=..., metric=..., num_threads=8)(program)`.

    `num_threads` is the number of examples in flight at once (no threads are
    used). Arguments given when calling override those given here.
    """

    def __init__(
        self,
        *,
        devset: Sequence[Any],
        metric: Metric | Mapping[str, Metric] | None = None,
        num_threads: int | None = None,
        display_progress: bool | ProgressConsumer | None = None,
        display_table: bool | int = False,
        max_errors: int | None = None,
        failure_score: float = 0.0,
        timeout: float | None = None,
        run_id: str | None = None,
        db_path: str | os.PathLike[str] | None = None,
        executor: Executor | None = None,
        circuit_wait: float = DEFAULT_CIRCUIT_WAIT,
        allow_truncated: bool = False,
    ) -> None:
        check_limits(num_threads if num_threads is not None else DEFAULT_CONCURRENCY, timeout, max_errors, circuit_wait)
        check_number("failure_score", failure_score)
        self.devset = devset
        self.display_table = display_table
        self.metric = metric
        self.num_threads = num_threads
        self.circuit_wait = circuit_wait
        self.allow_truncated = allow_truncated
        self.display_progress = display_progress
        self.max_errors = max_errors
        self.failure_score = failure_score
        self.timeout = timeout
        self.run_id = run_id
        self.db_path = db_path
        self.executor = executor

    def __call__(
        self,
        program: Any,
        metric: Metric | Mapping[str, Metric] | None = None,
        devset: Sequence[Any] | None = None,
        num_threads: int | None = None,
        display_progress: bool | ProgressConsumer | None = None,
        display_table: bool | int | None = None,
        *,
        run_id: str | None = None,
        cancel: CancelToken | None = None,
    ) -> EvaluationResult:
        """Evaluate `program`; the synchronous form of `acall`."""
        call = self.acall(
            program, metric, devset, num_threads, display_progress, display_table, run_id=run_id, cancel=cancel
        )
        return run_sync(call)

    async def acall(
        self,
        program: Any,
        metric: Metric | Mapping[str, Metric] | None = None,
        devset: Sequence[Any] | None = None,
        num_threads: int | None = None,
        display_progress: bool | ProgressConsumer | None = None,
        display_table: bool | int | None = None,
        *,
        run_id: str | None = None,
        cancel: CancelToken | None = None,
    ) -> EvaluationResult:
        """Evaluate `program` with this evaluator's settings, overridden by any given here.

        With `display_table` (True, or a number of rows), the per-example table is shown
        afterwards, as DSPy's Evaluate does: rendered in a notebook, printed elsewhere.
        """
        metric = metric if metric is not None else self.metric
        if metric is None:
            raise TypeError("Evaluate needs a metric: pass metric= to Evaluate(...) or when calling it")
        threads = num_threads if num_threads is not None else self.num_threads
        result = await aevaluate(
            program,
            devset if devset is not None else self.devset,
            metric,
            concurrency=threads if threads is not None else DEFAULT_CONCURRENCY,
            progress=display_progress if display_progress is not None else self.display_progress,
            max_errors=self.max_errors,
            failure_score=self.failure_score,
            timeout=self.timeout,
            run_id=run_id if run_id is not None else self.run_id,
            db_path=self.db_path,
            cancel=cancel,
            executor=self.executor,
            circuit_wait=self.circuit_wait,
            allow_truncated=self.allow_truncated,
        )
        table = display_table if display_table is not None else self.display_table
        if table:
            _show_table(result, table)
        return result

    def __repr__(self) -> str:
        threads = self.num_threads if self.num_threads is not None else DEFAULT_CONCURRENCY
        return f"Evaluate(devset=<{len(self.devset)} examples>, num_threads={threads})"


def _show_table(result: EvaluationResult, rows: bool | int) -> None:
    """Show the first `rows` rows of the result table (all for True)."""
    table = result.table
    if rows is not True:
        table = table.head(int(rows))
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        print(table.to_string())
        return
    if get_ipython() is None:
        print(table.to_string())
    else:
        display(table)
