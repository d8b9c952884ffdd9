"""DaskExecutor scaling on this machine: the embedded model on 1 vs 2 workers, a 50 ms API on 1, 2 and 4 workers.

    .venv/bin/python benchmarks/bench_dask.py [--model-examples 32] [--api-examples 2000] [--repeats 3]
                                              [--parts model,api,batch]

Every cluster is a `LocalCluster(processes=True, threads_per_worker=1)` on
127.0.0.1, started once and kept for the whole script; the variants of one
figure run interleaved (local, 1 worker, 2 workers, local, ...) and each figure
is the median of `--repeats` runs, since the machine may be shared.

1. Embedded model: `Predict("review -> sentiment")` with JSONAdapter and
   `local/smollm2-135m` (one thread per model, greedy, cache off) over the
   sentiment dev examples; each worker loads the model before timing starts.
   Prints examples/s in this process (no Dask) and on 1 and 2 workers, the
   2-vs-1 ratio, and whether every variant gave the same predictions.
2. Remote API: `Predict("question -> answer")` against the loopback provider
   server (its own process, 50 ms per reply), concurrency 128 per worker.
   Prints examples/s in this process and on 1, 2 and 4 workers, the cost Dask
   adds per example, the time to the first finished example, and this
   process's CPU per example (outcomes and events taken in, run bookkeeping).
3. Scheduler cost per batch: a program that returns at once, one item per
   batch, on 1 worker: wall time / batches.
4. Memory: resident set of each worker process when idle, after the model
   runs, and after the API runs.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import psutil
from distributed import Client, LocalCluster

import dspex_lab as dx
from dspex_lab.testing import ProviderServer
from dspex_lab.trace import events

LATENCY = 0.05


class Instant(dx.Module):
    """A program that answers at once: what is left is the cost of moving items and outcomes."""

    async def acall(self, **inputs: Any) -> dx.Prediction:
        return dx.Prediction(answer=inputs["question"])

    def forward(self, **inputs: Any) -> dx.Prediction:
        return dx.Prediction(answer=inputs["question"])


class FirstOutcome:
    """A progress consumer noting when the first example finished."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.first: float | None = None

    def on_event(self, event: events.Event) -> None:
        if event.kind == "evaluate.example" and self.first is None:
            self.first = time.perf_counter() - self.started


def exact(example: dx.Example, prediction: dx.Prediction) -> bool:
    return str(example.get("sentiment", example.get("answer"))) == str(next(iter(prediction.values())))


def cluster(workers: int) -> tuple[LocalCluster, Client]:
    running = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=":0",
        scheduler_port=0,
        silence_logs=40,
    )
    return running, Client(running, set_as_default=False)


def worker_rss_mib(client: Client) -> list[float]:
    return sorted(round(rss / 2**20, 1) for rss in client.run(lambda: psutil.Process().memory_info().rss).values())


def load_model() -> None:
    dx.LM("local/smollm2-135m").load()


def timed(run: Callable[[], dx.EvaluationResult]) -> tuple[float, dx.EvaluationResult]:
    started = time.perf_counter()
    result = run()
    return time.perf_counter() - started, result


def predictions(result: dx.EvaluationResult) -> list[tuple[int, dict[str, Any]]]:
    return sorted((r.index, dict(r.prediction or {})) for r in result.results)


def load() -> str:
    return "/".join(f"{value:.1f}" for value in os.getloadavg())


def model_figures(clusters: dict[int, Client], examples: int, repeats: int) -> None:
    _, dev = dx.datasets.load("sentiment")
    dev = dev[:examples]
    program = dx.Predict("review -> sentiment")
    lm = dx.LM("local/smollm2-135m", max_tokens=16, cache=False)
    variants: dict[str, dx.DaskExecutor | None] = {"this process": None}
    for workers in (1, 2):
        clusters[workers].run(load_model)
        variants[f"{workers} worker{'s' * (workers > 1)}"] = dx.DaskExecutor(clusters[workers])
    rates: dict[str, list[float]] = {name: [] for name in variants}
    answers: dict[str, list[Any]] = {}
    with dx.context(lm=lm, adapter=dx.JSONAdapter(), progress=False):
        for executor in variants.values():  # the first calls in a process pay for loading and warming up
            dx.evaluate(program, dev[:4], exact, executor=executor)
        for _ in range(repeats):
            for name, executor in variants.items():
                seconds, result = timed(lambda executor=executor: dx.evaluate(program, dev, exact, executor=executor))
                rates[name].append(len(dev) / seconds)
                answers[name] = predictions(result)
    same = all(found == answers["this process"] for found in answers.values())
    print(f"\n## Embedded model: {len(dev)} examples, medians of {repeats} (load average now {load()})\n")
    print("| where | examples/s | runs |")
    print("|---|---|---|")
    for name, found in rates.items():
        print(f"| {name} | {statistics.median(found):.2f} | {' '.join(f'{rate:.2f}' for rate in found)} |")
    ratio = statistics.median(rates["2 workers"]) / statistics.median(rates["1 worker"])
    print(f"\n2 workers vs 1: {ratio:.2f}x; identical predictions in every variant: {same}")


