"""What an evaluation returns: per-example records, the scores, a table, and readable reprs."""

from __future__ import annotations

import html
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dspex_lab.lm.usage import Usage

if TYPE_CHECKING:
    import pandas as pd


@dataclass(slots=True)
class ExampleResult:
    """One example's run: its prediction and scores, or the error that replaced them.

    A failed example scores the run's `failure_score` on every metric. `resumed`
    marks examples finished by an earlier session of the same run id (their
    `prediction` is rebuilt from the stored output fields, without raw text).
    Unpacks like DSPy's result tuples: `example, prediction, score = record`.
    """

    index: int
    example: Any
    prediction: Any = None
    scores: dict[str, float] = field(default_factory=dict)
    feedback: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None
    latency_ms: float = 0.0
    usage: Usage = field(default_factory=Usage)
    timed_out: bool = False
    resumed: bool = False

    @property
    def score(self) -> float:
        """The primary metric's score."""
        return next(iter(self.scores.values()))

    @property
    def cache_hit(self) -> bool:
        """Whether every LM call of this example was answered from the cache."""
        return self.usage.calls > 0 and self.usage.cache_hits == self.usage.calls

    def __iter__(self) -> Iterator[Any]:
        return iter((self.example, self.prediction, self.score))


def output_fields(prediction: Any) -> dict[str, Any]:
    """A prediction's output fields as a plain dict."""
    if prediction is None:
        return {}
    if hasattr(prediction, "to_dict"):
        return dict(prediction.to_dict())
    if isinstance(prediction, Mapping):
        return dict(prediction)
    return {"output": prediction}


def _fields(obj: Any, method: str) -> dict[str, Any]:
    part = getattr(obj, method, None)
    if part is None:
        return {}
    value = part()
    return output_fields(value)


