"""The shared engine: bounded, isolated, observable and stoppable runs over items."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from dspex_lab.errors import Interrupted
from dspex_lab.evaluation.cancel import CancelToken, RunInProgressError, active_runs, cancel_run
from dspex_lab.evaluation.engine import run_each
from dspex_lab.evaluation.executor import Job, OnOutcome
from dspex_lab.testing.kinds import ev
from dspex_lab.trace import events

from .helpers import Recorder


async def double(item: int) -> int:
    await asyncio.sleep(0)
    return item * 2


async def hang_from(limit: int, item: int) -> int:
    """Items below `limit` finish; the others wait forever (until cancelled)."""
    if item >= limit:
        await asyncio.Event().wait()
    return item


def test_every_item_runs_once_and_outcomes_carry_their_index():
    report = asyncio.run(run_each(double, list(range(10)), concurrency=3))

    assert report.status == "completed"
    assert sorted(outcome.index for outcome in report.outcomes) == list(range(10))
    assert {outcome.index: outcome.value for outcome in report.outcomes} == {i: i * 2 for i in range(10)}
    assert all(outcome.latency_ms >= 0 for outcome in report.outcomes)


def test_only_the_given_indices_run():
    report = asyncio.run(run_each(double, list(range(10)), indices=[1, 5, 7]))

    assert sorted(outcome.index for outcome in report.outcomes) == [1, 5, 7]
    assert (report.total, report.pending) == (10, 3)


def test_never_more_items_in_flight_than_the_concurrency():
    in_flight = 0
    peak = 0

    async def tracked(item: int) -> int:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        for _ in range(3):
            await asyncio.sleep(0)
        in_flight -= 1
        return item

    asyncio.run(run_each(tracked, list(range(40)), concurrency=4))

    assert peak == 4


def test_a_failing_item_is_recorded_with_message_and_traceback_and_the_rest_go_on():
    async def fragile(item: int) -> int:
        if item == 3:
            raise ValueError("item three is broken")
        return item

    report = asyncio.run(run_each(fragile, list(range(8)), concurrency=2))

    assert report.status == "completed"
    assert len(report.outcomes) == 8
    [failed] = report.errors
    assert failed.index == 3
    assert failed.error == "ValueError: item three is broken"
    assert "in fragile" in failed.traceback
    assert all(outcome.ok for outcome in report.outcomes if outcome.index != 3)


def test_a_straggler_times_out_and_the_others_finish():
    report = asyncio.run(run_each(lambda item: hang_from(5, item) if item == 5 else double(item), list(range(8)),
                                  concurrency=2, timeout=0.2))  # fmt: skip

    [late] = report.errors
    assert late.index == 5
    assert late.timed_out
    assert late.error == "TimeoutError: example took longer than timeout=0.2 s"
    assert sorted(o.index for o in report.outcomes if o.ok) == [0, 1, 2, 3, 4, 6, 7]


def test_a_timeout_raised_by_the_item_itself_is_an_ordinary_error():
    async def own_timeout(item: int) -> int:
        raise TimeoutError("the provider timed out")

    report = asyncio.run(run_each(own_timeout, [0], timeout=30))

    [failed] = report.errors
    assert not failed.timed_out
    assert failed.error == "TimeoutError: the provider timed out"


def test_max_errors_stops_the_run_once_exceeded_and_says_why():
    async def odd_fail(item: int) -> int:
        if item % 2:
            raise RuntimeError(f"odd item {item}")
        return item

    report = asyncio.run(run_each(odd_fail, list(range(20)), concurrency=1, max_errors=2))

    assert report.status == "stopped"
    assert [outcome.index for outcome in report.outcomes] == [0, 1, 2, 3, 4, 5]
    assert "3 failed examples (more than max_errors=2)" in report.reason
    assert "example 1: RuntimeError: odd item 1" in report.reason


def test_max_errors_zero_stops_at_the_first_error():
    async def fail_two(item: int) -> int:
        if item == 2:
            raise RuntimeError("two")
        return item

    report = asyncio.run(run_each(fail_two, list(range(10)), concurrency=1, max_errors=0))

    assert report.status == "stopped"
    assert [outcome.index for outcome in report.outcomes] == [0, 1, 2]


def test_progress_events_come_in_order_with_the_run_id(trace_store):
    recorder = Recorder()

    report = asyncio.run(run_each(double, list(range(6)), concurrency=2, progress=recorder, run_id="ordered"))

    kinds = recorder.kinds
    assert kinds[0] == "evaluate.start"
    assert kinds[1:-1] == ["evaluate.example"] * 6
    assert kinds[-1] == "evaluate.end"
    start, end = recorder.events[0].payload, recorder.events[-1].payload
    assert (start["total"], start["pending"], start["concurrency"]) == (6, 6, 2)
    assert (end["status"], end["finished"], end["errors"]) == ("completed", 6, 0)
    assert sorted(e.payload["index"] for e in recorder.events[1:-1]) == list(range(6))
    assert {event.run_id for event in recorder.events} == {"ordered"} == {report.run_id}
    stored = [r["kind"] for r in trace_store.records() if r["kind"].startswith("evaluate.") and "item" not in r["kind"]]
    assert stored == kinds


def test_a_progress_consumer_sees_only_its_own_run():
    mine, other = Recorder(), Recorder()

    async def both() -> None:
        await asyncio.gather(
            run_each(double, list(range(3)), progress=mine, run_id="mine"),
            run_each(double, list(range(5)), progress=other, run_id="other"),
        )

    asyncio.run(both())

    assert {event.run_id for event in mine.events} == {"mine"}
    assert sum(kind == "evaluate.example" for kind in mine.kinds) == 3
    assert sum(kind == "evaluate.example" for kind in other.kinds) == 5


def test_events_emitted_by_an_item_carry_the_run_id_and_nest_under_its_span(trace_store):
    async def noisy(item: int) -> int:
        events.emit(ev("test.inside", {"item": item}), "test")
        return item

    asyncio.run(run_each(noisy, [0, 1, 2], run_id="nested"))

    records = trace_store.records()
    spans = {r["payload"]["index"]: r["span_id"] for r in records if r["kind"] == "evaluate.item.start"}
    inside = [r for r in records if r["kind"] == "test.inside"]
    assert len(inside) == 3
    for record in inside:
        assert record["run_id"] == "nested"
        assert record["parent_id"] == spans[record["payload"]["item"]]


def test_a_cancel_token_stops_the_run_from_another_thread_and_keeps_finished_items():
    token = CancelToken()
    recorder = Recorder(when_done=3, action=lambda: threading.Thread(target=token.cancel).start())

    report = asyncio.run(
        run_each(lambda item: hang_from(3, item), list(range(10)), concurrency=2, cancel=token, progress=recorder)
    )

    assert report.status == "cancelled"
    assert report.reason == "cancelled by CancelToken.cancel()"
    assert sorted(outcome.index for outcome in report.outcomes) == [0, 1, 2]
    assert recorder.kinds[-1] == "evaluate.end"
    assert recorder.events[-1].payload["status"] == "cancelled"


def test_a_token_cancelled_before_the_start_runs_nothing():
    token = CancelToken()
    token.cancel("not today")

    report = asyncio.run(run_each(double, list(range(5)), cancel=token))

    assert (report.status, report.reason, report.outcomes) == ("cancelled", "not today", [])


def test_cancel_run_finds_a_run_by_its_id():
    seen: list[list[str]] = []

    def stop() -> None:
        seen.append(active_runs())
        threading.Thread(target=cancel_run, args=("by-id",)).start()

    recorder = Recorder(when_done=2, action=stop)
    report = asyncio.run(run_each(lambda item: hang_from(2, item), list(range(6)), run_id="by-id", progress=recorder))

    assert seen == [["by-id"]]
    assert report.status == "cancelled"
    assert report.reason == "cancelled with cancel_run('by-id')"
    assert active_runs() == []
    assert cancel_run("by-id") is False


def test_cancelling_the_awaiting_task_cancels_it_and_keeps_the_partial_report():
    async def main() -> tuple[asyncio.Task[Any], Interrupted]:
        holder: list[asyncio.Task[Any]] = []
        recorder = Recorder(when_done=4, action=lambda: holder[0].cancel())
        task = asyncio.create_task(
            run_each(lambda item: hang_from(4, item), list(range(10)), concurrency=3, progress=recorder)
        )
        holder.append(task)
        with pytest.raises(asyncio.CancelledError) as raised:
            await task
        return task, raised.value

    task, stop = asyncio.run(main())

    assert task.cancelled()
    assert isinstance(stop, Interrupted)
    report = stop.partial
    assert report.status == "cancelled"
    assert report.reason.startswith("interrupted")
    assert sorted(outcome.index for outcome in report.outcomes) == [0, 1, 2, 3]


def test_wait_for_times_a_run_out():
    async def main() -> None:
        await asyncio.wait_for(run_each(lambda item: hang_from(0, item), [0, 1]), timeout=0.01)

    with pytest.raises(TimeoutError):
        asyncio.run(main())


def test_a_task_group_cancels_a_run_when_a_sibling_fails():
    async def fail() -> None:
        await asyncio.sleep(0)
        raise ValueError("sibling failed")

    async def main() -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(run_each(lambda item: hang_from(0, item), [0, 1]))
            group.create_task(fail())

    with pytest.raises(ExceptionGroup) as raised:
        asyncio.run(main())
    assert [type(error) for error in raised.value.exceptions] == [ValueError]


def test_a_run_id_already_in_progress_is_refused():
    async def main() -> str:
        first = asyncio.create_task(run_each(lambda item: hang_from(0, item), [0], run_id="busy"))
        await asyncio.sleep(0)
        with pytest.raises(RunInProgressError, match="run 'busy' is already in progress"):
            await run_each(double, [1], run_id="busy")
        cancel_run("busy")
        return (await first).status

    assert asyncio.run(main()) == "cancelled"


def test_an_executor_decides_where_and_in_which_order_items_run():
    class Reversed:
        calls: list[int] = []

        async def run(self, job: Job, items: Any, *, concurrency: int, on_outcome: OnOutcome) -> None:
            for index, item in reversed(list(items)):
                self.calls.append(index)
                on_outcome(await job(index, item))

    executor = Reversed()
    report = asyncio.run(run_each(double, list(range(4)), executor=executor))

    assert executor.calls == [3, 2, 1, 0]
    assert [outcome.index for outcome in report.outcomes] == [3, 2, 1, 0]


def test_a_failure_of_the_outcome_callback_propagates_and_ends_the_run(trace_store):
    def broken(outcome: Any) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        asyncio.run(run_each(double, list(range(5)), on_outcome=broken, run_id="broken"))

    [end] = [r for r in trace_store.records() if r["kind"] == "evaluate.end"]
    assert end["payload"]["status"] == "failed"
    assert "disk full" in end["payload"]["reason"]
    assert active_runs() == []


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"concurrency": 0}, "concurrency must be a whole number >= 1, got 0"),
        ({"concurrency": 2.5}, "concurrency must be a whole number >= 1, got 2.5"),
        ({"timeout": 0}, "timeout must be a finite number of seconds > 0 or None, got 0"),
        ({"timeout": float("nan")}, "timeout must be a finite number of seconds > 0 or None, got nan"),
        ({"max_errors": -1}, "max_errors must be a whole number >= 0 or None, got -1"),
        ({"circuit_wait": float("inf")}, "circuit_wait must be a finite number of seconds >= 0, got inf"),
    ],
)
def test_bad_limits_are_refused_before_anything_runs(limits, message):
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        asyncio.run(run_each(double, [1], **limits))


def test_calls_inside_run_each_wait_for_an_open_breaker_as_an_optimizer_s_teacher_runs_do():
    import dspex_lab as dx
    from dspex_lab.testing import ProviderServer

    now = [0.0]
    with ProviderServer() as server:
        server.clock = lambda: now[0]
        lm = dx.LM("openai/teacher", api_base=server.url, api_key="x", cache=False, num_retries=0,
                   circuit_threshold=1, circuit_cooldown=0.1)  # fmt: skip
        server.outage(3600)

        class Watch(Recorder):
            """The provider comes back the moment the run starts waiting for the breaker."""

            def on_event(self, event) -> None:
                super().on_event(event)
                if event.kind == "evaluate.wait" and event.payload["waiting"]:
                    now[0] = 7200

        async def teach(item: int) -> str:
            return (await lm.acall(f"item {item}")).text

        watch = Watch()
        report = asyncio.run(run_each(teach, list(range(6)), concurrency=3, progress=watch, label="bootstrap"))
    assert (report.status, report.errors) == ("completed", [])
    assert "evaluate.wait" in watch.kinds
    assert all(outcome.value.startswith("Reply ") for outcome in report.outcomes)
