"""Each shim over another package's private internals still matches the installed version (fails loudly if not)."""

from __future__ import annotations

import asyncio

import pytest

from dspex_lab.compat import asyncio_loop, ipykernel_subshell, llama_cache


def test_the_running_loop_shim_answers_none_outside_and_the_loop_inside():
    asyncio_loop.check()
    assert asyncio_loop.running_loop_or_none() is None

    async def inside() -> bool:
        return asyncio_loop.running_loop_or_none() is asyncio.get_running_loop()

    assert asyncio.run(inside())


def test_the_ipykernel_shim_matches_the_installed_ipykernel():
    ipykernel_subshell.check()


def test_forgetting_the_reply_subshell_drops_only_that_attribute():
    class Comm:
        _reply_subshell_id = "shell-1"
        other = 1

    comm = Comm()
    comm._reply_subshell_id = "shell-2"
    ipykernel_subshell.forget_reply_subshell(comm)
    assert comm.__dict__ == {}
    ipykernel_subshell.forget_reply_subshell(None)


def test_the_llama_cache_shim_matches_the_installed_llama_cpp_python():
    pytest.importorskip("llama_cpp")
    llama_cache.check()