class EvaluationResult:
    """The outcome of `dx.evaluate`: scores, per-example records, usage, and how the run ended.

    `.score` is the primary (first) metric's mean over the finished examples,
    failures counting as `failure_score`; `.scores` has every metric's mean.
    `status` is "completed", "cancelled" or "stopped" (see `.reason`); a
    cancelled or stopped result holds the examples finished before the stop.
    """

    def __init__(
        self,
        *,
        run_id: str,
        total: int,
        metrics: list[str],
        results: list[ExampleResult],
        status: str = "completed",
        reason: str | None = None,
        duration_s: float = 0.0,
        failure_score: float = 0.0,
    ) -> None:
        self.run_id = run_id
        self.total = total
        self.metrics = list(metrics)
        self.results = sorted(results, key=lambda record: record.index)
        self.status = status
        self.reason = reason
        self.duration_s = duration_s
        self.failure_score = failure_score

    @property
    def scores(self) -> dict[str, float]:
        """Mean score per metric over the finished examples (0.0 when none finished)."""
        count = len(self.results)
        return {
            name: (sum(record.scores[name] for record in self.results) / count if count else 0.0)
            for name in self.metrics
        }

    @property
    def score(self) -> float:
        return self.scores[self.metrics[0]]

    @property
    def finished(self) -> int:
        return len(self.results)

    @property
    def cancelled(self) -> bool:
        """True when the run ended before every example finished (cancelled or stopped)."""
        return self.status != "completed"

    @property
    def errors(self) -> list[ExampleResult]:
        """The examples that failed, with `.error` and `.traceback`."""
        return [record for record in self.results if record.error is not None]

    @property
    def usage(self) -> Usage:
        """Tokens, calls and cost of every LM call the run's examples made (metric calls included)."""
        total = Usage()
        for record in self.results:
            total.add(record.usage)
        return total

    @property
    def throughput(self) -> float | None:
        """Examples per second finished in this session."""
        fresh = sum(not record.resumed for record in self.results)
        return fresh / self.duration_s if fresh and self.duration_s > 0 else None

    def __float__(self) -> float:
        return float(self.score)

    def records(self) -> list[dict[str, Any]]:
        """One plain dict per finished example: inputs, expected, predicted, scores, error, cost."""
        rows = []
        for record in self.results:
            rows.append(
                {
                    "index": record.index,
                    "inputs": _fields(record.example, "inputs"),
                    "expected": _fields(record.example, "labels"),
                    "predicted": output_fields(record.prediction),
                    "scores": dict(record.scores),
                    "feedback": dict(record.feedback),
                    "error": record.error,
                    "traceback": record.traceback,
                    "timed_out": record.timed_out,
                    "latency_ms": record.latency_ms,
                    "usage": record.usage.to_dict(),
                    "cache_hit": record.cache_hit,
                    "resumed": record.resumed,
                }
            )
        return rows

    @property
    def table(self) -> pd.DataFrame:
        """A DataFrame, one row per finished example, indexed by example index.

        Columns: the input fields, `expected_<label>`, `predicted_<output>`,
        `score` (primary metric), `score_<name>` for further metrics,
        `feedback`, `error`, `latency_ms`, `tokens`, `cache_hit`.
        """
        import pandas as pd

        rows = []
        for record in self.records():
            row: dict[str, Any] = {"index": record["index"], **record["inputs"]}
            row.update({f"expected_{name}": value for name, value in record["expected"].items()})
            row.update({f"predicted_{name}": value for name, value in record["predicted"].items()})
            row["score"] = record["scores"][self.metrics[0]]
            row.update({f"score_{name}": record["scores"][name] for name in self.metrics[1:]})
            row["feedback"] = "; ".join(record["feedback"].values()) or None
            row["error"] = record["error"]
            row["latency_ms"] = record["latency_ms"]
            row["tokens"] = record["usage"]["total_tokens"]
            row["cache_hit"] = record["cache_hit"]
            rows.append(row)
        columns = ["index", "score", "error", "latency_ms", "tokens", "cache_hit"]
        frame = pd.DataFrame(rows) if rows else pd.DataFrame(columns=columns)
        return frame.set_index("index")

    def to_csv(self, path: str | Path | None = None) -> str | None:
        """The table as CSV: written to `path`, or returned as a string when no path is given."""
        return self.table.to_csv(path)

    def summary(self) -> dict[str, Any]:
        """The run's figures as a plain dict."""
        return {
            "run_id": self.run_id,
            "status": self.status,
            "reason": self.reason,
            "score": self.score,
            "scores": self.scores,
            "total": self.total,
            "finished": self.finished,
            "errors": len(self.errors),
            "failure_score": self.failure_score,
            "duration_s": self.duration_s,
            "usage": self.usage.to_dict(),
        }

    def to_json(self, path: str | Path | None = None) -> str:
        """The summary and every example record as JSON; also written to `path` when given."""
        text = json.dumps({**self.summary(), "examples": self.records()}, default=str, ensure_ascii=False)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def _lines(self) -> list[tuple[str, str]]:
        scores = self.scores
        lines = [(self.metrics[0], f"{scores[self.metrics[0]]:.4f}  (score: mean over finished examples)")]
        lines.extend((name, f"{scores[name]:.4f}") for name in self.metrics[1:])
        errors = self.errors
        timed_out = sum(record.timed_out for record in errors)
        resumed = sum(record.resumed for record in self.results)
        examples = f"{self.finished} of {self.total} finished, {len(errors)} error{'' if len(errors) == 1 else 's'}"
        if timed_out:
            examples += f" ({timed_out} timed out)"
        if resumed:
            examples += f", {resumed} resumed from an earlier session"
        lines.append(("examples", examples))
        usage = self.usage
        lines.append(
            ("usage", f"{usage.calls:,} LM calls, {usage.total_tokens:,} tokens, {usage.cache_hits:,} cache hits")
        )
        rate = self.throughput
        lines.append(("time", f"{self.duration_s:.2f} s" + (f", {rate:,.1f} examples/s" if rate else "")))
        if self.reason:
            lines.append(("reason", self.reason))
        for number, record in enumerate(errors[:3]):
            first_line = (record.error or "").splitlines()[0] if record.error else ""
            lines.append(("errors" if number == 0 else "", f"#{record.index}  {first_line[:200]}"))
        if len(errors) > 3:
            lines.append(("", f"... {len(errors) - 3} more in .errors"))
        return lines

    def __repr__(self) -> str:
        head = f"EvaluationResult  run={self.run_id!r}  status={self.status}"
        width = max(len(name) for name, _ in self._lines())
        body = "\n".join(f"  {name:<{width}}  {text}" for name, text in self._lines())
        return f"{head}\n{body}"

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><th style='text-align:left'>{html.escape(name)}</th>"
            f"<td style='text-align:left'>{html.escape(text)}</td></tr>"
            for name, text in self._lines()
        )
        return (
            f"<div><strong>EvaluationResult</strong> run <code>{html.escape(self.run_id)}</code>, "
            f"status <code>{html.escape(self.status)}</code>"
            f"<table>{rows}</table></div>"
        )
