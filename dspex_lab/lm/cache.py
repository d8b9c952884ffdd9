"""The response cache: an in-memory LRU in front of a SQLite file, shared by every LM in the process.

The key is the SHA-256 of the canonical request: model, messages, sampling
parameters and the rollout id (a new rollout id asks for a fresh sample). API
keys, the API base and client options never enter it. The file lives in the
configured directory (`dx.configure(cache_dir=...)`, else `$DSPEX_CACHE_DIR`,
else `~/.cache/dspex_lab`) and is created on the first write, never on import
or on a lookup. SQLite in WAL mode makes it safe to share between threads
(one connection each) and processes; every write is committed at once, so a
crash or an interrupt loses nothing already answered.
"""

from __future__ import annotations

import hashlib
import json
import marshal
import os
import sqlite3
import threading
import time
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any, NamedTuple

from dspex_lab import settings
from dspex_lab.sqlite import connect

FILENAME = "lm_cache.sqlite3"
MEMORY_TEXT_LIMIT = 65_536
"""Replies longer than this (characters) are kept on disk only, never in the memory tier."""
ENV_VAR = settings.CACHE_DIR_ENV

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    text TEXT NOT NULL,
    finish_reason TEXT,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cost REAL,
    created REAL NOT NULL
) WITHOUT ROWID
"""


class Entry(NamedTuple):
    """A stored reply: what a cache hit gives back."""

    text: str
    model: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    cost: float | None


_SIMPLE = (str, int, float, bool, type(None))
_json_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=repr).encode


def request_key(model: str, messages: list[dict[str, Any]], params: dict[str, Any], rollout_id: Any) -> str:
    """SHA-256 of the canonical request (model, messages, sampling parameters, rollout id).

    Canonical: message and parameter keys are sorted, nested values are written as
    sorted-key JSON, so equal requests get equal keys in any process. The bytes
    hashed are marshal's version 2 format, which (unlike later versions) never
    depends on object identity, and costs a fifth of JSON for a typical prompt.
    """
    canonical = (
        "dspex-lm-request-v1",
        model,
        [sorted(message.items()) for message in messages],
        sorted((k, v if type(v) in _SIMPLE else _json_canonical(v)) for k, v in params.items()),
        rollout_id if type(rollout_id) in _SIMPLE else _json_canonical(rollout_id),
    )
    try:
        blob = marshal.dumps(canonical, 2)
    except ValueError:  # an object marshal cannot write somewhere in the messages
        blob = _json_canonical([canonical[1], messages, canonical[3], canonical[4]]).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


def cache_dir() -> Path:
    """Where the cache file lives (see `settings.cache_dir`)."""
    return settings.cache_dir()


class ResponseCache:
    """Memory LRU (`memory_size` entries) over a SQLite file in `directory`."""

    def __init__(self, directory: Path, memory_size: int = 10_000) -> None:
        self.directory = directory
        self.path = directory / FILENAME
        self.memory_size = memory_size
        self._memory: OrderedDict[str, Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._local = threading.local()
        self._disabled = False

    def __repr__(self) -> str:
        return f"ResponseCache({str(self.path)!r}, in_memory={len(self._memory)})"

    def get(self, key: str) -> tuple[Entry, str] | None:
        """The stored entry and where it came from ("memory" or "disk"), or None."""
        memory = self._memory
        with self._lock:
            entry = memory.get(key)
            if entry is not None:
                memory.move_to_end(key)
                return entry, "memory"
        connection = self._connection(create=False)
        if connection is None:
            return None
        try:
            row = connection.execute(
                "SELECT text, model, finish_reason, prompt_tokens, completion_tokens, cost "
                "FROM responses WHERE key = ?",
                (key,),
            ).fetchone()
        except sqlite3.Error as exc:
            self._give_up(exc)
            return None
        if row is None:
            return None
        if not _readable(row):
            self._warn_row(key, row)
            return None
        entry = Entry(*row)
        self._remember(key, entry)
        return entry, "disk"

    def put(self, key: str, entry: Entry) -> None:
        """Store `entry` in memory and on disk (committed before this returns)."""
        self._remember(key, entry)
        connection = self._connection(create=True)
        if connection is None:
            return
        try:
            connection.execute(
                "INSERT OR REPLACE INTO responses (key, text, model, finish_reason, prompt_tokens, "
                "completion_tokens, cost, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (key, *entry, time.time()),
            )
        except sqlite3.Error as exc:
            self._give_up(exc)

    def clear(self) -> None:
        """Forget every entry, in memory and on disk."""
        with self._lock:
            self._memory.clear()
        connection = self._connection(create=False)
        if connection is not None:
            connection.execute("DELETE FROM responses")

    def __len__(self) -> int:
        connection = self._connection(create=False)
        if connection is None:
            return len(self._memory)
        return connection.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def _remember(self, key: str, entry: Entry) -> None:
        if len(entry.text) > MEMORY_TEXT_LIMIT:
            return  # large replies are served from the file: the memory tier holds many small ones
        memory = self._memory
        with self._lock:
            memory[key] = entry
            memory.move_to_end(key)
            if len(memory) > self.memory_size:
                memory.popitem(last=False)

    def _connection(self, create: bool) -> sqlite3.Connection | None:
        """This thread's connection (a forked child opens its own), or None when there is no file."""
        local = self._local
        connection = getattr(local, "connection", None)
        if connection is not None and local.pid == os.getpid():
            return connection
        if self._disabled or (not create and not self.path.exists()):
            return None
        try:
            if create:
                self.directory.mkdir(parents=True, exist_ok=True)
            connection = connect(self.path, _SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            self._give_up(exc)
            return None
        local.connection, local.pid = connection, os.getpid()
        return connection

    def _warn_row(self, key: str, row: tuple[object, ...]) -> None:
        """A damaged row is a miss (the call is made again and overwrites it), said once per key."""
        warnings.warn(
            f"the LM cache at {self.path} has a damaged row for key {key[:16]}... ({row!r:.120}); "
            "it is ignored and replaced by a fresh reply. Delete the file if this repeats",
            RuntimeWarning,
            stacklevel=3,
        )

    def _give_up(self, exc: Exception) -> None:
        """Keep working from memory when the file cannot be used, and say so once."""
        if not self._disabled:
            self._disabled = True
            warnings.warn(
                f"the LM cache at {self.path} cannot be used ({type(exc).__name__}: {exc}); "
                f"replies are cached in memory only. Set dx.configure(cache_dir=...) or ${ENV_VAR} "
                "to a writable directory.",
                RuntimeWarning,
                stacklevel=3,
            )


_ROW_TYPES = (str, str, (str, type(None)), int, int, (float, int, type(None)))


def _readable(row: tuple[object, ...]) -> bool:
    """Whether a stored row has the types of an Entry (text, model, finish_reason, tokens, tokens, cost)."""
    return len(row) == len(_ROW_TYPES) and all(
        isinstance(value, kinds) and not isinstance(value, bool)  # type: ignore[arg-type]
        for value, kinds in zip(row, _ROW_TYPES, strict=True)
    )


_caches: OrderedDict[Any, ResponseCache] = OrderedDict()
_caches_lock = threading.Lock()
_MAX_OPEN_CACHES = 8


def get_cache() -> ResponseCache:
    """The process's cache for the configured directory (one per directory, shared by all LMs)."""
    configured = settings.configured_cache_dir()
    cache = _caches.get(configured)
    if cache is not None:
        return cache
    with _caches_lock:
        cache = _caches.get(configured)
        if cache is None:
            cache = _caches[configured] = ResponseCache(settings.cache_dir(configured))
            while len(_caches) > _MAX_OPEN_CACHES:
                _caches.popitem(last=False)
        return cache
