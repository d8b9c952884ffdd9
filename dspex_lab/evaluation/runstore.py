"""Finished examples on disk, one SQLite row each, so a crashed or stopped run resumes.

Every finished example is committed on its own (WAL journal): a process killed
at any moment loses at most the examples still in flight. Rows are keyed by
(run id, example index) and carry a hash of the example's content, so resuming
against a devset that changed since is detected and reported instead of mixing
scores of different data.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from dspex_lab import settings
from dspex_lab.errors import DspexError
from dspex_lab.sqlite import connect

DB_NAME = "evaluations.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    total INTEGER NOT NULL,
    metrics TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS examples (
    run_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    example_hash TEXT NOT NULL,
    scores TEXT NOT NULL,
    feedback TEXT,
    prediction TEXT,
    error TEXT,
    traceback TEXT,
    latency_ms REAL NOT NULL,
    usage TEXT NOT NULL,
    finished REAL NOT NULL,
    PRIMARY KEY (run_id, idx)
);
"""

_COLUMNS = (
    "idx",
    "example_hash",
    "scores",
    "feedback",
    "prediction",
    "error",
    "traceback",
    "latency_ms",
    "usage",
)


class RunMismatchError(DspexError, ValueError):
    """A run id was reused with a devset or metrics other than the ones it was recorded with."""


def default_path() -> Path:
    """The run database in the cache directory (see `settings.cache_dir`)."""
    return settings.cache_dir() / DB_NAME


def example_hash(example: Any) -> str:
    """A short hash of an example's content (its fields, and which of them are inputs)."""
    if hasattr(example, "to_json"):
        text = example.to_json()
    else:
        text = json.dumps(example, sort_keys=True, default=_stable, ensure_ascii=False, separators=(",", ":"))
    return hashlib.blake2b(text.encode("utf-8"), digest_size=12).hexdigest()


def _stable(value: Any) -> Any:
    """A JSON-able stand-in for values json cannot encode, stable across processes."""
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    if isinstance(value, bytes):
        return value.hex()
    if hasattr(value, "model_dump"):
        return value.model_dump()
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return repr(value)


def to_json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=_stable, ensure_ascii=False)


class RunStore:
    """The SQLite file holding finished examples of runs; one connection, used from one thread."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()
        self._conn: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = connect(self.path, _SCHEMA)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def begin(self, run_id: str, hashes: Sequence[str], metrics: Sequence[str]) -> list[dict[str, Any]]:
        """Start or resume `run_id`; returns the rows of examples it already finished.

        Raises RunMismatchError when the run was recorded with other metrics or
        other examples than `hashes` (the current devset's, in order).
        """
        conn = self._connect()
        found = conn.execute("SELECT total, metrics FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if found is None:
            conn.execute(
                "INSERT INTO runs (run_id, created, total, metrics) VALUES (?, ?, ?, ?)",
                (run_id, time.time(), len(hashes), json.dumps(list(metrics))),
            )
            return []
        total, stored_metrics = found[0], json.loads(found[1])
        if stored_metrics != list(metrics):
            raise RunMismatchError(
                f"run {run_id!r} in {self.path} was scored with metrics {stored_metrics}, "
                f"and this call uses {list(metrics)}; pass the same metrics to resume it, "
                f"or use a new run_id"
            )
        rows = self.rows(run_id)
        changed = [row["idx"] for row in rows if row["idx"] >= len(hashes) or hashes[row["idx"]] != row["example_hash"]]
        if total != len(hashes) or changed:
            shown = ", ".join(str(index) for index in changed[:10]) + (" ..." if len(changed) > 10 else "")
            detail = f"; changed examples (by index): {shown}" if changed else ""
            raise RunMismatchError(
                f"run {run_id!r} in {self.path} was recorded with a different devset: it had {total} "
                f"examples, this devset has {len(hashes)}{detail}. Resume with the devset the run "
                f"started with, or use a new run_id"
            )
        return rows

    def save(
        self,
        run_id: str,
        index: int,
        example_hash: str,
        *,
        scores: dict[str, float],
        feedback: dict[str, str] | None,
        prediction: Any,
        error: str | None,
        traceback: str | None,
        latency_ms: float,
        usage: dict[str, Any],
    ) -> None:
        """Commit one finished example (replacing an earlier attempt at it)."""
        self._connect().execute(
            "INSERT OR REPLACE INTO examples (run_id, idx, example_hash, scores, feedback, prediction, "
            "error, traceback, latency_ms, usage, finished) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run_id,
                index,
                example_hash,
                json.dumps(scores),
                to_json(feedback or None),
                to_json(prediction),
                error,
                traceback,
                latency_ms,
                json.dumps(usage),
                time.time(),
            ),
        )

    def rows(self, run_id: str) -> list[dict[str, Any]]:
        """Every stored row of `run_id`, by index, with JSON columns decoded."""
        conn = self._connect()
        return [
            decode(dict(zip(_COLUMNS, row, strict=True)))
            for row in conn.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM examples WHERE run_id = ? ORDER BY idx", (run_id,)
            )
        ]

    def __repr__(self) -> str:
        return f"RunStore({str(self.path)!r})"


def decode(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row with its JSON columns turned back into Python values."""
    for key in ("scores", "feedback", "prediction", "usage"):
        if row[key] is not None:
            row[key] = json.loads(row[key])
    return row
