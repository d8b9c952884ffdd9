"""Payload snapshots: what the store keeps of an event's payload, and how it is read back.

A payload is frozen when it is emitted: encoded with `marshal` into an immutable
byte string. The store's history then stays true when a caller later mutates a
list it passed (a predictor's demos), the store holds nothing the garbage
collector has to walk (a million live dicts slow every allocation in the
process), and a small payload takes about a third of a dict's memory. Reading
decodes again; JSON text, which persisted traces hold, is read as well.

Before freezing, payloads are cleaned: strings longer than `MAX_TEXT` are cut,
a payload still larger than `MAX_PAYLOAD` bytes is cut harder, values under
secret-looking keys and every registered secret value are replaced by
`REDACTED`, and objects marshal cannot encode become plain data or their repr.
"""

from __future__ import annotations

import enum
import gc
import json
import marshal
import os
import threading
from collections.abc import Mapping
from typing import Any

MAX_TEXT = 32_768
"""Longest string kept in a payload value; longer ones are cut and marked."""

MAX_PAYLOAD = 262_144
"""Largest encoded payload in bytes; bigger ones are cut further (strings to MAX_TEXT // 16, lists to 100 items)."""

REDACTED = "[redacted]"

SECRET_KEYS = frozenset(
    {
        "api_key",
        "apikey",
        "x_api_key",
        "x_goog_api_key",
        "authorization",
        "proxy_authorization",
        "password",
        "passwd",
        "secret",
        "secret_key",
        "client_secret",
        "access_token",
        "refresh_token",
        "auth_token",
        "bearer_token",
        "session_token",
        "api_token",
    }
)
"""Payload keys (lower case, '-' read as '_') whose values are never stored."""

_SECRET_SUFFIXES = ("_api_key", "_secret", "_password")
_ENV_SECRET_MARKERS = ("API_KEY", "APIKEY", "SECRET", "TOKEN", "PASSWORD")
_MIN_SECRET_LEN = 8
_MAX_DEPTH = 32
_MAX_SAFE_KEYS = 10_000

_lock = threading.Lock()
_is_tracked = gc.is_tracked
_dumps = marshal.dumps
_secrets: tuple[str, ...] = ()
_secret_bytes: tuple[bytes, ...] = ()
# Payload keys repeat ("status", "duration_ms", ...): those known to be harmless are checked in one C call.
_safe_keys: set[Any] = set()


def register_secret(value: str | None) -> None:
    """Never store `value` (an API key, say): any payload string containing it is redacted.

    LM clients register the keys they are given. Values of environment variables
    whose names contain API_KEY, SECRET, TOKEN or PASSWORD are registered when
    this module is imported. Values shorter than 8 characters are ignored: they
    would redact ordinary words.
    """
    global _secrets, _secret_bytes
    if not value or len(value) < _MIN_SECRET_LEN or value in _secrets:
        return
    with _lock:
        if value not in _secrets:
            _secrets = (*_secrets, value)
            _secret_bytes = (*_secret_bytes, value.encode("utf-8"))


def _register_environment() -> None:
    for name, value in os.environ.items():
        upper = name.upper()
        if any(marker in upper for marker in _ENV_SECRET_MARKERS):
            register_secret(value)


_register_environment()


def is_secret_key(key: object) -> bool:
    """Whether a payload key names a secret (api_key, Authorization, x-api-key, ...)."""
    if type(key) is not str:
        return False
    name = key.lower().replace("-", "_")
    return name in SECRET_KEYS or name.endswith(_SECRET_SUFFIXES)


