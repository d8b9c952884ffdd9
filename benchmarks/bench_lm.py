"""LM client figures: client CPU per uncached call, cache hits from memory and disk, 500 in flight.

Against the loopback provider server in its own process (zero latency, the same
request every time), through a whole program call (`dx.Predict` to Prediction)
with the default settings (tracing on). A bare `http.client` keep-alive call to
the same server is measured in the same run as the floor. Each figure is the
median of `--runs` runs. With `--dspy-python` (the interpreter of a venv where
DSPy is installed), DSPy's `dspy.Predict` is measured against the same server in
the same run (benchmarks/dspy_side.py) and the ratios are printed.

    .venv/bin/python benchmarks/bench_lm.py
    .venv/bin/python benchmarks/bench_lm.py --dspy-python /tmp/dspy-venv/bin/python
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import statistics
import subprocess
import tempfile
import time

import dspex_lab as dx
from dspex_lab.lm.cache import get_cache
from dspex_lab.testing import ProviderServer
from dspex_lab.trace import events

QUESTION = "What is 2+2?"


def per_call(fn, n: int, clock) -> float:
    """Microseconds of `clock` per call of `fn`, over n calls."""
    start = clock()
    for _ in range(n):
        fn()
    return (clock() - start) / n * 1e6


def median_of(runs: int, fn, n: int, clock) -> float:
    return statistics.median(per_call(fn, n, clock) for _ in range(runs))


def bare_call(port: int, body: bytes):
    connection = http.client.HTTPConnection("127.0.0.1", port)
    headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench"}

    def call() -> None:
        connection.request("POST", "/v1/chat/completions", body, headers)
        json.loads(connection.getresponse().read())

    return call


def in_flight(n: int, latency: float, concurrency: int | None = None) -> tuple[int, int, float, float]:
    """(successes, errors, wall seconds, CPU ms per call) for n distinct calls, `concurrency` at a time."""
    with ProviderServer.spawn(latency=latency) as server:
        lm = dx.LM("openai/bench", api_base=server.url, api_key="sk-bench", cache=False)
        gate = asyncio.Semaphore(concurrency or n)

        async def one(i: int):
            async with gate:
                return await lm.acall(f"question {i}")

        async def flood():
            return await asyncio.gather(*(one(i) for i in range(n)), return_exceptions=True)

        wall, cpu = time.perf_counter(), time.process_time()
        results = asyncio.run(flood())
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    errors = [r for r in results if isinstance(r, BaseException)]
    return len(results) - len(errors), len(errors), wall, cpu / n * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--hits", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--in-flight", type=int, default=500)
    parser.add_argument("--dspy-python", help="python of a venv with DSPy installed, to measure it side by side")
    args = parser.parse_args()
    dx.configure(cache_dir=tempfile.mkdtemp(prefix="bench_lm_"))
    runs = args.runs

    with ProviderServer.spawn() as server:
        uncached = dx.LM("openai/bench", api_base=server.url, api_key="sk-bench", cache=False)
        program = dx.Predict("question -> answer", lm=uncached)
        messages = dx.ChatAdapter().format(program.signature, [], {"question": QUESTION})
        body = json.dumps({"model": "bench", "messages": messages}).encode()
        bare = bare_call(server.port, body)

        def predict() -> None:
            program(question=QUESTION)

        for _ in range(200):
            predict()
            bare()
        cpu = time.process_time
        print(f"uncached, client CPU per call (median of {runs} x {args.calls} calls):")
        program_us = median_of(runs, predict, args.calls, cpu)
        lm_us = median_of(runs, lambda: uncached(messages), args.calls, cpu)
        bare_us = median_of(runs, bare, args.calls, cpu)
        print(f"  program call to Prediction   {program_us / 1000:.3f} ms  ({program_us / bare_us:.1f}x bare)")
        print(f"  lm(messages) alone           {lm_us / 1000:.3f} ms  ({lm_us / bare_us:.1f}x bare)")
        print(f"  bare http.client keep-alive  {bare_us / 1000:.3f} ms")

        cached = uncached.copy(cache=True)
        hit_program = dx.Predict("question -> answer", lm=cached)

        def hit() -> None:
            hit_program(question=QUESTION)

        hit()
        wall = time.perf_counter
        print(f"\ncache hit, program call to Prediction (median of {runs} x {args.hits} calls):")
        memory_us = median_of(runs, hit, args.hits, wall)
        memory_cpu_us = median_of(runs, hit, args.hits, cpu)
        with events.use_store(None):
            memory_untraced_us = median_of(runs, hit, args.hits, wall)
            lm_hit_us = median_of(runs, lambda: cached(messages), args.hits, wall)
        cache = get_cache()
        cache.memory_size = 0  # every lookup now reads the SQLite file
        cache._memory.clear()
        disk_us = median_of(runs, hit, args.hits, wall)
        print(f"  from memory                  {memory_us:.0f} us  (tracing off: {memory_untraced_us:.0f} us)")
        print(f"  from memory, client CPU      {memory_cpu_us:.0f} us")
        print(f"  from disk (SQLite)           {disk_us:.0f} us")
        print(f"  lm(messages) memory hit      {lm_hit_us:.0f} us  (tracing off)")

        if args.dspy_python:
            command = [args.dspy_python, "benchmarks/dspy_side.py", "--url", server.url]
            command += ["--calls", str(args.calls), "--hits", str(args.hits), "--runs", str(runs)]
            dspy = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
            print(f"\nDSPy {dspy['version']}, same program, same server, this run:")
            print(
                f"  uncached, client CPU per program call  {dspy['uncached_cpu_us'] / 1000:.3f} ms "
                f"(ours {program_us / 1000:.3f} ms: {dspy['uncached_cpu_us'] / program_us:.1f}x less)"
            )
            print(
                f"  cache hit, program call                {dspy['cached_us']:.0f} us "
                f"(ours {memory_us:.0f} us: {dspy['cached_us'] / memory_us:.1f}x faster)"
            )
            print(
                f"  cache hit, client CPU                  {dspy['cached_cpu_us']:.0f} us "
                f"(ours {memory_cpu_us:.0f} us: {dspy['cached_cpu_us'] / memory_cpu_us:.1f}x less)"
            )

    latency = 0.5
    ok, failed, seconds, _ = in_flight(args.in_flight, latency)
    print(f"\n{args.in_flight} requests in flight at once from one process (server latency {latency * 1000:g} ms):")
    print(f"  {ok} answered, {failed} errors, all done in {seconds:.2f} s")

    ok, failed, seconds, cpu_ms = in_flight(2000, 0.05, concurrency=128)
    print("\nthroughput through lm.acall: 2000 requests, 128 in flight, server latency 50 ms:")
    print(f"  {ok / seconds:,.0f} req/s, {failed} errors, client CPU {cpu_ms:.3f} ms per call")


if __name__ == "__main__":
    main()
