"""The embedded model with and without reuse of the previous prompt's prefix, side by side.

    python benchmarks/bench_local.py                  # 16 dev examples, 8 labeled demos, 3 rounds

A few-shot sentiment program runs over the same dev examples twice per round:
once as the engine does by default (each prompt reuses the key/value cache of
the prefix it shares with the one before: the system message and the demos),
once with every prompt evaluated from scratch. It prints the median seconds of
each, their ratio, the prompt tokens reused, and whether the replies are identical.
"""

from __future__ import annotations

import argparse
import statistics
import time

import dspex_lab as dx
from dspex_lab.lm import local
from dspex_lab.trace import events


def run(program: dx.Module, dev: list[dx.Example], engine: local._Engine, fresh: bool) -> tuple[float, list[str]]:
    replies = []
    started = time.perf_counter()
    for example in dev:
        if fresh:
            engine.previous_prompt = []
        replies.append(program(**example.inputs()).sentiment)
    return time.perf_counter() - started, replies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=16)
    parser.add_argument("--demos", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    events.set_default_store(None)
    train, dev = dx.datasets.load("sentiment")
    dev = dev[: args.examples]
    lm = dx.LM("local/smollm2-135m", max_tokens=16, cache=False, instances=1)
    engine = lm.load().pool.engines[0]
    program = dx.LabeledFewShot(k=args.demos).compile(dx.Predict("review -> sentiment"), trainset=train)
    timings: dict[bool, list[float]] = {False: [], True: []}
    same = True
    with dx.context(lm=lm, progress=False):
        run(program, dev[:1], engine, fresh=True)  # load the model
        for _ in range(args.rounds):
            reused_before = engine.prefix_tokens_reused
            seconds, reusing = run(program, dev, engine, fresh=False)
            reused = engine.prefix_tokens_reused - reused_before
            timings[False].append(seconds)
            seconds, fresh = run(program, dev, engine, fresh=True)
            timings[True].append(seconds)
            same = same and reusing == fresh
    with_reuse, without = statistics.median(timings[False]), statistics.median(timings[True])
    print(f"{len(dev)} calls with {args.demos} demos, default adapter, one copy, medians of {args.rounds} rounds")
    per_call = with_reuse / len(dev)
    print(f"prefix reused:   {with_reuse:6.1f} s ({per_call:.2f} s per call, {reused:,} prompt tokens reused)")
    print(f"fresh prompts:   {without:6.1f} s ({without / len(dev):.2f} s per call)")
    print(f"speed-up {without / with_reuse:.1f}x; replies {'identical' if same else 'DIFFER'}")


if __name__ == "__main__":
    main()
