"""Evaluation throughput and memory: Predict + exact match over 2,000 examples against a 50 ms server.

The loopback provider server runs in its own process (so it does not compete
with the client for the GIL) and answers every question correctly after 50 ms.
Tracing stays on with the default bounded store. For each concurrency the
script runs the evaluation several times and prints the median examples/s and
the ratio to the latency limit (concurrency / 50 ms). Peak memory is measured
in a fresh process that runs one evaluation (after a short warm-up), so it is
the footprint of one run, not of every run this script makes. The last lines
measure, side by side and interleaved, what the progress bar and per-example
persistence (run_id) cost, and what the same Predict calls and the bare LM
calls achieve in a plain worker pool without the engine.

    .venv/bin/python benchmarks/bench_evaluate.py [--examples 2000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import dspex_lab as dx
from dspex_lab.evaluation.progress import TerminalProgress
from dspex_lab.loop import run_sync
from dspex_lab.testing import ProviderServer

LATENCY = 0.05
QUESTION = re.compile(r"\[\[ ## question ## \]\]\n(.*?)\n")


def oracle(request) -> str:
    """The loopback server's reply: the right answer to "question <n>" is "answer <n>"."""
    question = QUESTION.search(request.last_user_message).group(1)
    return f"[[ ## answer ## ]]\nanswer {question.split()[-1]}\n\n[[ ## completed ## ]]"


def exact_match(example, prediction, trace=None):
    return example.answer == prediction.answer


def peak_rss_mib() -> float:
    """This process's peak RSS (VmHWM: unlike ru_maxrss, not inherited from the parent across fork)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


CPU_PER_EXAMPLE: list[float] = []
"""Client CPU seconds per example of every run(), in order: robust to other load on the machine."""


def run(program, devset, concurrency: int, **options) -> tuple[float, dx.EvaluationResult]:
    gc.collect()
    start, cpu = time.perf_counter(), time.process_time()
    result = dx.evaluate(program, devset, exact_match, concurrency=concurrency, **options)
    CPU_PER_EXAMPLE.append((time.process_time() - cpu) / len(devset))
    return len(devset) / (time.perf_counter() - start), result


def numbered(n: int) -> list[dx.Example]:
    return [dx.Example(question=f"question {i}", answer=f"answer {i}").with_inputs("question") for i in range(n)]


def client(url: str) -> dx.Predict:
    lm = dx.LM("openai/loopback", api_base=url + "/v1", api_key="sk-bench", cache=False)
    return dx.Predict("question -> answer", lm=lm)


def memory(url: str, examples: int) -> None:
    """One evaluation in this (fresh) process; prints RSS before it and the peak."""
    program = client(url)
    devset = numbered(examples)
    run(program, devset[:200], 64, progress=False)
    before = peak_rss_mib()
    rate, result = run(program, devset, 128, progress=False)
    store = dx.trace.events.get_store()
    print(f"{before:.1f} {peak_rss_mib():.1f} {rate:.1f} {len(store)} {result.score}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--memory-of", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_of:
        memory(args.memory_of, args.examples)
        return

    # The spawned server imports the oracle from this file.
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).parent), os.environ.get("PYTHONPATH")]))
    devset = numbered(args.examples)
    with ProviderServer.spawn(latency=LATENCY, responder="bench_evaluate:oracle") as server:
        program = client(server.url)
        run(program, devset[:200], 64, progress=False)  # warm up connections and code paths

        print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores at the start")
        print(f"{args.examples} examples, Predict + exact match, server latency {LATENCY * 1000:.0f} ms "
              f"(separate process), tracing on, {args.repeats} runs each, median")  # fmt: skip
        for concurrency in (128, 8):
            rates = []
            CPU_PER_EXAMPLE.clear()
            for _ in range(args.repeats):
                rate, result = run(program, devset, concurrency, progress=False)
                if result.score != 1.0:
                    raise SystemExit(f"the oracle answers every question correctly; got\n{result}")
                rates.append(rate)
            limit = concurrency / LATENCY
            print(
                f"concurrency {concurrency:>3}: {statistics.median(rates):7.1f} examples/s "
                f"(runs: {', '.join(f'{r:.0f}' for r in rates)}; limit {limit:.0f}/s, "
                f"{statistics.median(rates) / limit:.1%} of it); "
                f"client CPU {statistics.median(CPU_PER_EXAMPLE) * 1e6:.0f} us/example"
            )

        command = [sys.executable, __file__, "--memory-of", server.url, "--examples", str(args.examples)]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        before, peak, rate, events, _ = out.split()
        print(
            f"peak RSS, one run of {args.examples} at concurrency 128 in a fresh process: {float(peak):.1f} MiB "
            f"({float(before):.1f} MiB before the run; {events} events in the trace store; {float(rate):.0f} ex/s)"
        )

        messages = [{"role": "user", "content": "[[ ## question ## ]]\nquestion 1\n\nRespond."}]
        variants = {
            "dx.evaluate": lambda: run(program, devset, 128, progress=False)[0],
            "dx.evaluate, tqdm bar (fed by events)": lambda: run(
                program, devset, 128, progress=TerminalProgress(file=devnull)
            )[0],
            "dx.evaluate, run_id (SQLite per example)": lambda: run(
                program, devset, 128, progress=False, run_id=uuid.uuid4().hex, db_path=Path(tmp) / "runs.sqlite3"
            )[0],
            "Predict in a bare worker pool (no engine)": lambda: pool(
                lambda example: program.acall(**example.inputs()), devset, 128
            ),
            "lm.acall in a bare worker pool (transport only)": lambda: pool(
                lambda example: program.lm.acall(messages), devset, 128
            ),
        }
        rates: dict[str, list[float]] = {name: [] for name in variants}
        with tempfile.TemporaryDirectory() as tmp, open(os.devnull, "w") as devnull:
            for _ in range(args.repeats):
                for name, measure in variants.items():
                    rates[name].append(measure())
        base = statistics.median(rates["dx.evaluate"])
        print(f"load average {os.getloadavg()[0]:.2f} at the end")
        print(f"side by side at concurrency 128, interleaved, median of {args.repeats}:")
        for name, measured in rates.items():
            rate = statistics.median(measured)
            print(f"  {name:<48} {rate:7.1f} examples/s ({rate / base:.2f}x)")


def pool(call, items, concurrency: int) -> float:
    """Items per second of `await call(item)` over `items`, `concurrency` at a time, without the engine."""

    async def main() -> None:
        pending = iter(items)

        async def worker() -> None:
            for item in pending:
                await call(item)

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    gc.collect()
    start = time.perf_counter()
    run_sync(main())
    return len(items) / (time.perf_counter() - start)


if __name__ == "__main__":
    main()
