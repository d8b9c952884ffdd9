"""Turning tracing on and off for the process, and what importing the package costs."""

from __future__ import annotations

import contextvars
import subprocess
import sys

import pytest

import dspex_lab as dx
from dspex_lab.testing.kinds import ev
from dspex_lab.trace import events


@pytest.fixture(autouse=True)
def _default_restored(monkeypatch):
    monkeypatch.setattr(events, "_default_sink", events._default_sink)


def outside_any_block(fn):
    """Run `fn` where no use_store() block applies (the process default decides)."""
    return contextvars.Context().run(fn)


def test_enable_makes_a_bounded_store_the_default():
    store = dx.trace.enable(max_events=10)
    assert store.max_events == 10
    outside_any_block(lambda: events.emit(ev("x"), "y"))
    assert [r["kind"] for r in store.records()] == ["x"]


def test_enable_can_take_a_store():
    mine = dx.trace.EventStore()
    assert dx.trace.enable(mine) is mine
    assert outside_any_block(events.get_store) is mine


def test_disable_turns_the_default_off_but_keeps_listeners():
    seen = []
    outside_any_block(lambda: events.subscribe(seen.append))
    dx.trace.disable()
    assert outside_any_block(events.get_store) is None
    outside_any_block(lambda: events.emit(ev("still"), "heard"))
    assert [e.kind for e in seen] == ["still"]


def test_the_trace_package_exports_its_names_lazily():
    code = (
        "import sys\n"
        "import dspex_lab as dx\n"
        "names = sorted(dx.trace.__all__)\n"
        "print(sorted(m for m in ('pandas', 'numpy', 'pyarrow') if m in sys.modules))\n"
        "print(all(getattr(dx.trace, n) is not None for n in names))\n"
        "print(callable(dx.get_events) and callable(dx.get_state_at) and callable(dx.get_message_flow))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[:3] == ["[]", "True", "True"]
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        dx.trace.nothing  # noqa: B018
