"""Opening the project's SQLite files: WAL mode, the schema, and a fair turn at switching modes.

The LM cache, the evaluation run store and the trace sink all keep SQLite files
that several threads and processes open at once. Switching a file to WAL needs
the file to itself and, unlike other statements, does not wait on a busy file,
so connections opened at the same moment take turns and try again.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

_setup_lock = threading.Lock()
_ATTEMPTS = 50


def connect(path: Path, schema: str, *, timeout: float = 30.0, check_same_thread: bool = True) -> sqlite3.Connection:
    """A connection to `path` in WAL mode (synchronous=NORMAL) with `schema` (a SQL script) applied."""
    connection = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=check_same_thread)
    try:
        _set_up(connection, schema)
    except BaseException:
        connection.close()
        raise
    return connection


def _set_up(connection: sqlite3.Connection, schema: str) -> None:
    with _setup_lock:
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                if connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=NORMAL")
                connection.executescript(schema)
                return
            except sqlite3.OperationalError as exc:
                if ("locked" not in str(exc) and "busy" not in str(exc)) or attempt == _ATTEMPTS:
                    raise
                time.sleep(0.01 * attempt)
