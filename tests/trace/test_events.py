"""Emitting events: the schema, spans, context propagation, listeners and the off switch."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from dspex_lab.loop import run_sync
from dspex_lab.testing.kinds import ev, opens
from dspex_lab.trace import events
from dspex_lab.trace.store import EventStore


def test_an_event_carries_the_schema_fields(trace_store):
    with events.run("r1"):
        events.emit(ev("evaluate.example", {"index": 3, "score": 0.5}), "qa", correlation_id="c9")

    [event] = trace_store.records()
    assert set(event) == set(events.FIELDS)
    assert event["kind"] == "evaluate.example"
    assert event["component"] == "qa"
    assert event["run_id"] == "r1"
    assert event["correlation_id"] == "c9"
    assert event["span_id"] is None
    assert event["parent_id"] is None
    assert event["task"] == "thread:" + threading.current_thread().name
    assert event["payload"] == {"index": 3, "score": 0.5}
    assert abs(event["ts"] - events.now_ns()) < 60 * 10**9


def test_a_span_emits_start_and_end_with_status_and_duration(trace_store):
    with events.span(opens("program", {"inputs": {"q": "x"}}), "qa") as span:
        span.set(outputs={"a": "y"})

    start, end = trace_store.records()
    assert (start["kind"], end["kind"]) == ("program.start", "program.end")
    assert start["span_id"] == end["span_id"] == span.span_id
    assert start["payload"] == {"inputs": {"q": "x"}}
    assert end["payload"]["status"] == "ok"
    assert end["payload"]["outputs"] == {"a": "y"}
    assert end["payload"]["duration_ms"] >= 0


def test_a_span_with_an_explicit_end_kind_shares_its_correlation_id(trace_store):
    with events.span(opens("lm.request", {"messages": []}, end="lm.response"), "lm:x/y", correlation_id="x#1"):
        pass

    kinds = [(e["kind"], e["correlation_id"]) for e in trace_store.records()]
    assert kinds == [("lm.request", "x#1"), ("lm.response", "x#1")]


def test_a_failing_span_records_the_error_and_still_raises(trace_store):
    with pytest.raises(ValueError, match="boom"), events.span(opens("program"), "qa"):
        raise ValueError("boom")

    end = trace_store.records()[-1]["payload"]
    assert end["status"] == "error"
    assert end["error"] == "ValueError: boom"


def test_a_cancelled_task_ends_its_span_as_cancelled(trace_store):
    async def main():
        entered = asyncio.Event()

        async def work():
            with events.span(opens("program"), "qa"):
                entered.set()
                await asyncio.Event().wait()

        task = asyncio.create_task(work())
        await entered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert trace_store.records()[-1]["payload"]["status"] == "cancelled"


def test_events_inside_a_span_get_it_as_parent_and_nesting_unwinds(trace_store):
    with events.span(opens("program"), "qa") as outer:
        with events.span(opens("program"), "qa.generate") as inner:
            events.emit(ev("adapter.format"), "qa.generate")
        events.emit(ev("note"), "qa")
    events.emit(ev("after"), "qa")

    parents = {(e["kind"], e["component"]): e["parent_id"] for e in trace_store.records()}
    assert parents[("program.start", "qa")] is None
    assert parents[("program.start", "qa.generate")] == outer.span_id
    assert parents[("adapter.format", "qa.generate")] == inner.span_id
    assert parents[("program.end", "qa.generate")] == outer.span_id
    assert parents[("note", "qa")] == outer.span_id
    assert parents[("after", "qa")] is None


def test_context_follows_asyncio_tasks_and_to_thread(trace_store):
    async def child(label):
        await asyncio.sleep(0)
        events.emit(ev("child"), label)

    def blocking():
        events.emit(ev("blocking"), "worker")

    async def main():
        with events.run("r-async"), events.span(opens("program"), "root") as root:
            await asyncio.gather(child("a"), child("b"))
            await asyncio.to_thread(blocking)
        return root.span_id

    root_id = asyncio.run(main())
    found = {e["component"]: e for e in trace_store.records() if e["kind"] in ("child", "blocking")}
    assert {name: (e["parent_id"], e["run_id"]) for name, e in found.items()} == {
        "a": (root_id, "r-async"),
        "b": (root_id, "r-async"),
        "worker": (root_id, "r-async"),
    }
    assert found["a"]["task"].startswith("task:")
    assert found["a"]["task"] != found["b"]["task"]


def test_context_follows_the_synchronous_bridge(trace_store):
    async def inside():
        events.emit(ev("inside"), "bridge")

    with events.run("r-sync"), events.span(opens("program"), "root") as root:
        run_sync(inside())

    [event] = [e for e in trace_store.records() if e["kind"] == "inside"]
    assert (event["run_id"], event["parent_id"]) == ("r-sync", root.span_id)


def test_bind_carries_the_context_into_a_thread_pool(trace_store, monkeypatch):
    default = EventStore()
    monkeypatch.setattr(events, "_default_sink", events.Sink(default))
    with events.run("r-pool"), events.span(opens("program"), "root") as root, ThreadPoolExecutor(2) as pool:
        bound = events.bind(lambda n: events.emit(ev("pooled"), f"w{n}"))
        list(pool.map(bound, range(4)))
        pool.submit(events.emit, ev("unbound"), "w").result()

    pooled = [e for e in trace_store.records() if e["kind"] == "pooled"]
    assert len(pooled) == 4
    assert {(e["run_id"], e["parent_id"]) for e in pooled} == {("r-pool", root.span_id)}
    # A pool thread starts from an empty context: without bind, the event goes to the process default.
    [unbound] = default.records()
    assert (unbound["kind"], unbound["run_id"], unbound["parent_id"]) == ("unbound", None, None)


def test_use_store_none_turns_tracing_off_for_the_block(trace_store):
    with events.use_store(None):
        assert not events.tracing_active()
        events.emit(ev("hidden"), "qa")
        with events.span(opens("program"), "qa") as span:
            pass
        assert span.span_id is None
    events.emit(ev("shown"), "qa")

    assert [e["kind"] for e in trace_store.records()] == ["shown"]


def test_listeners_get_each_event_and_can_unsubscribe(trace_store):
    seen = []
    unsubscribe = events.subscribe(seen.append)
    events.emit(ev("one", {"n": 1}), "qa")
    unsubscribe()
    events.emit(ev("two"), "qa")

    assert [(e.kind, e.payload) for e in seen] == [("one", {"n": 1})]


def test_a_failing_listener_is_removed_and_the_emitter_is_unharmed(trace_store, caplog):
    calls = []

    def broken(event):
        calls.append(event.kind)
        raise RuntimeError("display went away")

    events.subscribe(broken)
    events.emit(ev("one"), "qa")
    events.emit(ev("two"), "qa")

    assert calls == ["one"]
    assert [e["kind"] for e in trace_store.records()] == ["one", "two"]
    assert "display went away" in caplog.text


def test_listeners_without_a_store_still_receive_events():
    seen = []
    with events.use_store(None):
        events.subscribe(seen.append)
        assert events.tracing_active()
        events.emit(ev("live", {"x": 1}), "qa")
    assert [(e.kind, e.payload) for e in seen] == [("live", {"x": 1})]


def test_the_payload_is_frozen_when_emitted(trace_store):
    demos = [{"q": "a"}]
    events.emit(ev("state.change", {"value": demos}), "predict:x")
    demos.append({"q": "b"})

    assert trace_store.records()[0]["payload"] == {"value": [{"q": "a"}]}


def test_new_ids_are_unique_across_threads():
    found = []
    lock = threading.Lock()

    def take():
        mine = [events.new_id() for _ in range(1000)]
        with lock:
            found.extend(mine)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(found)) == 4000


def test_run_without_an_id_makes_one():
    with events.run() as run_id:
        assert events.current_run_id() == run_id
        assert len(run_id) == 12
    assert events.current_run_id() is None


def test_tracing_is_on_by_default_with_a_bounded_store():
    code = (
        "from dspex_lab.trace import events, schema\n"
        "store = events.get_store()\n"
        "events.emit(schema.LMCircuit(state='open', failures=1), 'y')\n"
        "print(type(store).__name__, store.max_events, len(store))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["EventStore", str(EventStore.DEFAULT_MAX_EVENTS), "1"]


def test_emitting_imports_neither_pandas_nor_numpy():
    code = (
        "import sys\n"
        "from dspex_lab.trace import events, schema\n"
        "from dspex_lab.trace.store import EventStore\n"
        "store = EventStore(chunk_events=10)\n"
        "with events.use_store(store):\n"
        "    for i in range(25):\n"
        "        with events.span(schema.ProgramStart(module='QA', inputs={'i': i}), 'qa'):\n"
        "            events.emit(schema.AdapterFormat(adapter='A', messages=[{'role': 'user'}]), 'qa')\n"
        "print(len(store), sorted(m for m in ('pandas', 'numpy', 'pyarrow') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "75 []"
