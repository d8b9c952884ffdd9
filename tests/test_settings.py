"""Settings: process defaults, and context overrides that never leak across threads or tasks."""

import asyncio
import threading

import pytest

import dspex_lab as dx
from dspex_lab import settings


def test_configure_sets_the_process_default():
    lm = dx.ScriptedLM([])
    dx.configure(lm=lm)
    assert settings.current_lm() is lm


def test_context_overrides_then_restores():
    outer, inner = dx.ScriptedLM([]), dx.ScriptedLM([])
    dx.configure(lm=outer)
    with dx.context(lm=inner):
        assert settings.current_lm() is inner
    assert settings.current_lm() is outer


def test_no_lm_configured_says_how_to_configure_one():
    with pytest.raises(dx.ConfigurationError, match=r"dx.configure\(lm="):
        settings.current_lm()


def test_unknown_settings_are_rejected():
    with pytest.raises(TypeError, match="unknown setting"):
        dx.configure(lmm=1)


def test_a_context_in_one_thread_is_invisible_in_another():
    mine = dx.ScriptedLM([])
    seen = {}
    entered, checked = threading.Event(), threading.Event()

    def other():
        entered.wait()
        seen["lm"] = settings.get("lm")
        checked.set()

    thread = threading.Thread(target=other)
    thread.start()
    with dx.context(lm=mine):
        entered.set()
        checked.wait()
    thread.join()
    assert seen["lm"] is None


def test_contexts_in_concurrent_tasks_do_not_leak():
    first, second = dx.ScriptedLM([]), dx.ScriptedLM([])

    async def use(lm, gate_in, gate_out):
        with dx.context(lm=lm):
            gate_in.set()
            await gate_out.wait()
            return settings.current_lm()

    async def main():
        a_in, b_in, release = asyncio.Event(), asyncio.Event(), asyncio.Event()
        a = asyncio.create_task(use(first, a_in, release))
        b = asyncio.create_task(use(second, b_in, release))
        await a_in.wait()
        await b_in.wait()
        release.set()
        return await a, await b

    assert asyncio.run(main()) == (first, second)
