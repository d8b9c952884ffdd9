"""Per-example records of a run, read from the event store: what each example was asked, answered and cost.

The engine runs each example inside an item span (`EvaluateItemStart`: its
index) and reports it with an `EvaluateExample` event (score, error,
latency). Everything the example caused nests under its item span: the
program's spans (`ProgramStart` / `ProgramEnd`: inputs, outputs), the LM's
(`LMRequest` / `LMResponse`: messages, reply text, tokens) and the adapter's
`AdapterParse` events (parse errors with the raw reply). `RunExamples`
gathers those into one `ExampleRow` per example and, on demand, the full
`ExampleDetail` of one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dspex_lab.trace import schema
from dspex_lab.trace.query import get_events
from dspex_lab.trace.query import spans as get_spans

if TYPE_CHECKING:
    import pandas as pd

    from dspex_lab.trace.store import EventStore

ITEM = schema.EvaluateItemStart.KIND
PROGRAM = schema.ProgramStart.KIND
LM_CALL = schema.LMRequest.KIND


@dataclass(slots=True)
class ExampleRow:
    """One example of a run, as the results table shows it."""

    index: int
    score: float | None
    error: str | None
    latency_ms: float | None
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    lm_calls: int = 0
    tokens: int = 0
    cache_hits: int = 0
    lm_ms: float = 0.0
    """Time spent inside LM calls (the rest of `latency_ms` is waiting for a slot, parsing, the metric)."""
    cost: float | None = None
    """USD, when the LM's price is known."""
    scores: dict[str, float] = field(default_factory=dict)
    """Every metric's score (filled from the run's result; the trace keeps the primary score only)."""
    feedback: dict[str, str] = field(default_factory=dict)
    expected: dict[str, Any] = field(default_factory=dict)
    """The example's labels: what the metric compared the outputs with."""
    traceback: str | None = None

    @property
    def failed(self) -> bool:
        """Whether the example raised (in the program or the metric); a low score is `outcome`'s business."""
        return self.error is not None

    @property
    def wait_ms(self) -> float | None:
        """The example's time outside LM calls: waiting for a slot or the model, parsing, scoring."""
        return None if self.latency_ms is None else max(0.0, self.latency_ms - self.lm_ms)

    def outcome(self, threshold: float) -> str:
        """ "error" when it raised, else "pass" when its score is at least `threshold`, else "fail"."""
        if self.error is not None:
            return "error"
        return "pass" if self.score is not None and self.score >= threshold else "fail"


@dataclass(slots=True)
class LMCall:
    """One LM request under an example, with its reply."""

    component: str
    messages: Any
    reply: str | None
    status: str
    error: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    cost: float | None
    cache_hit: bool | None
    duration_ms: float | None


@dataclass(slots=True)
class ExampleDetail:
    """Everything recorded under one example: its row, its LM calls, parse errors, and the program's error."""

    row: ExampleRow
    calls: list[LMCall]
    parse_errors: list[schema.AdapterParse]
    program_error: str | None


SORTS: dict[str, Callable[[ExampleRow], Any]] = {
    "failures first": lambda r: (not r.failed, r.score if r.score is not None else float("inf"), r.index),
    "score (low to high)": lambda r: (r.score if r.score is not None else float("inf"), r.index),
    "score (high to low)": lambda r: (-(r.score if r.score is not None else float("-inf")), r.index),
    "slowest first": lambda r: (-(r.latency_ms or 0.0), r.index),
    "most time in the LM first": lambda r: (-r.lm_ms, r.index),
    "most time waiting first": lambda r: (-(r.wait_ms or 0.0), r.index),
    "example index": lambda r: r.index,
}
"""How the results table can be ordered; the first is the default."""


