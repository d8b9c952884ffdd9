"""Message flow: the requests one component sent another, each paired with its reply.

A message is a correlated span of the callee (an LM's `lm.request` /
`lm.response`, say) whose parent span belongs to the caller: the component
itself or anything inside it ("qa" covers "qa.generate"). The request is the
first event carrying its correlation id, the reply the second; a request
without one is unanswered (still running, or lost to a crash).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dspex_lab.trace.query import (
    Moment,
    categorical,
    codes_for,
    datetimes,
    gather,
    gather_payloads,
    resolve_store,
    select,
    to_ns,
)
from dspex_lab.trace.spantable import correlations, span_table

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from dspex_lab.trace.store import EventStore, Snapshot

_MAX_CLIMB = 16
REPLY_FIELDS = ("status", "prompt_tokens", "completion_tokens", "cost", "cache_hit", "finish_reason", "error")


def component_name(target: Any) -> str:
    """The trace component of `target`: a string as is, an LM's `component`, a program's `component_name`."""
    if isinstance(target, str):
        return target
    for attr in ("component", "component_name"):
        value = getattr(target, attr, None)
        if isinstance(value, str):
            return value
    raise TypeError(
        f"cannot tell the trace component of a {type(target).__name__}; pass its name, "
        "such as 'qa' or 'lm:openai/gpt-4o-mini'"
    )


def get_message_flow(
    a: Any,
    b: Any,
    since: Moment = None,
    until: Moment = None,
    *,
    store: EventStore | None = None,
) -> pd.DataFrame:
    """The messages between `a` and `b` (either may be the caller), one row per request, oldest first.

    Indexed by the request's `ts`; columns: `time`, `caller`, `callee`, `kind`,
    `correlation_id`, `span_id`, `run_id`, `task`, `answered`, `reply_ts`,
    `reply_time`, `latency_ms`, `status` ("unanswered" without a reply),
    `prompt_tokens`, `completion_tokens`, `cost`, `cache_hit`,
    `finish_reason`, `error`, `messages` (what the callee was sent), `text`
    (what it answered), and the full `request` / `reply` payloads.
    `since` / `until` bound the request time.
    """
    import numpy as np

    snap = resolve_store(store).snapshot()
    first, second = component_name(a), component_name(b)
    since_ns, until_ns = to_ns(since), to_ns(until)
    parts = [
        part
        for part in (
            _one_way(snap, first, second, since_ns, until_ns),
            _one_way(snap, second, first, since_ns, until_ns) if first != second else None,
        )
        if part is not None
    ]
    if not parts:
        return _frame(snap, *_empty())
    if len(parts) == 1:
        return _frame(snap, *parts[0])
    joined = [np.concatenate([part[i] for part in parts]) for i in range(4)]
    order = np.argsort(joined[0], kind="stable")
    return _frame(snap, *(column[order] for column in joined))


def _empty() -> tuple[np.ndarray, ...]:
    import numpy as np

    empty = np.empty(0, dtype=np.int64)
    return empty, empty, np.empty(0, dtype=np.int32), empty


def _one_way(
    snap: Snapshot, caller: str, callee: str, since: int | None, until: int | None
) -> tuple[np.ndarray, ...] | None:
    """(request seqs, reply seqs, caller codes, correlation codes) for messages from caller to callee."""
    import numpy as np

    components = snap.table("component")
    callee_codes = codes_for(components, callee)
    caller_codes = codes_for(components, caller, prefix=True)
    if not len(callee_codes) or not len(caller_codes):
        return None
    picks = select(snap, {"component": callee_codes}, since, until)
    if not picks:
        return None
    seqs = np.concatenate([positions.astype(np.int64) + chunk.start for chunk, positions in picks])
    corr = np.concatenate([chunk.column("correlation_id")[positions] for chunk, positions in picks])
    pairs = correlations(snap)
    marked = corr >= 0
    seqs, corr = seqs[marked], corr[marked]
    is_request = pairs.request[corr] == seqs
    seqs, corr = seqs[is_request], corr[is_request]
    if not len(seqs):
        return None
    spans = span_table(snap)
    rows = spans.find(gather(snap, seqs, "parent_id"))
    owner = _components(spans.columns["component"], rows)
    # A client may wrap its call in spans of its own (retries, a cache): look past them.
    for _ in range(_MAX_CLIMB):
        inner = np.flatnonzero((rows >= 0) & np.isin(owner, callee_codes))
        if not len(inner):
            break
        rows[inner] = spans.find(spans.parent[rows[inner]])
        owner = _components(spans.columns["component"], rows)
    mine = np.isin(owner, caller_codes)
    if not mine.any():
        return None
    return seqs[mine], pairs.reply[corr[mine]], owner[mine], corr[mine]


def _components(component: np.ndarray, rows: np.ndarray) -> np.ndarray:
    import numpy as np

    return np.where(rows >= 0, component[np.maximum(rows, 0)], -1).astype(np.int32)


def _frame(
    snap: Snapshot, requests: np.ndarray, replies: np.ndarray, callers: np.ndarray, corr: np.ndarray
) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    tables = snap.tables
    answered = replies >= 0
    ts = gather(snap, requests, "ts") if len(requests) else np.empty(0, dtype=np.int64)
    reply_ts = np.zeros(len(requests), dtype=np.int64)
    if answered.any():
        reply_ts[answered] = gather(snap, replies[answered], "ts")
    request_payloads = gather_payloads(snap, requests.tolist())
    reply_payloads: list[dict[str, Any] | None] = [None] * len(requests)
    for index, body in zip(
        np.flatnonzero(answered).tolist(), gather_payloads(snap, replies[answered].tolist()), strict=True
    ):
        reply_payloads[index] = body or {}
    fields: dict[str, list[Any]] = {name: [] for name in REPLY_FIELDS}
    latency, messages, text = [], [], []
    for index, (request, reply) in enumerate(zip(request_payloads, reply_payloads, strict=True)):
        request = request or {}
        messages.append(request.get("messages"))
        if reply is None:
            for name in REPLY_FIELDS:
                fields[name].append(None)
            fields["status"][-1] = "unanswered"
            latency.append(np.nan)
            text.append(None)
            continue
        for name in REPLY_FIELDS:
            fields[name].append(reply.get(name))
        if fields["status"][-1] is None:
            fields["status"][-1] = "ok"
        reported = reply.get("duration_ms")
        measured = (reply_ts[index] - ts[index]) / 1e6
        latency.append(float(reported) if isinstance(reported, int | float) else measured)
        text.append(reply.get("text"))

    def objects(values: list[Any]) -> np.ndarray:
        column = np.empty(len(values), dtype=object)
        column[:] = values
        return column

    def column(name: str) -> np.ndarray:
        return gather(snap, requests, name) if len(requests) else np.empty(0, dtype=np.int32)

    data: dict[str, Any] = {
        "time": datetimes(ts),
        "caller": categorical(callers, tables["component"]),
        "callee": categorical(column("component"), tables["component"]),
        "kind": categorical(column("kind"), tables["kind"]),
        "correlation_id": tables["correlation_id"].objects()[corr],
        "span_id": pd.array(column("span_id") if len(requests) else [], dtype="Int64"),
        "run_id": categorical(column("run_id"), tables["run_id"]),
        "task": categorical(column("task"), tables["task"]),
        "answered": answered,
        "reply_ts": pd.arrays.IntegerArray(reply_ts, ~answered),
        "reply_time": datetimes(reply_ts).where(answered),
        "latency_ms": np.array(latency, dtype=float),
        "status": objects(fields["status"]),
        "prompt_tokens": _typed(fields["prompt_tokens"], "Int64"),
        "completion_tokens": _typed(fields["completion_tokens"], "Int64"),
        "cost": _typed(fields["cost"], "Float64"),
        "cache_hit": _typed(fields["cache_hit"], "boolean"),
        "finish_reason": objects(fields["finish_reason"]),
        "error": objects(fields["error"]),
        "messages": objects(messages),
        "text": objects(text),
        "request": objects(request_payloads),
        "reply": objects(reply_payloads),
    }
    return pd.DataFrame(data, index=pd.Index(ts, name="ts"))


def _typed(values: list[Any], dtype: str) -> Any:
    """A nullable pandas array of `dtype`, or plain objects when a value does not fit it."""
    import numpy as np
    import pandas as pd

    try:
        return pd.array(values, dtype=dtype)
    except (TypeError, ValueError):
        column = np.empty(len(values), dtype=object)
        column[:] = values
        return column
