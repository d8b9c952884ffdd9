"""Event store figures: emitting, memory, queries on a million events, tracing's cost on a cached Predict call.

- emit: microseconds per event over `--events` events into a fresh unbounded
  store, amortized (sealing included), for a plain `emit` with a small payload
  and for the events of real program calls (spans, messages, LM replies); the
  same loops with tracing off are measured in the same run.
- memory: MB per 100,000 events of the program-call mix (tracemalloc), for the
  store alone, with every query index built, and with a full trace frame.
- queries: on `--events` synthetic events spread over an hour (10 programs,
  3 LMs, 20 predictors changing state), the first call (building indexes)
  and the median of later calls.
- predict: a cached `dx.Predict` call against the loopback provider server,
  tracing on and off in alternating blocks; the difference is tracing's cost.

Figures are CPU time of this process (see `clock`), medians of `--runs` runs.

    .venv/bin/python benchmarks/bench_trace.py
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable

import dspex_lab as dx
from dspex_lab.trace import events, schema
from dspex_lab.trace.flow import get_message_flow
from dspex_lab.trace.query import get_events
from dspex_lab.trace.query import spans as get_spans
from dspex_lab.trace.schema import FIELDS, Event
from dspex_lab.trace.store import EventStore
from dspex_lab.trace.timetravel import get_state_at

SYSTEM = "Your input fields are:\n1. `question` (str)\nYour output fields are:\n1. `answer` (str)\n" * 2
PROGRAMS = [f"p{k}" for k in range(10)]
LMS = ["lm:openai/gpt-4o-mini", "lm:anthropic/claude-3-5-haiku", "lm:gemini/gemini-2.0-flash"]
HOUR_NS = 3600 * 10**9
clock = time.process_time
"""Every figure is CPU time of this process: on a shared machine a busy neighbour inflates the wall
clock far more (it also takes the CPU away), while it can only slow our CPU time through shared caches."""
START_NS = 1_750_000_000 * 10**9


# --- emitting -------------------------------------------------------------------------------------
def program_call(i: int) -> None:
    """The events of one predictor call: 8 events, as modules and LM clients emit them."""
    question = f"What is {i} + {i}?"
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]
    with events.span(schema.ProgramStart(module="QA", inputs={"question": question}), "qa") as outer:
        with events.span(schema.ProgramStart(module="Predict", inputs={"question": question}), "qa.generate") as inner:
            events.emit(schema.AdapterFormat(adapter="ChatAdapter", messages=messages), "qa.generate")
            with events.span(
                schema.LMRequest(messages=messages, params={"temperature": 0.0}),
                "lm:openai/gpt-4o-mini",
                correlation_id=f"gpt-4o-mini#{i}",
            ) as call:
                call.set(
                    text=f"[[ ## answer ## ]]\n{2 * i}\n\n[[ ## completed ## ]]",
                    prompt_tokens=120,
                    completion_tokens=9,
                    cost=None,
                    cache_hit=True,
                    finish_reason="stop",
                )
            events.emit(schema.AdapterParse(adapter="ChatAdapter", fields={"answer": str(2 * i)}), "qa.generate")
            inner.set(outputs={"answer": str(2 * i)}, prompt_tokens=120, completion_tokens=9)
        outer.set(outputs={"answer": str(2 * i)})


def plain_loop(n: int) -> None:
    emit, circuit = events.emit, schema.LMCircuit
    for i in range(n):
        emit(circuit(state="open", failures=i), "lm:openai/gpt-4o-mini")


def calls_loop(n: int) -> None:
    for i in range(n // 8):
        program_call(i)


def timed(store: EventStore | None, loop: Callable[[int], None], n: int) -> float:
    """Microseconds per event for `loop(n)` emitting into `store` (None: tracing off)."""
    gc.collect()
    with events.use_store(store):
        start = clock()
        loop(n)
        return (clock() - start) / n * 1e6


def bench_emit(n: int, runs: int) -> None:
    print(f"\n## emit: {n:,} events, median of {runs} runs (us per event, amortized)")
    for name, loop in (("plain emit, a 2-field payload", plain_loop), ("program calls, 8 events each", calls_loop)):
        on, off, stored = [], [], 0
        for _ in range(runs):
            store = EventStore()
            on.append(timed(store, loop, n))
            stored = len(store)
            del store
            off.append(timed(None, loop, n))
        print(
            f"{name:32s} tracing on {statistics.median(on):6.3f}   off {statistics.median(off):6.3f}   "
            f"({stored:,} events stored)"
        )


# --- memory ---------------------------------------------------------------------------------------
def bench_memory(n: int) -> None:
    print(f"\n## memory: {n:,} events (tracemalloc, MB per 100,000 events)")
    warm_imports()  # their code is not per-event memory
    print(f"{'':34s} {'store':>7s} {'+ indexes':>10s} {'+ frame':>8s}")
    for name, loop in (("program calls (prompts ~0.5 KB)", calls_loop), ("plain emit, a 2-field payload", plain_loop)):
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        store = EventStore()
        with events.use_store(store):
            loop(n)
        gc.collect()
        scale = 100_000 / len(store) / 2**20
        stored = tracemalloc.get_traced_memory()[0] - base
        # Every index the queries build: each key column, spans, request/reply pairs.
        get_events(kind="program.end", component="qa.generate", since=START_NS, store=store)
        get_events(run_id="none", task="none", correlation_id="none", store=store)
        get_message_flow("qa", "lm:openai/gpt-4o-mini", store=store)
        get_spans(store=store)
        indexed = tracemalloc.get_traced_memory()[0] - base
        frame = get_events(store=store)
        framed = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
        print(f"{name:34s} {stored * scale:7.1f} {indexed * scale:10.1f} {framed * scale:8.1f}")
        del store, frame
    print("(store: columns and frozen payloads; + indexes: after the queries above built theirs;")
    print(" + frame: with get_events(store=store) held, every payload decoded into a dict)")


# --- queries --------------------------------------------------------------------------------------
def synthetic(n: int, seed: int = 7) -> EventStore:
    """n events over an hour: batches of 8 concurrent calls by 10 programs to 3 LMs, and state changes."""
    rng = random.Random(seed)
    columns: dict[str, list] = {name: [] for name in FIELDS}
    span = iter(range(1, 10 * n))
    uids = [f"{k:08x}" for k in range(20)]
    state_every = max(1, n // 2000)

    def add(kind, component, task, span_id=None, parent=None, corr=None, payload=None):
        columns["ts"].append(START_NS + len(columns["ts"]) * HOUR_NS // n)
        columns["kind"].append(kind)
        columns["run_id"].append(f"run-{len(columns['ts']) * 20 // n}")
        columns["span_id"].append(span_id)
        columns["parent_id"].append(parent)
        columns["component"].append(component)
        columns["task"].append(task)
        columns["correlation_id"].append(corr)
        columns["payload"].append(payload)

    for k, uid in enumerate(uids):
        add("state.change", f"predict:{uid}", "task:main", payload={
            "op": "init", "field": "*", "origin": None, "path": f"p{k % 10}.generate",
            "value": {"demos": [], "instructions": "Answer.", "signature": "question -> answer"}})  # fmt: skip
    call = 0
    while len(columns["ts"]) < n:
        batch = []
        for _ in range(8):
            program = PROGRAMS[call % 10]
            lm = LMS[call % 10 % 3]
            task = f"task:Task-{call}"
            outer, inner, request = next(span), next(span), next(span)
            corr = f"{lm}#{request}"
            add("program.start", program, task, outer, None, None, {"inputs": {"question": f"q{call}"}})
            add("program.start", f"{program}.generate", task, inner, outer, None, {"inputs": {"question": f"q{call}"}})
            add("adapter.format", f"{program}.generate", task, None, inner, None, {"adapter": "ChatAdapter"})
            add("lm.request", lm, task, request, inner, corr, {"messages": [{"role": "user", "content": f"q{call}"}]})
            batch.append((program, lm, task, outer, inner, request, corr, call))
            call += 1
        rng.shuffle(batch)
        for program, lm, task, outer, inner, request, corr, number in batch:
            add("lm.response", lm, task, request, inner, corr, {
                "text": f"a{number}", "prompt_tokens": 40, "completion_tokens": 5, "cache_hit": number % 4 == 0,
                "status": "ok", "duration_ms": 850.0})  # fmt: skip
            add("adapter.parse", f"{program}.generate", task, None, inner, None, {"fields": {"answer": f"a{number}"}})
            add("program.end", f"{program}.generate", task, inner, outer, None, {"status": "ok"})
            add("program.end", program, task, outer, None, None, {"status": "ok"})
            if number % state_every == 0:
                add("state.change", f"predict:{uids[number // state_every % 20]}", task, payload={
                    "op": "append", "field": "demos", "origin": None, "path": None,
                    "value": {"question": f"q{number}", "answer": f"a{number}"}})  # fmt: skip
    for name in columns:
        del columns[name][n:]
    store = EventStore()
    store.extend(Event._make(row) for row in zip(*(columns[name] for name in FIELDS), strict=True))
    return store


def cold_and_warm(fn: Callable[[], object], repeats: int) -> tuple[float, float, object]:
    start = clock()
    result = fn()
    cold = (clock() - start) * 1000
    warm = []
    for _ in range(repeats):
        start = clock()
        fn()
        warm.append((clock() - start) * 1000)
    return cold, statistics.median(warm), result


def bench_queries(n: int, repeats: int) -> None:
    print(f"\n## queries on {n:,} events (ms: first call, which builds indexes / median of {repeats} later calls)")
    warm_imports()
    start = time.perf_counter()
    store = synthetic(n)
    print(f"(built the synthetic store in {time.perf_counter() - start:.1f} s: {len(store):,} events)")
    minute = 60 * 10**9
    middle = START_NS + HOUR_NS // 2
    uid = "0000000d"
    window = {"since": middle, "until": middle + minute}
    cases = [
        ("component + 1-minute window", lambda: get_events(component="p3.generate", store=store, **window)),
        (
            "kind + component + 1-minute window",
            lambda: get_events(kind="program.end", component="p3.generate", store=store, **window),
        ),
        ("get_state_at, mid-hour", lambda: get_state_at(f"predict:{uid}", middle, store=store)),
        (
            "get_message_flow p3 <-> its LM, 10 minutes",
            lambda: get_message_flow("p3", LMS[0], since=middle, until=middle + 10 * minute, store=store),
        ),
        ("get_message_flow p3 <-> its LM, whole hour", lambda: get_message_flow("p3", LMS[0], store=store)),
        ("  the same with content=True", lambda: get_message_flow("p3", LMS[0], content=True, store=store)),
    ]
    for name, fn in cases:
        cold, warm, result = cold_and_warm(fn, repeats)
        size = f"{len(result):,} rows" if hasattr(result, "columns") else f"{len(result['demos'])} demos"
        print(f"{name:44s} {cold:8.1f} / {warm:7.2f}   ({size})")
    print("after each new event (a live store: chunk indexes kept, whole-store tables merged again):")
    for name, fn in cases[:5]:
        times = []
        for i in range(max(3, repeats // 4)):
            store.append(Event(START_NS + HOUR_NS + i, "note", None, None, None, "late", "task:main", None, None))
            start = clock()
            fn()
            times.append((clock() - start) * 1000)
        print(f"  {name:42s} {statistics.median(times):7.2f}")


def warm_imports() -> None:
    """Load pandas, numpy and the query modules: their import is a once-per-process cost, not a query's."""
    warm = EventStore()
    with events.use_store(warm):
        calls_loop(64)
    get_events(component="qa", store=warm)
    get_message_flow("qa", "lm:openai/gpt-4o-mini", content=True, store=warm)
    get_spans(store=warm)
    get_events(store=warm)