class RunExamples:
    """The examples of run `run_id` in `store`, read once from the store's spans and events."""

    def __init__(self, store: EventStore, run_id: str) -> None:
        self.store = store
        self.run_id = run_id
        spans = get_spans(run_id=run_id, store=store, payload=True)
        self._spans = spans
        self._item_of = _item_index(spans)
        reported = get_events(kind=schema.EvaluateExample.KIND, run_id=run_id, store=store)
        rows: dict[int, ExampleRow] = {}
        for payload in reported["payload"].tolist():
            example = schema.EvaluateExample.of(payload)
            if isinstance(example.index, int):
                rows[example.index] = ExampleRow(example.index, example.score, example.error, example.latency_ms)
        kinds = dict(zip(spans.index.tolist(), spans["kind"].tolist(), strict=True))
        for span_id, row in zip(spans.index.tolist(), spans.itertuples(index=False), strict=True):
            index = self._item_of.get(span_id)
            if index is None or index not in rows:
                continue
            target = rows[index]
            if row.kind == PROGRAM and kinds.get(_id(row.parent_id)) == ITEM:
                target.inputs = dict(schema.ProgramStart.of(row.start_payload).inputs or {})
                target.outputs = dict(schema.ProgramEnd.of(row.end_payload).outputs or {})
            elif row.kind == LM_CALL:
                reply = schema.LMResponse.of(row.end_payload)
                target.lm_calls += 1
                target.tokens += int(reply.prompt_tokens or 0) + int(reply.completion_tokens or 0)
                target.cache_hits += bool(reply.cache_hit)
                target.lm_ms += _number(row.duration_ms) or 0.0
                if reply.cost is not None:
                    target.cost = (target.cost or 0.0) + float(reply.cost)
        self.rows = sorted(rows.values(), key=lambda r: r.index)

    def add_result(self, result: Any) -> None:
        """Fill each row's metrics, feedback, labels and traceback from the run's `EvaluationResult`."""
        by_index = {record.index: record for record in getattr(result, "results", [])}
        for row in self.rows:
            record = by_index.get(row.index)
            if record is None:
                continue
            row.scores = dict(record.scores)
            row.feedback = dict(record.feedback)
            row.traceback = record.traceback
            row.expected = labels(record.example)
            if row.cost is None and record.usage.cost is not None:
                row.cost = record.usage.cost

    def sorted(self, order: str = "failures first") -> list[ExampleRow]:
        """The rows in one of the `SORTS` orders."""
        key = SORTS.get(order)
        if key is None:
            raise ValueError(f"unknown order {order!r}; choose one of {list(SORTS)}")
        return sorted(self.rows, key=key)

    def detail(self, index: int) -> ExampleDetail:
        """The LM calls, parse errors and program error recorded under example `index`."""
        row = next((r for r in self.rows if r.index == index), None)
        if row is None:
            raise KeyError(
                f"example {index} did not run in {self.run_id!r}; it has examples {[r.index for r in self.rows]}"
            )
        spans = self._spans
        mine = [span_id for span_id in spans.index.tolist() if self._item_of.get(span_id) == index]
        program_error = next(
            (
                str(spans.at[sid, "error"])
                for sid in mine
                if spans.at[sid, "kind"] == PROGRAM and spans.at[sid, "error"]
            ),
            None,
        )
        return ExampleDetail(row, lm_calls(spans, mine), parse_errors(self.store, self.run_id, mine), program_error)


def labels(example: Any) -> dict[str, Any]:
    """An example's label fields (its fields that are not inputs)."""
    method = getattr(example, "labels", None)
    if callable(method):
        found = method()
        return dict(found.items()) if hasattr(found, "items") else {}
    return {}


def lm_calls(spans: pd.DataFrame, span_ids: list[int]) -> list[LMCall]:
    """The LM calls among `span_ids` (rows of a spans frame read with payload=True), in start order."""
    calls = []
    for span_id in span_ids:
        if spans.at[span_id, "kind"] != LM_CALL:
            continue
        request = schema.LMRequest.of(spans.at[span_id, "start_payload"])
        reply = schema.LMResponse.of(spans.at[span_id, "end_payload"])
        calls.append(
            LMCall(
                str(spans.at[span_id, "component"]),
                request.messages,
                reply.text,
                str(spans.at[span_id, "status"]),
                spans.at[span_id, "error"],
                reply.prompt_tokens,
                reply.completion_tokens,
                reply.cost,
                reply.cache_hit,
                _number(spans.at[span_id, "duration_ms"]),
            )
        )
    return calls


def parse_errors(store: EventStore, run_id: str, span_ids: list[int]) -> list[schema.AdapterParse]:
    """The failed `AdapterParse` events (error, raw reply) emitted inside `span_ids`."""
    parsed = get_events(kind=schema.AdapterParse.KIND, run_id=run_id, store=store)
    inside = set(span_ids)
    found = [
        schema.AdapterParse.of(payload)
        for payload, parent in zip(parsed["payload"].tolist(), parsed["parent_id"].tolist(), strict=True)
        if _id(parent) in inside
    ]
    return [event for event in found if event.error]


def descendants(spans: pd.DataFrame, root: int) -> list[int]:
    """`root` and every span under it, in start order."""
    parents = dict(zip(spans.index.tolist(), (_id(p) for p in spans["parent_id"].tolist()), strict=True))
    below = {root}
    found = []
    for span_id, parent in parents.items():
        if span_id == root or parent in below:
            below.add(span_id)
            found.append(span_id)
    return found


def _id(value: Any) -> int | None:
    """A span id as an int; None for a missing one (pandas.NA, None)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and value == value else None


def _item_index(spans: pd.DataFrame) -> dict[int, int]:
    """span id -> index of the example whose item span it is, or sits under (spans outside any item are left out)."""
    parents = {sid: _id(parent) for sid, parent in zip(spans.index.tolist(), spans["parent_id"].tolist(), strict=True)}
    found: dict[int, int] = {}
    for sid, kind, payload in zip(
        spans.index.tolist(), spans["kind"].tolist(), spans["start_payload"].tolist(), strict=True
    ):
        index = schema.EvaluateItemStart.of(payload).index if kind == ITEM else None
        if isinstance(index, int):
            found[sid] = index
    for sid in parents:
        chain = list(_ancestors(sid, parents, found))
        owner = found.get(chain[-1]) if chain else None
        if owner is not None:
            for step in chain:
                found.setdefault(step, owner)
    return found


def _ancestors(span_id: int, parents: dict[int, int | None], known: dict[int, int]) -> Iterator[int]:
    """`span_id` and its parents up to the first one whose example is known (or the root)."""
    current: int | None = span_id
    seen = 0
    while current is not None and seen < 256:
        yield current
        if current in known:
            return
        current = parents.get(current)
        seen += 1
