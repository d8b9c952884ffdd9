"""Finished examples on disk, one SQLite row each, so a crashed or stopped run resumes.

Every finished example is committed on its own (WAL journal): a process killed
at any moment loses at most the examples still in flight. Rows are keyed by
(run id, example index) and carry a hash of the example's content, so resuming
against a devset that changed since is detected and reported instead of mixing
scores of different data. A run also keeps the fingerprint of what it scores
(program, LM, metrics): resuming with something else is refused, naming what
differs. A run being written holds a lock row with its process id, so a second
live process cannot run the same run id at once; a lock left by a process that
died is taken over.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from dspex_lab import settings
from dspex_lab.errors import DspexError
from dspex_lab.lm.secret import redact_text
from dspex_lab.sqlite import connect

DB_NAME = "evaluations.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    total INTEGER NOT NULL,
    metrics TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS run_identity (
    run_id TEXT PRIMARY KEY,
    identity TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS run_locks (
    run_id TEXT PRIMARY KEY,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    token TEXT NOT NULL,
    started REAL NOT NULL
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
    """A run id was reused with a devset, program, LM or metrics other than the ones it was recorded with."""


class RunLockedError(DspexError, RuntimeError):
    """A run id is being evaluated by another live process (or another evaluation in this one)."""


class RunStoreError(DspexError, RuntimeError):
    """The run store file is damaged or unreadable; the message names the file and the row."""


_active_tokens: set[str] = set()
_HOST = socket.gethostname()


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
        self._locks: dict[str, str] = {}  # run id -> token of the runs this store holds

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._conn = connect(self.path, _SCHEMA)
            except sqlite3.DatabaseError as exc:
                raise self._damaged(exc) from None
        return self._conn

    def _damaged(self, exc: Exception, where: str = "") -> RunStoreError:
        return RunStoreError(
            f"the run store {self.path}{where} cannot be read ({type(exc).__name__}: {exc}). "
            "Move the file aside to start afresh (the examples in it cannot be resumed), "
            "or pass db_path= to keep runs in another file"
        )

    def close(self) -> None:
        """Release this store's run lock and close the file."""
        if self._conn is not None:
            for run_id, token in self._locks.items():
                _active_tokens.discard(token)
                try:
                    self._conn.execute("DELETE FROM run_locks WHERE run_id = ? AND token = ?", (run_id, token))
                except sqlite3.Error:
                    pass  # a lock whose process has ended is taken over anyway
            self._locks.clear()
            self._conn.close()
            self._conn = None

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def begin(
        self,
        run_id: str,
        hashes: Sequence[str],
        metrics: Sequence[str],
        identity: dict[str, Any] | None = None,
        *,
        force: bool = False,
    ) -> list[dict[str, Any]]:
        """Lock and start or resume `run_id`; returns the rows of examples it already finished.

        Raises RunLockedError when another live process holds the run, and
        RunMismatchError when the run was recorded with other metrics, other
        examples than `hashes` (the current devset's, in order), or another
        `identity` (see `fingerprint`; `force=True` resumes anyway).
        """
        conn = self._connect()
        try:
            self._take_lock(conn, run_id)
            found = conn.execute("SELECT total, metrics FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if found is None:
                conn.execute(
                    "INSERT INTO runs (run_id, created, total, metrics) VALUES (?, ?, ?, ?)",
                    (run_id, time.time(), len(hashes), json.dumps(list(metrics))),
                )
                if identity is not None:
                    conn.execute(
                        "INSERT OR REPLACE INTO run_identity (run_id, identity) VALUES (?, ?)",
                        (run_id, json.dumps(identity, sort_keys=True)),
                    )
                return []
            stored = conn.execute("SELECT identity FROM run_identity WHERE run_id = ?", (run_id,)).fetchone()
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from None
        total, stored_metrics = found[0], self._json(found[1], f", run {run_id!r}, column runs.metrics")
        if identity is not None and stored is not None and not force:
            self._check_identity(run_id, self._json(stored[0], f", run {run_id!r}, column run_identity"), identity)
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

    def _check_identity(self, run_id: str, stored: dict[str, Any], identity: dict[str, Any]) -> None:
        differs = [part for part in identity if stored.get(part, {}).get("hash") != identity[part]["hash"]]
        if not differs:
            return
        details = "; ".join(
            f"{part}: recorded {stored.get(part, {}).get('shown', '?')}, now {identity[part]['shown']}"
            for part in differs
        )
        raise RunMismatchError(
            f"run {run_id!r} in {self.path} was recorded with another {' and '.join(differs)} ({details}). "
            "Its stored scores belong to that one: use a new run_id to start fresh, or pass "
            'resume="force" to resume it anyway'
        )

    def _take_lock(self, conn: sqlite3.Connection, run_id: str) -> None:
        """Hold `run_id` for this store, or raise RunLockedError naming the process that holds it."""
        if run_id in self._locks:
            return
        token = uuid.uuid4().hex
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute("SELECT pid, host, token, started FROM run_locks WHERE run_id = ?", (run_id,)).fetchone()
            if row is not None and _alive(row[0], row[1], row[2]):
                pid, host, _token, started = row
                since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started))
                who = "this process" if pid == os.getpid() and host == _HOST else f"process {pid} on {host}"
                raise RunLockedError(
                    f"run {run_id!r} in {self.path} is being evaluated by {who} (since {since}); "
                    "wait for it to finish or stop it, or use another run_id. A lock left by a "
                    "process that has ended is taken over on its own"
                )
            conn.execute(
                "INSERT OR REPLACE INTO run_locks (run_id, pid, host, token, started) VALUES (?, ?, ?, ?, ?)",
                (run_id, os.getpid(), _HOST, token, time.time()),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        _active_tokens.add(token)
        self._locks[run_id] = token

    def _json(self, text: str, where: str) -> Any:
        try:
            return json.loads(text)
        except (TypeError, ValueError) as exc:
            raise self._damaged(exc, where) from None

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
                None if error is None else redact_text(error),
                None if traceback is None else redact_text(traceback),
                latency_ms,
                json.dumps(usage),
                time.time(),
            ),
        )

    def rows(self, run_id: str) -> list[dict[str, Any]]:
        """Every stored row of `run_id`, by index, with JSON columns decoded."""
        conn = self._connect()
        rows = []
        try:
            found = conn.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM examples WHERE run_id = ? ORDER BY idx", (run_id,)
            ).fetchall()
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc, f", run {run_id!r}") from None
        for values in found:
            row = dict(zip(_COLUMNS, values, strict=True))
            try:
                rows.append(decode(row))
            except (TypeError, ValueError, KeyError) as exc:
                raise self._damaged(exc, f", run {run_id!r}, example {row.get('idx')!r}") from None
        return rows

    def runs(self) -> list[dict[str, Any]]:
        """Every run in the file, newest first: id, when, size, metrics, finished and failed examples, mean score.

        The mean is of the first metric over the finished examples (a failed one counts its failure score).
        """
        if not self.path.exists():
            return []
        conn = self._connect()
        found = []
        query = (
            "SELECT r.run_id, r.created, r.total, r.metrics, COUNT(e.idx), SUM(e.error IS NOT NULL) "
            "FROM runs r LEFT JOIN examples e ON e.run_id = r.run_id GROUP BY r.run_id ORDER BY r.created DESC"
        )
        for run_id, created, total, metrics, finished, errors in conn.execute(query):
            names = json.loads(metrics)
            scores = [
                json.loads(row[0]).get(names[0]) if names else None
                for row in conn.execute("SELECT scores FROM examples WHERE run_id = ?", (run_id,))
            ]
            numbers = [float(v) for v in scores if isinstance(v, int | float)]
            found.append(
                {
                    "run_id": run_id,
                    "created": created,
                    "total": total,
                    "metrics": names,
                    "finished": finished,
                    "errors": int(errors or 0),
                    "score": sum(numbers) / len(numbers) if numbers else None,
                }
            )
        return found

    def __repr__(self) -> str:
        return f"RunStore({str(self.path)!r})"


def decode(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row with its JSON columns turned back into Python values (ValueError naming a bad column)."""
    if not isinstance(row["idx"], int) or row["idx"] < 0:
        raise ValueError(f"column idx holds {row['idx']!r}, not an example index")
    for key in ("scores", "feedback", "prediction", "usage"):
        if row[key] is not None:
            try:
                row[key] = json.loads(row[key])
            except (TypeError, ValueError) as exc:
                raise ValueError(f"column {key} is not JSON ({exc})") from None
    if not isinstance(row["scores"], dict) or not all(_finite(v) for v in row["scores"].values()):
        raise ValueError(f"column scores holds {row['scores']!r}, not finite numbers by metric")
    return row


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _alive(pid: int, host: str, token: str) -> bool:
    """Whether the process holding a lock still runs (a lock from another host is taken as held)."""
    if host != _HOST:
        return True
    if pid == os.getpid():
        return token in _active_tokens
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