# --- tracing on a cached Predict call -----------------------------------------------------------
def bench_predict(blocks: int, calls: int) -> None:
    from dspex_lab.testing import ProviderServer

    print(f"\n## cached Predict call: tracing on vs off, {blocks} alternating blocks of {calls} calls (us per call)")
    with tempfile.TemporaryDirectory() as cache_dir, ProviderServer() as server:
        dx.configure(cache_dir=cache_dir)
        lm = dx.LM("openai/bench", api_base=server.url, api_key="sk-bench-key-0001")
        predict = dx.Predict("question -> answer", lm=lm)
        with events.use_store(EventStore()):
            predict(question="What is 2+2?")

        def block(store: EventStore | None) -> float:
            with events.use_store(store):
                start = clock()
                for _ in range(calls):
                    predict(question="What is 2+2?")
                return (clock() - start) / calls * 1e6

        on, off = [], []
        for _ in range(blocks):
            on.append(block(EventStore()))
            off.append(block(None))
        difference = statistics.median(a - b for a, b in zip(on, off, strict=True))
        print(f"tracing on  {statistics.median(on):7.1f}")
        print(f"tracing off {statistics.median(off):7.1f}")
        print(f"added by tracing (median of per-block differences) {difference:5.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--memory-events", type=int, default=100_000)
    parser.add_argument("--only", choices=["emit", "memory", "queries", "predict"])
    args = parser.parse_args()
    if args.only in (None, "emit"):
        bench_emit(args.events, args.runs)
    if args.only in (None, "memory"):
        bench_memory(args.memory_events)
    if args.only in (None, "queries"):
        bench_queries(args.events, repeats=20)
    if args.only in (None, "predict"):
        bench_predict(blocks=max(args.runs, 5) * 2, calls=300)


if __name__ == "__main__":
    main()