def freeze(payload: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
    """Clean `payload` and encode it; returns (encoded bytes, cleaned payload).

    The cleaned payload is `payload` itself when nothing had to change, else a
    new dict (the caller's objects are never modified).
    """
    try:
        blob = _dumps(payload)
    except ValueError:
        return _slow(payload)
    if len(blob) > MAX_TEXT:
        return _slow(payload)
    # Most payloads hold only keys seen before: one C call clears the top level, and only dicts
    # inside (a dict of plain values is not tracked by the garbage collector) need a closer look.
    safe = _safe_keys
    if not safe.issuperset(payload):
        if _has_secret_key(payload, 0):
            return _slow(payload)
    elif _is_tracked(payload) and (blob.find(b"{", 1) != -1 or blob.find(b"\xfb", 1) != -1):
        # A typed event's payload is its instance dict, which the collector always tracks: the encoded
        # form tells at once whether a dict is nested inside ("{", or "\xfb" when marshal refers back).
        for value in payload.values():
            if type(value) is dict and (_is_tracked(value) or not safe.issuperset(value)) and _has_secret_key(value, 1):
                return _slow(payload)
    # bytes.find, not `in`: `in` first tries the needle as an integer, which costs twice as much.
    for secret in _secret_bytes:
        if blob.find(secret) != -1:
            return _slow(payload)
    return blob, payload


def thaw(stored: bytes | memoryview | str | dict[str, Any] | None) -> dict[str, Any] | None:
    """The payload dict back from its stored form (a fresh copy for encoded forms)."""
    kind = type(stored)
    if kind is bytes or kind is memoryview:
        return marshal.loads(stored)  # type: ignore[arg-type]
    if kind is str:
        return json.loads(stored)  # type: ignore[arg-type]
    return stored  # type: ignore[return-value]


def thaw_all(stored: list[Any]) -> list[dict[str, Any] | None]:
    """`thaw` over a list, with the common all-marshal case kept tight."""
    loads = marshal.loads
    try:
        return [None if item is None else loads(item) for item in stored]
    except TypeError:
        return [thaw(item) for item in stored]


def to_json(stored: bytes | memoryview | str | dict[str, Any] | None) -> str | None:
    """A stored payload as JSON text (for SQLite and Parquet); non-JSON values become strings."""
    if stored is None:
        return None
    if isinstance(stored, str):
        return stored
    value = thaw(stored)
    try:
        return json.dumps(value, ensure_ascii=False, default=_json_default)
    except ValueError:
        # A cycle (marshal keeps them, JSON cannot): write it cut at the nesting limit.
        return json.dumps(_clean(value, MAX_TEXT, None, 0), ensure_ascii=False, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return repr(value)


def _has_secret_key(mapping: dict[Any, Any], depth: int) -> bool:
    """Whether a key of `mapping`, or of a dict nested in it (through dicts only), names a secret."""
    safe = _safe_keys
    if not safe.issuperset(mapping):
        for key in mapping:
            if key not in safe:
                if is_secret_key(key):
                    return True
                if len(safe) >= _MAX_SAFE_KEYS:
                    safe.clear()
                safe.add(key)
    # A dict holding only strings and numbers is not tracked by the garbage collector: nothing nested.
    if depth < _MAX_DEPTH and _is_tracked(mapping):
        for value in mapping.values():
            if (
                type(value) is dict
                and (_is_tracked(value) or not safe.issuperset(value))
                and _has_secret_key(value, depth + 1)
            ):
                return True
    return False


def _slow(payload: Mapping[str, Any]) -> tuple[bytes, dict[str, Any]]:
    cleaned = _clean(payload, MAX_TEXT, None, 0)
    blob = _dumps(cleaned)
    if len(blob) > MAX_PAYLOAD:
        cleaned = _clean(cleaned, MAX_TEXT // 16, 100, 0)
        cleaned["_cut"] = f"payload was {len(blob)} bytes; strings and lists were shortened"
        blob = _dumps(cleaned)
    return blob, cleaned


def _clean(value: Any, max_text: int, max_items: int | None, depth: int) -> Any:
    """A plain-data copy of `value` with long strings cut, secrets redacted, odd objects as repr."""
    kind = type(value)
    if kind is str:
        return _clean_text(value, max_text)
    if value is None or kind in (int, float, bool, bytes):
        return value
    if depth >= _MAX_DEPTH:
        return _clean_text(f"[nested deeper than {_MAX_DEPTH} levels: {type(value).__name__}]", max_text)
    depth += 1
    if isinstance(value, Mapping):
        return {
            key if type(key) is str else str(key): REDACTED
            if is_secret_key(key) and value[key] is not None
            else _clean(value[key], max_text, max_items, depth)
            for key in value
        }
    if isinstance(value, list | tuple | set | frozenset):
        items = list(value)
        cut = max_items is not None and len(items) > max_items
        if cut:
            items = items[:max_items]
        cleaned = [_clean(item, max_text, max_items, depth) for item in items]
        if cut:
            cleaned.append(f"...[cut {len(value) - max_items} items]")  # type: ignore[operator]
        return cleaned
    if isinstance(value, enum.Enum):
        return _clean(value.value, max_text, max_items, depth)
    for method in ("model_dump", "to_dict", "toDict"):
        convert = getattr(value, method, None)
        if callable(convert):
            try:
                return _clean(convert(), max_text, max_items, depth)
            except Exception:
                break
    return _clean_text(repr(value), max_text)


def redact_registered(text: str) -> str:
    """`text` with every registered secret replaced by `REDACTED`."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _clean_text(text: str, max_text: int) -> str:
    text = redact_registered(text)
    if len(text) > max_text:
        text = text[:max_text] + f"...[cut {len(text) - max_text} chars]"
    return text
