"""The synchronous bridge: works with or without a running loop, carries context, survives interrupts."""

import asyncio
import signal
import threading

import pytest

import dspex_lab as dx
from dspex_lab import settings
from dspex_lab.loop import in_background_loop, run_blocking, run_sync


def test_a_sync_call_works_while_another_loop_runs_in_this_thread():
    lm = dx.ScriptedLM([{"answer": "4"}])

    async def inside_a_running_loop():
        # A Jupyter cell runs inside the kernel's loop exactly like this.
        return dx.Predict("question -> answer", lm=lm)(question="2+2?").answer

    assert asyncio.run(inside_a_running_loop()) == "4"


def test_context_settings_travel_to_the_background_loop():
    lm = dx.ScriptedLM([])

    async def read():
        return settings.get("lm")

    with dx.context(lm=lm):
        assert run_sync(read()) is lm


def test_a_sync_call_from_inside_the_background_loop_is_refused_clearly():
    async def nested():
        assert in_background_loop()
        return run_sync(asyncio.sleep(0))

    with pytest.raises(RuntimeError, match="use the async form"):
        run_sync(nested())


def test_an_interrupt_cancels_the_task_and_returns_what_it_returns_on_cancellation():
    started = threading.Event()
    seen = []

    async def work():
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            seen.append("cancelled")
            return "partial"

    assert _run_with_sigint(work, started) == "partial"
    assert seen == ["cancelled"]


def test_an_interrupt_on_work_that_does_not_handle_it_raises_keyboard_interrupt():
    started = threading.Event()

    async def work():
        started.set()
        await asyncio.Event().wait()

    with pytest.raises(KeyboardInterrupt):
        _run_with_sigint(work, started)


def _run_with_sigint(make_work, started):
    """Call run_sync in the main thread and send it SIGINT once the work has started, as Ctrl-C does."""
    assert threading.current_thread() is threading.main_thread()
    main = threading.get_ident()

    def deliver():
        started.wait()
        signal.pthread_kill(main, signal.SIGINT)

    # Ctrl-C raises KeyboardInterrupt only under Python's default handler; another test or
    # library may have replaced it, so install it for this call.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    sender = threading.Thread(target=deliver)
    sender.start()
    try:
        return run_sync(make_work())
    finally:
        sender.join()
        signal.signal(signal.SIGINT, previous)


def test_run_blocking_runs_a_coroutine_that_never_waits_in_this_thread_without_a_loop():
    async def work():
        return threading.current_thread().name

    assert run_blocking(work()) == threading.current_thread().name


def test_run_blocking_waits_on_a_loop_of_this_threads_own_when_the_coroutine_waits():
    async def work():
        loop = asyncio.get_running_loop()
        ready = asyncio.Event()
        loop.call_soon(ready.set)
        await ready.wait()
        await asyncio.sleep(0)
        return "done after waiting"

    assert run_blocking(work()) == "done after waiting"
    assert asyncio.run(asyncio.sleep(0, result="a loop still runs here")) == "a loop still runs here"


def test_run_blocking_works_inside_a_running_loop_like_a_notebook_cell():
    async def inner():
        await asyncio.sleep(0.001)
        return 42

    async def cell():
        return run_blocking(inner())

    assert asyncio.run(cell()) == 42


def test_an_interrupt_while_run_blocking_waits_is_raised_inside_the_coroutine():
    started = threading.Event()
    seen = []

    async def work():
        started.set()
        try:
            await asyncio.Event().wait()
        except KeyboardInterrupt:
            seen.append("cleaned up")
            raise

    main = threading.get_ident()

    def deliver():
        started.wait()
        signal.pthread_kill(main, signal.SIGINT)

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    sender = threading.Thread(target=deliver)
    sender.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            run_blocking(work())
    finally:
        sender.join()
        signal.signal(signal.SIGINT, previous)
    assert seen == ["cleaned up"]