def api_figures(clusters: dict[int, Client], examples: int, repeats: int) -> None:
    questions = [dx.Example(question=f"q{i}", answer="x").with_inputs("question") for i in range(examples)]
    with ProviderServer.spawn(latency=LATENCY) as server:
        program = dx.Predict("question -> answer", lm=dx.LM("openai/loopback", api_base=server.url, cache=False))
        variants: dict[str, dx.DaskExecutor | None] = {"this process": None}
        for workers in (1, 2, 4):
            variants[f"{workers} worker{'s' * (workers > 1)}"] = dx.DaskExecutor(clusters[workers])
        rates: dict[str, list[float]] = {name: [] for name in variants}
        firsts: dict[str, list[float]] = {name: [] for name in variants}
        cpu: dict[str, list[float]] = {name: [] for name in variants}
        with dx.context(progress=False):
            dx.evaluate(program, questions[:64], exact, concurrency=128)  # connections, imports
            for executor in variants.values():
                if executor is not None:
                    dx.evaluate(program, questions[:64], exact, concurrency=128, executor=executor)
            for _ in range(repeats):
                for name, executor in variants.items():
                    first = FirstOutcome()
                    cpu_before = time.process_time()
                    seconds, _ = timed(
                        lambda executor=executor, first=first: dx.evaluate(
                            program, questions, exact, concurrency=128, executor=executor, progress=first
                        )
                    )
                    cpu[name].append((time.process_time() - cpu_before) / examples)
                    rates[name].append(examples / seconds)
                    firsts[name].append(first.first or 0.0)
    local = statistics.median(rates["this process"])
    print(f"\n## Remote API at {LATENCY * 1000:.0f} ms: {examples} examples, concurrency 128 per worker, ", end="")
    print(f"medians of {repeats} (load average now {load()})\n")
    print("| where | examples/s | vs this process | first example after | client CPU per example | runs |")
    print("|---|---|---|---|---|---|")
    for name, found in rates.items():
        rate = statistics.median(found)
        first_ms = statistics.median(firsts[name]) * 1000
        cpu_us = statistics.median(cpu[name]) * 1e6
        runs = " ".join(f"{value:.0f}" for value in found)
        print(f"| {name} | {rate:.0f} | {rate / local:.2f}x | {first_ms:.0f} ms | {cpu_us:.0f} us | {runs} |")
    one = statistics.median(rates["1 worker"])
    print(f"\nDask's cost per example on 1 worker: {(1 / one - 1 / local) * 1e6:.0f} us of wall time")


def batch_cost(client: Client, batches: int, repeats: int) -> None:
    items = [dx.Example(question=f"q{i}").with_inputs("question") for i in range(batches)]
    executor = dx.DaskExecutor(client, batch_size=1)
    with dx.context(progress=False):
        dx.evaluate(Instant(), items[:8], lambda example, prediction: True, executor=executor)
        costs = [
            timed(lambda: dx.evaluate(Instant(), items, lambda example, prediction: True, executor=executor))[0]
            / batches
            for _ in range(repeats)
        ]
    runs = " ".join(f"{cost * 1000:.1f}" for cost in costs)
    print("\nScheduler cost per batch (1 item per batch, 1 worker, 2 batches in flight): ", end="")
    print(f"{statistics.median(costs) * 1000:.1f} ms (runs {runs})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-examples", type=int, default=32)
    parser.add_argument("--api-examples", type=int, default=2000)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--parts", default="model,api,batch", help="which figures: model, api, batch")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    logging.getLogger("distributed").setLevel(logging.ERROR)
    print(f"{psutil.cpu_count()} cores, load average at start {load()}")
    running = {workers: cluster(workers) for workers in (1, 2, 4)}
    clients = {workers: client for workers, (_, client) in running.items()}
    idle = {workers: worker_rss_mib(client) for workers, client in clients.items()}
    after_model: dict[int, list[float]] = {}
    after_api: dict[int, list[float]] = {}
    try:
        if "model" in parts:
            model_figures(clients, args.model_examples, args.repeats)
            after_model = {workers: worker_rss_mib(clients[workers]) for workers in (1, 2)}
        if "api" in parts:
            api_figures(clients, args.api_examples, args.repeats)
            after_api = {workers: worker_rss_mib(clients[workers]) for workers in (1, 2, 4)}
        if "batch" in parts:
            batch_cost(clients[1], args.batches, args.repeats)
        print("\n## Memory per worker process (RSS, MiB)\n")
        print("| cluster | idle | after the model runs | after the API runs |")
        print("|---|---|---|---|")
        for workers in (1, 2, 4):
            model, api = after_model.get(workers, "-"), after_api.get(workers, "-")
            print(f"| {workers} worker{'s' * (workers > 1)} | {idle[workers]} | {model} | {api} |")
    finally:
        for running_cluster, client in running.values():
            client.close()
            running_cluster.close()


if __name__ == "__main__":
    main()
