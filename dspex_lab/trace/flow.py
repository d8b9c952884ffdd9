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
    Located,
    Moment,
    categorical,
    codes_for,
    datetimes,
    nullable_ids,
    objects,
    resolve_store,
    to_ns,
)
from dspex_lab.trace.schema import Key
from dspex_lab.trace.spantable import correlations, span_table

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from dspex_lab.trace.store import EventStore, Snapshot

_MAX_CLIMB = 16
REPLY_KEYS = (Key.status, Key.duration_ms, Key.prompt_tokens, Key.completion_tokens, Key.cost, Key.cache_hit,
              Key.finish_reason, Key.error, Key.text)  # fmt: skip
"""The fields of `LMResponse` a message flow shows."""


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
    content: bool = False,
) -> pd.DataFrame:
    """The messages between `a` and `b` (either may be the caller), one row per request, oldest first.

    Indexed by the request's `ts`; columns: `time`, `caller`, `callee`, `kind`,
    `correlation_id`, `span_id`, `run_id`, `task`, `answered`, `reply_ts`,
    `reply_time`, `latency_ms`, `status` ("unanswered" without a reply),
    `prompt_tokens`, `completion_tokens`, `cost`, `cache_hit`,
    `finish_reason`, `error` and `text` (the reply). `since` / `until` bound
    the request time. `content=True` adds what was sent, `messages`, and both
    whole payloads, `request` and `reply` (prompts are large: decoding them is
    most of the cost of a long flow).
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
        return _frame(snap, *_empty(), content=content)
    if len(parts) == 1:
        return _frame(snap, *parts[0], content=content)
    joined = [np.concatenate([part[i] for part in parts]) for i in range(4)]
    order = np.argsort(joined[0], kind="stable")
    return _frame(snap, *(column[order] for column in joined), content=content)


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
    if callee_codes is None or caller_codes is None or not len(callee_codes) or not len(caller_codes):
        return None
    pairs = correlations(snap)
    mine = np.isin(pairs.component, callee_codes)
    if since is not None:
        mine &= pairs.ts >= since
    if until is not None:
        mine &= pairs.ts <= until
    if not mine.any():
        return None
    spans = span_table(snap)
    rows = spans.find(pairs.parent[mine])
    owner = _components(spans.columns["component"], rows)
    # A client may wrap its call in spans of its own (retries, a cache): look past them.
    for _ in range(_MAX_CLIMB):
        inner = np.flatnonzero((rows >= 0) & np.isin(owner, callee_codes))
        if not len(inner):
            break
        rows[inner] = spans.find(spans.parent[rows[inner]])
        owner = _components(spans.columns["component"], rows)
    called = np.isin(owner, caller_codes)
    if not called.any():
        return None
    corr = pairs.codes[mine][called]
    return pairs.seq[mine][called], pairs.reply[corr], owner[called], corr


def _components(component: np.ndarray, rows: np.ndarray) -> np.ndarray:
    import numpy as np

    return np.where(rows >= 0, component[np.maximum(rows, 0)], -1).astype(np.int32)


def _frame(
    snap: Snapshot,
    requests: np.ndarray,
    replies: np.ndarray,
    callers: np.ndarray,
    corr: np.ndarray,
    *,
    content: bool,
) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    tables = snap.tables
    answered = replies >= 0
    got_at = np.flatnonzero(answered)
    sent, got = Located(snap, requests), Located(snap, replies[answered])
    ts = sent.column("ts")
    reply_ts = np.zeros(len(requests), dtype=np.int64)
    reply_ts[answered] = got.column("ts")
    index = pd.Index(ts, name="ts")
    found = got.fields(REPLY_KEYS)
    columns = zip(*found, strict=True) if found else ((),) * len(REPLY_KEYS)
    reply = {key: _objects(values) for key, values in zip(REPLY_KEYS, columns, strict=True)}
    if len(got_at) < len(requests):
        for key, values in reply.items():
            reply[key] = np.full(len(requests), None, dtype=object)
            reply[key][got_at] = values
    status = reply[Key.status]
    status[answered & (status == None)] = "ok"  # noqa: E711 (elementwise comparison)
    status[~answered] = "unanswered"
    reported = np.array([v if isinstance(v, int | float) else np.nan for v in reply[Key.duration_ms]], dtype=float)
    measured = np.where(answered, (reply_ts - ts) / 1e6, np.nan)
    data: dict[str, Any] = {
        "time": datetimes(ts),
        "caller": categorical(callers, tables["component"]),
        "callee": categorical(sent.column("component"), tables["component"]),
        "kind": categorical(sent.column("kind"), tables["kind"]),
        "correlation_id": objects(tables["correlation_id"].objects()[corr], index),
        "span_id": nullable_ids(sent.column("span_id")),
        "run_id": categorical(sent.column("run_id"), tables["run_id"]),
        "task": categorical(sent.column("task"), tables["task"]),
        "answered": answered,
        "reply_ts": pd.arrays.IntegerArray(reply_ts, ~answered),
        "reply_time": datetimes(reply_ts).where(answered),
        "latency_ms": np.where(np.isnan(reported), measured, reported),
        "status": objects(status, index),
        "prompt_tokens": _typed(reply[Key.prompt_tokens], "Int64", index),
        "completion_tokens": _typed(reply[Key.completion_tokens], "Int64", index),
        "cost": _typed(reply[Key.cost], "Float64", index),
        "cache_hit": _typed(reply[Key.cache_hit], "boolean", index),
        "finish_reason": objects(reply[Key.finish_reason], index),
        "error": objects(reply[Key.error], index),
        "text": objects(reply[Key.text], index),
    }
    if content:
        bodies: list[dict[str, Any] | None] = [None] * len(requests)
        for position, body in zip(got_at.tolist(), got.payloads(), strict=True):
            bodies[position] = body
        contents = sent.payloads()
        data["messages"] = objects([(body or {}).get(Key.messages) for body in contents], index)
        data["request"] = objects(contents, index)
        data["reply"] = objects(bodies, index)
    return pd.DataFrame(data, index=index)


def _typed(values: list[Any] | np.ndarray, dtype: str, index: pd.Index) -> Any:
    """A nullable pandas array of `dtype`, or plain objects when a value does not fit it."""
    import pandas as pd

    try:
        return pd.array(values.tolist() if hasattr(values, "tolist") else values, dtype=dtype)
    except (TypeError, ValueError):
        return objects(values, index)


def _objects(values: tuple[Any, ...]) -> np.ndarray:
    import numpy as np

    return np.fromiter(values, dtype=object, count=len(values))
