"""`dx.compare(run_a, run_b)`: what changed between two evaluation runs, example by example.

Zero-shot against compiled, before against after a prompt change: both runs
are read through `runs.open_run` (a result, a run id of the run store, or a
saved run), matched by example index, and returned as a DataFrame with one
row per example, the examples whose outcome flipped first (lost, then
gained), then by how much the score moved. In a notebook the comparison is
also displayed as a panel: score, cost, token and latency deltas, the
flipped examples, and, when the programs are passed, the prompt diff (each
predictor's instructions and demos).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dspex_lab.lab import document as doc
from dspex_lab.lab import render
from dspex_lab.lab.kernel import in_kernel
from dspex_lab.lab.panel import Panel, Widget
from dspex_lab.lab.runs import RunSource, SavedRun, open_run

if TYPE_CHECKING:
    import pandas as pd

FLIPS = ("lost", "gained")
"""`flip` values: "lost" passed in A and not in B; "gained" the reverse."""


def compare(
    run_a: RunSource,
    run_b: RunSource,
    *,
    program_a: Any = None,
    program_b: Any = None,
    threshold: float = 0.5,
    store_path: str | None = None,
    display: bool = True,
) -> pd.DataFrame:
    """Per-example differences between two runs (see the module docstring); shows a panel in a notebook.

    `program_a` / `program_b` add the prompt diff; `threshold` is the score
    at which an example passes; `store_path` is the run store for run ids.
    `ComparePanel(open_run(a), open_run(b))` is the panel on its own.
    """
    panel = ComparePanel(
        open_run(run_a, store_path=store_path),
        open_run(run_b, store_path=store_path),
        program_a=program_a,
        program_b=program_b,
        threshold=threshold,
    )
    if display and in_kernel():
        panel.show()
    return panel.frame


@dataclass(slots=True)
class CompareParts:
    """The widgets of a ComparePanel."""

    body: Widget


class ComparePanel(Panel[CompareParts]):
    """Two runs side by side; see the module docstring."""

    ROWS = 200

    def __init__(
        self, a: SavedRun, b: SavedRun, *, program_a: Any = None, program_b: Any = None, threshold: float = 0.5
    ) -> None:
        self.a, self.b = a, b
        self.threshold = float(threshold)
        self.prompt_diff = prompt_diff(program_a, program_b) if program_a is not None and program_b is not None else {}
        self.frame = _frame(a, b, self.threshold)

    @property
    def flipped(self) -> pd.DataFrame:
        """The examples whose outcome changed, lost first."""
        return self.frame[self.frame["flip"] != ""]

    def _build(self) -> Any:
        import ipywidgets as w

        from dspex_lab.lab import static

        self.parts = CompareParts(body=w.HTML(static.html(self.document().to_dict())))
        return w.VBox([self.parts.body], layout=w.Layout(width="100%"))

    def document(self) -> doc.Document:
        a, b, frame = self.a, self.b, self.frame
        lost = int((frame["flip"] == "lost").sum())
        gained = int((frame["flip"] == "gained").sum())
        sections = [
            doc.stats(
                [
                    ("score", f"{_f(a.score)} → {_f(b.score)} ({_delta(a.score, b.score)})"),
                    ("examples", f"{len(frame)} in both"),
                    ("lost", lost),
                    ("gained", gained),
                    ("tokens", f"{a.tokens:,} → {b.tokens:,}"),
                    ("cost", None if a.cost is None and b.cost is None else f"${a.cost or 0:.4f} → ${b.cost or 0:.4f}"),
                    ("latency (mean ms)", f"{_mean(frame['latency_ms_a'])} → {_mean(frame['latency_ms_b'])}"),
                    ("threshold", f"✓ = score ≥ {self.threshold:g}"),
                ]
            ),
            doc.bars(
                "score",
                [f"A {a.run_id}", f"B {b.run_id}"],
                [a.score or 0.0, b.score or 0.0],
            ),
            doc.bars("flipped examples", ["lost (✓ in A, not in B)", "gained (✓ in B, not in A)"], [lost, gained]),
        ]
        shown = frame.head(self.ROWS)
        columns = ["#", "flip", "score A", "score B", "expected", "predicted A", "predicted B", "error A", "error B"]
        columns += ["tokens A", "tokens B", "cost $ A", "cost $ B", "ms A", "ms B"]
        rows = [
            [
                index,
                item.flip,
                _f(item.score_a),
                _f(item.score_b),
                render.text(item.expected),
                render.text(item.predicted_a),
                render.text(item.predicted_b),
                item.error_a or "",
                item.error_b or "",
                item.tokens_a,
                item.tokens_b,
                "" if item.cost_a is None or item.cost_a != item.cost_a else f"{item.cost_a:.5f}",
                "" if item.cost_b is None or item.cost_b != item.cost_b else f"{item.cost_b:.5f}",
                _f(item.latency_ms_a, "{:.0f}"),
                _f(item.latency_ms_b, "{:.0f}"),
            ]
            for index, item in zip(shown.index.tolist(), shown.itertuples(index=False), strict=True)
        ]
        marks = ["fail" if flip == "lost" else ("pass" if flip == "gained" else "") for flip in shown["flip"]]
        note = None if len(frame) <= self.ROWS else f"{self.ROWS} of {len(frame)} examples; the DataFrame has all."
        sections.append(doc.table("examples, flipped first", columns, rows, marks=marks, note=note))
        if self.prompt_diff:
            sections.append(
                doc.details(
                    "prompt diff (instructions and demos)",
                    [doc.text(name, diff or "(no change)") for name, diff in self.prompt_diff.items()],
                )
            )
        data = {"a": a.run_id, "b": b.run_id, "score_a": a.score, "score_b": b.score, "lost": lost, "gained": gained}
        return doc.Document("compare", f"compare {a.run_id} (A) with {b.run_id} (B)", sections, data)

    def text(self) -> str:
        a, b, frame = self.a, self.b, self.frame
        lost = int((frame["flip"] == "lost").sum())
        gained = int((frame["flip"] == "gained").sum())
        lines = [
            f"ComparePanel  {a.run_id} (A) vs {b.run_id} (B)",
            f"  score {_f(a.score)} -> {_f(b.score)} ({_delta(a.score, b.score)}); lost {lost}, gained {gained}",
            f"  tokens {a.tokens:,} -> {b.tokens:,}"
            + ("" if a.cost is None and b.cost is None else f"; cost ${a.cost or 0:.4f} -> ${b.cost or 0:.4f}"),
        ]
        return "\n".join(lines)


def prompt_diff(program_a: Any, program_b: Any) -> dict[str, str]:
    """Per predictor, a unified diff of its instructions and demos from program A to program B."""
    found: dict[str, str] = {}
    for name, text_a, text_b in _paired_prompts(program_a, program_b):
        found[name] = "\n".join(
            difflib.unified_diff(text_a.splitlines(), text_b.splitlines(), "A", "B", lineterm="", n=2)
        )
    return found


def _paired_prompts(program_a: Any, program_b: Any) -> list[tuple[str, str, str]]:
    a = dict(_prompts(program_a))
    b = dict(_prompts(program_b))
    return [(name, a.get(name, ""), b.get(name, "")) for name in dict.fromkeys([*a, *b])]


def _prompts(program: Any) -> list[tuple[str, str]]:
    named = getattr(program, "named_predictors", None)
    if not callable(named):
        raise TypeError(f"program_a / program_b must be programs (dx.Module), got {type(program).__name__}")
    out = []
    for name, predictor in named():
        lines = [f"instructions: {getattr(predictor, 'instructions', '')}"]
        for number, demo in enumerate(getattr(predictor, "demos", []) or [], start=1):
            fields = dict(demo.items()) if hasattr(demo, "items") else {"demo": demo}
            lines.append(f"demo {number}: " + "; ".join(f"{k}={render.text(v, 200)}" for k, v in fields.items()))
        out.append((name, "\n".join(lines)))
    return out


def _frame(a: SavedRun, b: SavedRun, threshold: float) -> pd.DataFrame:
    import pandas as pd

    rows_a = {row.index: row for row in a.rows}
    rows_b = {row.index: row for row in b.rows}
    records = []
    for index in sorted(set(rows_a) & set(rows_b)):
        x, y = rows_a[index], rows_b[index]
        outcome_a, outcome_b = x.outcome(threshold), y.outcome(threshold)
        flip = ""
        if (outcome_a == "pass") != (outcome_b == "pass"):
            flip = "lost" if outcome_a == "pass" else "gained"
        records.append(
            {
                "index": index,
                "flip": flip,
                "score_a": x.score,
                "score_b": y.score,
                "delta": None if x.score is None or y.score is None else y.score - x.score,
                "outcome_a": outcome_a,
                "outcome_b": outcome_b,
                "expected": x.expected or y.expected,
                "predicted_a": x.outputs,
                "predicted_b": y.outputs,
                "error_a": x.error,
                "error_b": y.error,
                "tokens_a": x.tokens,
                "tokens_b": y.tokens,
                "cost_a": x.cost,
                "cost_b": y.cost,
                "latency_ms_a": x.latency_ms,
                "latency_ms_b": y.latency_ms,
            }
        )
    frame = pd.DataFrame.from_records(records, columns=_COLUMNS).set_index("index")
    order = frame["flip"].map({"lost": 0, "gained": 1, "": 2})
    moved = -frame["delta"].abs().fillna(0.0)
    frame = frame.assign(_order=order, _moved=moved).sort_values(["_order", "_moved"], kind="stable")
    return frame.drop(columns=["_order", "_moved"])


_COLUMNS = [
    "index",
    "flip",
    "score_a",
    "score_b",
    "delta",
    "outcome_a",
    "outcome_b",
    "expected",
    "predicted_a",
    "predicted_b",
    "error_a",
    "error_b",
    "tokens_a",
    "tokens_b",
    "cost_a",
    "cost_b",
    "latency_ms_a",
    "latency_ms_b",
]


def _f(value: Any, pattern: str = "{:.3f}") -> str:
    return "-" if value is None or value != value else pattern.format(value)


def _delta(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None else f"{b - a:+.3f}"


def _mean(values: Any) -> str:
    numbers = [float(v) for v in values if v is not None and v == v]
    return f"{sum(numbers) / len(numbers):.0f}" if numbers else "-"
