"""Does compiling help, whatever the seed and the trainset's order? The embedded model, library defaults only.

    python benchmarks/bench_robustness.py                        # 5 tasks x 10 seeds x {shuffled, sorted}
    python benchmarks/bench_robustness.py --tasks sentiment --seeds 2 --dev-size 16

For each task a program is `dx.Predict(task.signature)` on `dx.LM("local/smollm2-135m")`
with the default adapter, compiled by `dx.BootstrapFewShot(task.metric, seed=seed)`:
no other option anywhere (the LM's cache is off so that every reply is generated
and timed). For each seed, `--train-size` training examples are drawn from the
task's train split and handed to the optimizer twice: shuffled, and sorted by
label (grouped, as files often are). The zero-shot program has no trainset, so
its score is measured once per task. Greedy decoding makes a program's replies a
function of its prompts, so when the sorted trainset compiles to exactly the
program the shuffled one did (same demos in the same order: `dump_state()`),
its dev score is that program's and the dev set is not run twice. Printed per task: zero-shot and compiled
dev accuracy (min / median / max over the runs), the share of replies that
parsed, LM calls per evaluated example, and wall time; then whether every run
met the targets.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from typing import Any

import dspex_lab as dx
from dspex_lab.evaluation.result import EvaluationResult
from dspex_lab.optimize.order import label_key
from dspex_lab.story import embedded_lm, parse_rate

TASKS = ["sentiment", "topics", "language", "animals", "entities"]


def labels_of(task: dx.datasets.Task) -> int:
    train, dev = task.load()
    return len({label_key(example) for example in [*train, *dev]})


def calls_per_example(result: EvaluationResult) -> float:
    return result.usage.calls / result.finished if result.finished else 0.0


def spread(values: list[float]) -> str:
    return f"{min(values):.0%} / {statistics.median(values):.0%} / {max(values):.0%}"


def run_task(name: str, seeds: int, train_size: int, dev_size: int | None) -> dict[str, Any]:
    task = dx.datasets.task(name)
    train, dev = task.load()
    dev = dev[:dev_size] if dev_size else dev
    lm = embedded_lm()
    started = time.perf_counter()
    with dx.context(lm=lm, progress=False):
        zero = dx.evaluate(dx.Predict(task.signature), dev, task.metric)
        zero_s = time.perf_counter() - started
        runs = []
        for seed in range(seeds):
            drawn = random.Random(seed).sample(train, min(train_size, len(train)))
            scored: dict[str, EvaluationResult] = {}
            for order in ("shuffled", "sorted"):
                trainset = sorted(drawn, key=label_key) if order == "sorted" else drawn
                began = time.perf_counter()
                optimizer = dx.BootstrapFewShot(task.metric, seed=seed)
                program = optimizer.compile(dx.Predict(task.signature), trainset=trainset)
                compile_calls = sum(1 for attempt in optimizer.attempts)
                state = json.dumps(program.dump_state(), sort_keys=True, default=str)
                after = scored.get(state) or dx.evaluate(program, dev, task.metric)
                scored[state] = after
                run = {
                    "seed": seed,
                    "order": order,
                    "score": after.score,
                    "parsed": parse_rate(after),
                    "calls": calls_per_example(after),
                    "teacher_runs": compile_calls,
                    "seconds": time.perf_counter() - began,
                    "demo_labels": sorted({label_key(d) for d in program.demos}),
                    "demos": len(program.demos),
                    "same_program": len(scored) == 1 and order == "sorted",
                }
                runs.append(run)
                same = "same program as shuffled, " if run["same_program"] else ""
                print(
                    f"  {name} seed {seed} {order:8s}: compiled {after.score:.0%} (zero-shot {zero.score:.0%}), "
                    f"parsed {parse_rate(after):.0%}, {calls_per_example(after):.2f} calls/example, "
                    f"{compile_calls} teacher runs, {run['demos']} demos of {len(run['demo_labels'])} labels, "
                    f"{same}{run['seconds']:.1f} s",
                    flush=True,
                )
    return {
        "task": name,
        "labels": labels_of(task),
        "dev": len(dev),
        "zero": zero,
        "zero_s": zero_s,
        "runs": runs,
        "total_s": time.perf_counter() - started,
    }


def report(result: dict[str, Any]) -> tuple[str, list[str]]:
    runs, zero = result["runs"], result["zero"]
    shuffled = [r["score"] for r in runs if r["order"] == "shuffled"]
    ordered = [r["score"] for r in runs if r["order"] == "sorted"]
    scores = shuffled + ordered
    parsed = [r["parsed"] for r in runs] + [parse_rate(zero)]
    calls = [r["calls"] for r in runs] + [calls_per_example(zero)]
    row = (
        f"| {result['task']} | {result['labels']} | {result['dev']} | {zero.score:.0%} | {spread(shuffled)} | "
        f"{spread(ordered)} | {min(parsed):.0%} | {max(calls):.2f} | {result['total_s']:.0f} s |"
    )
    missed = []
    if any(score < zero.score for score in scores):
        missed.append(f"{result['task']}: {sum(s < zero.score for s in scores)} runs below zero-shot")
    floor = 0.9 if result["labels"] == 2 else 0.7 if result["labels"] == 4 else None
    if floor is not None and statistics.median(scores) < floor:
        missed.append(f"{result['task']}: median compiled {statistics.median(scores):.0%} < {floor:.0%}")
    if abs(statistics.median(shuffled) - statistics.median(ordered)) > 0.1:
        missed.append(f"{result['task']}: sorted median more than 10 points from shuffled")
    if min(parsed) < 1.0:
        missed.append(f"{result['task']}: parse rate {min(parsed):.1%}")
    if max(calls) > 1.0:
        missed.append(f"{result['task']}: {max(calls):.2f} LM calls per example")
    return row, missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=TASKS, choices=dx.datasets.names())
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--train-size", type=int, default=20, help="training examples drawn per seed (default 20)")
    parser.add_argument("--dev-size", type=int, default=None, help="score on the first N dev examples (default all)")
    args = parser.parse_args()

    lm = embedded_lm()
    print(f"# {lm.model}, {getattr(lm, 'instances', 1)} instance(s), default adapter and sampling, cache off")
    print(f"# {args.seeds} seeds x {{shuffled, sorted by label}}, {args.train_size} training examples per seed")
    results = [run_task(name, args.seeds, args.train_size, args.dev_size) for name in args.tasks]
    print()
    print("| task | labels | dev | zero-shot | compiled, shuffled (min / median / max) | compiled, sorted "
          "| parsed | LM calls / example | wall time |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    missed: list[str] = []
    for result in results:
        row, misses = report(result)
        print(row)
        missed.extend(misses)
    print()
    print("targets missed: " + ("; ".join(missed) if missed else "none"))


if __name__ == "__main__":
    main()
