"""DSPy's side of bench_lm.py: the same program against the same loopback server, in DSPy's own venv.

Run by `benchmarks/bench_lm.py --dspy-python /path/to/venv/bin/python`, which
starts the server; prints one JSON line of figures (microseconds). Imports
nothing from dspex_lab, so any environment with DSPy installed can run it:

    python benchmarks/dspy_side.py --url http://127.0.0.1:PORT --calls 1000 --hits 2000 --runs 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

QUESTION = "What is 2+2?"


def per_call(fn, n: int, clock) -> float:
    start = clock()
    for _ in range(n):
        fn()
    return (clock() - start) / n * 1e6


def median_of(runs: int, fn, n: int, clock) -> float:
    return statistics.median(per_call(fn, n, clock) for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--hits", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("DSPY_CACHEDIR", tempfile.mkdtemp(prefix="bench_dspy_"))
    import dspy

    uncached = dspy.LM("openai/bench", api_base=args.url + "/v1", api_key="sk-bench", cache=False)
    program = dspy.Predict("question -> answer")
    dspy.configure(lm=uncached)

    def predict() -> None:
        program(question=QUESTION)

    for _ in range(200):
        predict()
    uncached_us = median_of(args.runs, predict, args.calls, time.process_time)

    cached = dspy.LM("openai/bench", api_base=args.url + "/v1", api_key="sk-bench", cache=True)
    dspy.configure(lm=cached)
    for _ in range(20):
        predict()
    hit_us = median_of(args.runs, predict, args.hits, time.perf_counter)
    hit_cpu_us = median_of(args.runs, predict, args.hits, time.process_time)
    figures = {"uncached_cpu_us": uncached_us, "cached_us": hit_us, "cached_cpu_us": hit_cpu_us}
    print(json.dumps({"version": dspy.__version__, **figures}))


if __name__ == "__main__":
    main()
