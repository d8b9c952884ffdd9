"""Fixtures shared by the whole suite: every test gets its own trace store and settings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dspex_lab import settings
from dspex_lab.trace import events
from dspex_lab.trace.store import EventStore


@pytest.fixture(autouse=True)
def trace_store() -> Iterator[EventStore]:
    """A fresh event store for this test only; events never leak between tests."""
    store = EventStore()
    with events.use_store(store):
        yield store


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Settings made with dx.configure() in a test are undone after it."""
    saved = dict(settings._defaults)
    cache_dir = tmp_path_factory.mktemp("cache")
    settings._defaults["cache_dir"] = str(cache_dir)
    yield
    settings._defaults.clear()
    settings._defaults.update(saved)
