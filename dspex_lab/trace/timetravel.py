"""Time travel: a program's parameters at any past moment, folded from its state-change events.

Predictors record every change as a `state.change` event on component
`predict:<uid>` (payload: `op` init / set / append, `field`, `value`, `origin`,
`path`). The state at time t is the `init` value with every later `set` and
`append` up to t applied in order; the store is never asked for "the latest
snapshot". Before a predictor existed (a copy made by an optimizer, say) its
state is that of the predictor it was copied from (`origin`) at t, and so on
up the lineage; with no ancestor it is None.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dspex_lab.trace.query import Moment, datetimes, gather_payloads, objects, resolve_store, select, to_ns
from dspex_lab.trace.schema import Key, StateChange

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from dspex_lab.trace.store import EventStore, Snapshot

STATE_KIND = StateChange.KIND
PREFIX = "predict:"
_MAX_LINEAGE = 64
State = dict[str, Any]


def get_state_at(target: Any, t: Moment, *, store: EventStore | None = None) -> State | dict[str, State | None] | None:
    """The parameters (demos, instructions, signature) `target` had at time `t`.

    `target` is a program (returns `{predictor name: state or None}`), a
    predictor object, or `"predict:<uid>"` (both return one state or None).
    `t` is anything `get_events` takes as a time; events at exactly `t` count.
    """
    if t is None:
        raise TypeError("get_state_at needs a time t (a datetime, epoch ns, an ISO string, ...)")
    changes = _Changes(resolve_store(store).snapshot())
    moment = to_ns(t)
    assert moment is not None
    named = _named(target)
    if named is None:
        return changes.state(_uid(target), moment)
    return {name: changes.state(uid, moment) for name, uid in named}


def get_state_history(
    target: Any,
    since: Moment = None,
    until: Moment = None,
    *,
    store: EventStore | None = None,
    lineage: bool = True,
) -> pd.DataFrame:
    """Every recorded change of `target`'s predictors, oldest first, indexed by `ts`.

    Columns: `time`, `predictor` (its name in the program, or "predict:<uid>"),
    `uid` (of the predictor that changed), `op`, `field`, `value`, `origin`,
    `path`, `seq`. With `lineage`, changes of the predictors each one was
    copied from, made before the copy existed, are listed too (they shaped the
    state `get_state_at` reports for those moments).
    """
    import numpy as np
    import pandas as pd

    changes = _Changes(resolve_store(store).snapshot())
    since_ns, until_ns = to_ns(since), to_ns(until)
    named = _named(target)
    if named is None:
        uid = _uid(target)
        named = [(PREFIX + uid, uid)]
    rows: list[tuple[int, int, str, str, dict[str, Any]]] = []
    for name, uid in named:
        for seq, ts, owner, payload in changes.lineage(uid) if lineage else changes.own(uid):
            if (since_ns is None or ts >= since_ns) and (until_ns is None or ts <= until_ns):
                rows.append((ts, seq, name, owner, payload))
    rows.sort(key=lambda row: (row[0], row[1], row[2]))
    stamps = np.array([row[0] for row in rows], dtype=np.int64)
    index = pd.Index(stamps, name="ts")
    columns: dict[str, list[Any]] = {
        "predictor": [row[2] for row in rows],
        "uid": [row[3] for row in rows],
        **{key: [row[4].get(key) for row in rows] for key in ("op", "field", "value", "origin", "path")},
    }
    return pd.DataFrame(
        {
            "time": datetimes(stamps),
            **{name: objects(values, index) for name, values in columns.items()},
            "seq": np.array([row[1] for row in rows], dtype=np.int64),
        },
        index=index,
    )


def _named(target: Any) -> list[tuple[str, str]] | None:
    """(name, uid) of each predictor of a program; None when `target` is a single predictor."""
    if isinstance(target, str):
        return None
    named = getattr(target, "named_predictors", None)
    if callable(named):
        return [(name, predictor.uid) for name, predictor in named()]
    return None


def _uid(target: Any) -> str:
    if isinstance(target, str):
        if target.startswith(PREFIX) and len(target) > len(PREFIX):
            return target[len(PREFIX) :]
        raise ValueError(
            f"{target!r} does not name a predictor; pass the program or predictor object, "
            f"or its state component '{PREFIX}<uid>' (predictor.state_component)"
        )
    uid = getattr(target, "uid", None)
    if isinstance(uid, str):
        return uid
    raise TypeError(
        f"cannot reconstruct the state of a {type(target).__name__}; pass a program (with "
        f"named_predictors()), a predictor (with .uid), or '{PREFIX}<uid>'"
    )


class _Changes:
    """The state.change events of one snapshot, read per predictor on demand."""

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap
        self._kind = snap.table("kind").code(STATE_KIND)
        self._found: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._decoded: dict[int, dict[str, Any]] = {}

    def _events(self, uid: str) -> tuple[np.ndarray, np.ndarray]:
        """(seqs, timestamps) of `uid`'s state changes, oldest first."""
        found = self._found.get(uid)
        if found is not None:
            return found
        import numpy as np

        component = self.snap.table("component").code(PREFIX + uid)
        if component is None or self._kind is None:
            found = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64))
        else:
            picks = select(
                self.snap,
                {"kind": np.array([self._kind], dtype=np.int32), "component": np.array([component], dtype=np.int32)},
            )
            if picks:
                found = (
                    np.concatenate([positions.astype(np.int64) + chunk.start for chunk, positions in picks]),
                    np.concatenate([chunk.column("ts")[positions] for chunk, positions in picks]),
                )
            else:
                found = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64))
        self._found[uid] = found
        return found

    def _payloads(self, seqs: list[int]) -> list[dict[str, Any]]:
        missing = [seq for seq in seqs if seq not in self._decoded]
        import numpy as np

        for seq, payload in zip(missing, gather_payloads(self.snap, np.array(missing, dtype=np.int64)), strict=True):
            self._decoded[seq] = payload or {}
        return [self._decoded[seq] for seq in seqs]

    def state(self, uid: str, t: int, depth: int = 0) -> State | None:
        """The state of predictor `uid` at `t`, through its lineage when it did not exist yet."""
        import copy

        seqs, stamps = self._events(uid)
        upto = int((stamps <= t).sum())
        known = self._payloads(seqs[:upto].tolist())
        start = max((i for i, change in enumerate(known) if change.get(Key.op) == "init"), default=None)
        if start is None:
            if depth >= _MAX_LINEAGE or not len(seqs):
                return None
            first = self._payloads([int(seqs[0])])[0]
            origin = first.get(Key.origin) if first.get(Key.op) == "init" else None
            return self.state(origin, t, depth + 1) if isinstance(origin, str) else None
        # Decoded payloads are cached for reuse across predictors: fold into a copy.
        state = copy.deepcopy(known[start].get(Key.value) or {})
        for change in known[start + 1 :]:
            _apply(state, change)
        return state

    def own(self, uid: str) -> list[tuple[int, int, str, dict[str, Any]]]:
        """(seq, ts, uid, payload) of every change of `uid`."""
        seqs, stamps = self._events(uid)
        payloads = self._payloads(seqs.tolist())
        return [(seq, ts, uid, p) for seq, ts, p in zip(seqs.tolist(), stamps.tolist(), payloads, strict=True)]

    def lineage(self, uid: str) -> list[tuple[int, int, str, dict[str, Any]]]:
        """`own(uid)` plus, for each ancestor, its changes made before its descendant's init."""
        found = []
        before: int | None = None
        seen: set[str] = set()
        current: str | None = uid
        while current is not None and current not in seen and len(seen) < _MAX_LINEAGE:
            seen.add(current)
            changes = self.own(current)
            kept = [change for change in changes if before is None or change[1] < before]
            found.extend(kept)
            init = next((change for change in changes if change[3].get(Key.op) == "init"), None)
            if init is None:
                break
            before = init[1] if before is None else min(before, init[1])
            origin = init[3].get(Key.origin)
            current = origin if isinstance(origin, str) else None
        return found


def _apply(state: State, change: dict[str, Any]) -> None:
    """Apply one set / append to `state` in place; other ops change nothing."""
    import copy

    op, field, value = change.get(Key.op), change.get(Key.field), change.get(Key.value)
    if op == "set" and isinstance(field, str):
        state[field] = copy.deepcopy(value)
    elif op == "append" and isinstance(field, str):
        items = state.get(field)
        state[field] = [*(items or []), copy.deepcopy(value)]
