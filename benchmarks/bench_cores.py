"""The embedded model on one core and on every core, side by side: examples per second of evaluate and compile.

    python benchmarks/bench_cores.py                  # sentiment, 32 dev examples, 3 rounds

Each round evaluates a few-shot sentiment program over the same dev examples and
compiles one with BootstrapFewShot, first with one copy of the model
(`instances=1`), then with one copy per core (the default), so both forms see the
same machine load. It prints the median examples per second of each, their
ratio, and whether the replies of the two forms are identical.
"""

from __future__ import annotations

import argparse
import statistics
import time

import dspex_lab as dx
from dspex_lab.lm.local import default_instances
from dspex_lab.trace import events


def one_round(lm: dx.BaseLM, program: dx.Module, train: list[dx.Example], dev: list[dx.Example]) -> dict:
    task = dx.datasets.task("sentiment")
    with dx.context(lm=lm, progress=False):
        started = time.perf_counter()
        result = dx.evaluate(program, dev, task.metric)
        evaluate_s = time.perf_counter() - started
        started = time.perf_counter()
        optimizer = dx.BootstrapFewShot(task.metric, max_bootstrapped_demos=len(train), max_labeled_demos=len(train))
        optimizer.compile(dx.Predict(task.signature), trainset=train)
        compile_s = time.perf_counter() - started
    return {
        "evaluate": len(dev) / evaluate_s,
        "compile": len(optimizer.attempts) / compile_s,
        "replies": [str(row) for row in result.table["predicted_sentiment"]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=32)
    parser.add_argument("--train", type=int, default=8, help="training examples bootstrapped per compile")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    events.set_default_store(None)
    train, dev = dx.datasets.load("sentiment")
    dev, train = dev[: args.examples], train[: args.train]
    task = dx.datasets.task("sentiment")
    program = dx.LabeledFewShot(k=8).compile(dx.Predict(task.signature), trainset=dx.datasets.load("sentiment")[0])
    forms = {"1 copy": dx.LM("local/smollm2-135m", cache=False, instances=1)}
    forms[f"{default_instances()} copies"] = dx.LM("local/smollm2-135m", cache=False)
    for lm in forms.values():
        one_round(lm, program, train[:1], dev[:2])  # load the copies
    rates: dict[str, dict[str, list[float]]] = {name: {"evaluate": [], "compile": []} for name in forms}
    replies: dict[str, list[str]] = {}
    for _ in range(args.rounds):
        for name, lm in forms.items():
            figures = one_round(lm, program, train, dev)
            for kind in ("evaluate", "compile"):
                rates[name][kind].append(figures[kind])
            replies[name] = figures["replies"]
    single, every = forms
    print(f"sentiment: evaluate {len(dev)} dev examples (8 demos), compile {len(train)} examples; "
          f"medians of {args.rounds} rounds")  # fmt: skip
    for kind in ("evaluate", "compile"):
        one, all_ = statistics.median(rates[single][kind]), statistics.median(rates[every][kind])
        print(f"{kind:9s} {single}: {one:5.2f} examples/s   {every}: {all_:5.2f} examples/s   ratio {all_ / one:.2f}x")
    print(f"replies {'identical' if replies[single] == replies[every] else 'DIFFER'}")


if __name__ == "__main__":
    main()
