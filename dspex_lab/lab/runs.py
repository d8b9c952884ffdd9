"""An evaluation run read back from wherever it was kept: a result, the run store, or a saved file.

`open_run(source)` takes an `EvaluationResult`, a run id of the run store
(`dx.evaluate(..., run_id=...)` keeps every finished example there), a file
written by `result.to_json(path)`, or a saved evaluation document
(`.dspex.json`), and gives a `SavedRun`: its examples as the evaluation
panel's rows. The comparison of two runs and the JupyterLab extension's
Runs panel read runs through this one door.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dspex_lab.lab import document as doc
from dspex_lab.lab.examples import ExampleRow

RunSource = Any
"""An EvaluationResult, a run id in the run store, or a path to a saved run."""


@dataclass(slots=True)
class SavedRun:
    """One evaluation run's examples and figures, from any source."""

    run_id: str
    metrics: list[str]
    total: int
    rows: list[ExampleRow]
    status: str | None = None
    program: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def score(self) -> float | None:
        """The mean primary score over the finished examples (failed ones count their failure score)."""
        scores = [row.score for row in self.rows if row.score is not None]
        return sum(scores) / len(scores) if scores else None

    @property
    def tokens(self) -> int:
        return sum(row.tokens for row in self.rows)

    @property
    def cost(self) -> float | None:
        costs = [row.cost for row in self.rows if row.cost is not None]
        return sum(costs) if costs else None

    def document(self, threshold: float = 0.5, limit: int = 200) -> doc.Document:
        """The run as a panel document, as the evaluation panel would save it."""
        from dspex_lab.lab.evaluation import example_sections, outcome_counts, row_data

        rows = sorted(self.rows, key=lambda r: (r.error is None, r.score if r.score is not None else 0.0, r.index))
        counts = outcome_counts(rows, threshold)
        sections = [
            doc.stats(
                [
                    ("score", None if self.score is None else f"{self.score:.3f}"),
                    ("examples", f"{len(rows)}/{self.total}"),
                    ("passed ✓", counts["pass"]),
                    ("failed ✗", counts["fail"]),
                    ("errors", counts["error"]),
                    ("status", self.status),
                    ("tokens", f"{self.tokens:,}"),
                    ("cost", None if self.cost is None else f"${self.cost:.4f}"),
                ]
            ),
            *example_sections(rows, threshold, self.metrics, "failures first", limit),
        ]
        data = {
            "run_id": self.run_id,
            "status": self.status,
            "score": self.score,
            "total": self.total,
            "threshold": threshold,
            "metrics": self.metrics,
            "examples": [row_data(row, threshold) for row in rows[:limit]],
        }
        return doc.Document("evaluation", f"evaluation run {self.run_id}", sections, data)


def open_run(source: RunSource, *, store_path: str | os.PathLike[str] | None = None) -> SavedRun:
    """The run `source` names; see the module docstring. `store_path`: the run store file (default: the cache's)."""
    if isinstance(source, SavedRun):
        return source
    if hasattr(source, "results") and hasattr(source, "metrics"):
        return _from_result(source)
    if isinstance(source, os.PathLike) or (isinstance(source, str) and source.endswith(".json")):
        return _from_file(Path(source))
    if isinstance(source, str):
        return _from_store(source, store_path)
    raise TypeError(
        f"a run is an EvaluationResult, a run id of the run store, or a saved run's path; got {type(source).__name__}"
    )


def _row(
    index: int,
    scores: dict[str, float],
    *,
    error: str | None,
    traceback: str | None,
    outputs: dict[str, Any] | None,
    latency_ms: float | None,
    usage: dict[str, Any] | None,
    feedback: dict[str, str] | None = None,
    expected: dict[str, Any] | None = None,
    inputs: dict[str, Any] | None = None,
) -> ExampleRow:
    usage = usage or {}
    row = ExampleRow(index, next(iter(scores.values()), None), error, latency_ms)
    row.scores = dict(scores)
    row.feedback = dict(feedback or {})
    row.expected = dict(expected or {})
    row.inputs = dict(inputs or {})
    row.outputs = dict(outputs or {})
    row.traceback = traceback
    row.tokens = int(usage.get("prompt_tokens") or 0) + int(usage.get("completion_tokens") or 0)
    row.lm_calls = int(usage.get("calls") or 0)
    row.cost = usage.get("cost")
    return row


def _from_result(result: Any) -> SavedRun:
    from dspex_lab.evaluation.result import output_fields
    from dspex_lab.lab.examples import labels

    rows = [
        _row(
            record.index,
            record.scores,
            error=record.error,
            traceback=record.traceback,
            outputs=output_fields(record.prediction),
            latency_ms=record.latency_ms,
            usage=record.usage.to_dict(),
            feedback=record.feedback,
            expected=labels(record.example),
            inputs=dict(record.example.inputs().items()) if hasattr(record.example, "inputs") else {},
        )
        for record in result.results
    ]
    return SavedRun(result.run_id, list(result.metrics), result.total, rows, result.status)


def _from_store(run_id: str, store_path: str | os.PathLike[str] | None) -> SavedRun:
    from dspex_lab.evaluation.runstore import RunStore

    with RunStore(store_path) as store:
        listed = {run["run_id"]: run for run in store.runs()}
        if run_id not in listed:
            known = list(listed)[:10]
            raise KeyError(f"no run {run_id!r} in the run store {store.path}; its latest runs: {known}")
        stored = store.rows(run_id)
    rows = [
        _row(
            row["idx"],
            row["scores"],
            error=row["error"],
            traceback=row["traceback"],
            outputs=row["prediction"],
            latency_ms=row["latency_ms"],
            usage=row["usage"],
            feedback=row["feedback"],
        )
        for row in stored
    ]
    run = listed[run_id]
    status = "completed" if run["finished"] == run["total"] else "unfinished"
    return SavedRun(run_id, run["metrics"], run["total"], rows, status)


def _from_file(path: Path) -> SavedRun:
    if not path.exists():
        raise FileNotFoundError(f"no saved run at {path}")
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("format") == doc.FORMAT:
        if data.get("panel") != "evaluation":
            raise ValueError(f"{path} is a saved {data.get('panel')} panel, not an evaluation run")
        data = {**data["data"], "examples": data["data"].get("examples", [])}
    if "examples" not in data:
        raise ValueError(f"{path} is not a saved run (write one with result.to_json(path))")
    metrics = list(data.get("metrics") or data.get("scores") or [])
    rows = [
        _row(
            item["index"],
            item.get("scores") or ({metrics[0]: item["score"]} if metrics and item.get("score") is not None else {}),
            error=item.get("error"),
            traceback=item.get("traceback"),
            outputs=item.get("predicted", item.get("outputs")),
            latency_ms=item.get("latency_ms"),
            usage=item.get("usage") or {"cost": item.get("cost"), "prompt_tokens": item.get("tokens")},
            feedback=item.get("feedback"),
            expected=item.get("expected"),
            inputs=item.get("inputs"),
        )
        for item in data["examples"]
    ]
    return SavedRun(str(data.get("run_id") or path.stem), metrics, int(data.get("total") or len(rows)), rows,
                    data.get("status"))  # fmt: skip
