"""Evaluation throughput and memory: Predict + exact match over 2,000 examples against a 50 ms server.

The loopback provider server runs in its own process (so it does not compete
with the client for the GIL) and answers every question correctly after 50 ms.
Tracing stays on with the default bounded store. For each concurrency the
script runs the evaluation several times and prints the median examples/s, the
ratio to the latency limit (concurrency / 50 ms), and the peak RSS of this
process. The last lines measure, side by side, what progress display and
per-example persistence (run_id) cost.

    .venv/bin/python benchmarks/bench_evaluate.py [--examples 2000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import dspex_lab as dx
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
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(program, devset, concurrency: int, **options) -> tuple[float, dx.EvaluationResult]:
    gc.collect()
    start = time.perf_counter()
    result = dx.evaluate(program, devset, exact_match, concurrency=concurrency, **options)
    return len(devset) / (time.perf_counter() - start), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    # The spawned server imports the oracle from this file.
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).parent), os.environ.get("PYTHONPATH")]))
    devset = [
        dx.Example(question=f"question {i}", answer=f"answer {i}").with_inputs("question") for i in range(args.examples)
    ]
    with ProviderServer.spawn(latency=LATENCY, responder="bench_evaluate:oracle") as server:
        lm = dx.LM("openai/loopback", api_base=server.url + "/v1", api_key="sk-bench", cache=False)
        program = dx.Predict("question -> answer", lm=lm)
        run(program, devset[:200], 64, progress=False)  # warm up connections and code paths

        print(f"{args.examples} examples, Predict + exact match, server latency {LATENCY * 1000:.0f} ms "
              f"(separate process), tracing on, {args.repeats} runs each, median")  # fmt: skip
        for concurrency in (128, 8):
            rates = []
            for _ in range(args.repeats):
                rate, result = run(program, devset, concurrency, progress=False)
                if result.score != 1.0:
                    raise SystemExit(f"the oracle answers every question correctly; got\n{result}")
                rates.append(rate)
            limit = concurrency / LATENCY
            print(
                f"concurrency {concurrency:>3}: {statistics.median(rates):7.1f} examples/s "
                f"(runs: {', '.join(f'{r:.0f}' for r in rates)}; limit {limit:.0f}/s, "
                f"{statistics.median(rates) / limit:.1%} of it)"
            )
        print(f"peak RSS of this process: {peak_rss_mib():.1f} MiB")

        with tempfile.TemporaryDirectory() as tmp, open(os.devnull, "w") as devnull:
            from dspex_lab.evaluate.progress import TerminalProgress

            plain, bar, stored = [], [], []
            for repeat in range(args.repeats):
                plain.append(run(program, devset, 128, progress=False)[0])
                bar.append(run(program, devset, 128, progress=TerminalProgress(file=devnull))[0])
                db = Path(tmp) / "runs.sqlite3"
                stored.append(run(program, devset, 128, progress=False, run_id=f"bench-{repeat}", db_path=db)[0])
        base = statistics.median(plain)
        print(f"side by side at concurrency 128, median of {args.repeats}:")
        print(f"  plain                      {base:7.1f} examples/s")
        print(f"  tqdm bar (events -> bar)   {statistics.median(bar):7.1f} examples/s "
              f"({statistics.median(bar) / base:.2f}x)")  # fmt: skip
        print(f"  run_id (SQLite per example){statistics.median(stored):7.1f} examples/s "
              f"({statistics.median(stored) / base:.2f}x)")  # fmt: skip
        print(f"peak RSS of this process: {peak_rss_mib():.1f} MiB")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
