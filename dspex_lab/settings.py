"""Process defaults and context-local overrides for the LM, the adapter and friends.

`configure()` sets process-wide defaults. `context()` overrides them for a block,
in a ContextVar, so an override made in one thread or asyncio task never leaks
into another. Nothing here touches the disk.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

KNOWN_SETTINGS = ("lm", "adapter", "cache_dir", "progress", "callbacks")

_defaults: dict[str, Any] = {"lm": None, "adapter": None, "cache_dir": None, "progress": None}
_overrides: ContextVar[dict[str, Any] | None] = ContextVar("dspex_settings", default=None)


def _check(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The settings as they will be stored (`dspex_lab.config` resolves LM names and callbacks first)."""
    unknown = sorted(set(kwargs) - set(KNOWN_SETTINGS))
    if unknown:
        raise TypeError(f"unknown setting(s) {unknown}; known settings are {list(KNOWN_SETTINGS)}")
    return kwargs


def configure(**kwargs: Any) -> None:
    """Set process-wide defaults, e.g. `configure(lm=dx.LM("local/smollm2-135m"))`.

    `dx.configure` (`dspex_lab.config.configure`) also takes an LM by name.
    """
    _defaults.update(_check(kwargs))


@contextlib.contextmanager
def context(**kwargs: Any) -> Iterator[None]:
    """Override settings for the enclosed block, in this thread or task only."""
    kwargs = _check(kwargs)
    current = _overrides.get()
    merged = dict(current) if current else {}
    merged.update(kwargs)
    token = _overrides.set(merged)
    try:
        yield
    finally:
        _overrides.reset(token)


def get(name: str, default: Any = None) -> Any:
    """The current value of a setting: the innermost `context()`, else `configure()`."""
    current = _overrides.get()
    if current is not None and name in current:
        return current[name]
    value = _defaults.get(name)
    return default if value is None else value


CACHE_DIR_ENV = "DSPEX_CACHE_DIR"


def configured_cache_dir() -> Any:
    """The cache directory as configured (setting, else $DSPEX_CACHE_DIR), or None for the default."""
    return get("cache_dir") or os.environ.get(CACHE_DIR_ENV)


def cache_dir(configured: Any = None) -> Path:
    """Where dspex_lab keeps its files (LM cache, evaluation runs); nothing is created here.

    `configure(cache_dir=...)`, else $DSPEX_CACHE_DIR, else ~/.cache/dspex_lab.
    """
    configured = configured or configured_cache_dir()
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "dspex_lab"


def current_lm() -> Any:
    """The LM in effect, or a ConfigurationError that says how to set one."""
    lm = get("lm")
    if lm is None:
        from dspex_lab.errors import ConfigurationError

        raise ConfigurationError(
            "no LM is configured: call dx.configure(lm=dx.LM('local/smollm2-135m')), "
            "use `with dx.context(lm=...)`, or pass lm= to the program"
        )
    return lm


def current_adapter(lm: Any = None) -> Any:
    """The adapter in effect: the one set, else `lm`'s `default_adapter` if it has one, else ChatAdapter."""
    adapter = get("adapter")
    if adapter is not None:
        return adapter
    preferred = getattr(lm, "default_adapter", None)
    if preferred is not None:
        return preferred
    global _chat_adapter
    if _chat_adapter is None:
        from dspex_lab.adapters.chat import DEFAULT_CHAT_ADAPTER

        _chat_adapter = DEFAULT_CHAT_ADAPTER
    return _chat_adapter


_chat_adapter: Any = None


def snapshot() -> dict[str, Any]:
    """The settings in effect here (`configure()` and the current `context()`), for `context(**...)` elsewhere.

    A Dask worker runs its share of a run inside `context(**snapshot())` taken on the client.
    """
    merged = {name: value for name, value in _defaults.items() if value is not None}
    merged.update(_overrides.get() or {})
    return merged
