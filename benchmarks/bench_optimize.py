"""The optimizer proof: zero-shot vs BootstrapFewShot-compiled on the embedded model, repeated, with timings.

    python benchmarks/bench_optimize.py                      # the story's task, 2 runs
    python benchmarks/bench_optimize.py --task capitals --runs 3

Each run is `run_story` from scratch with the library's defaults (a new LM with
its cache off, so every reply is generated; `--instances` and `--adapter` change
them for a comparison). It prints each run's dev accuracy before and after
compiling and the seconds each step took, then whether the runs agree (scores
and installed demos) and the median times. A last line scores the loopback
oracle (right with a demo in the prompt, else only on even sums) the same way.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time

import dspex_lab as dx
from dspex_lab.story import DEFAULT_MODEL, embedded_lm, parse_rate, run_story
from dspex_lab.testing import ProviderServer

_SUM = re.compile(r"What is (\d+) \+ (\d+)\?")
_QUESTION = re.compile(r"\[\[ ## question ## \]\]\n(.*?)\n")


def oracle(request):
    shown_demo = any(message["role"] == "assistant" for message in request.messages)
    a, b = map(int, _SUM.search(_QUESTION.search(request.last_user_message).group(1)).groups())
    answer = a + b if shown_demo or (a + b) % 2 == 0 else a + b + 1
    return f"[[ ## answer ## ]]\n{answer}\n\n[[ ## completed ## ]]"


def oracle_figures() -> tuple[float, float]:
    sums = [dx.Example(question=f"What is {a} + {b}?", answer=str(a + b)).with_inputs("question")
            for a in range(10) for b in range(10)]  # fmt: skip
    train, dev = sums[:40], sums[40:]
    with ProviderServer(responder=oracle) as server:
        lm = dx.LM("openai/oracle", api_base=server.url, api_key="sk-bench", cache=False)
        with dx.context(lm=lm, progress=False):
            metric = dx.datasets.answer_matches("answer")
            before = dx.evaluate(dx.Predict("question -> answer"), dev, metric)
            compiled = dx.BootstrapFewShot(metric, max_bootstrapped_demos=4, max_labeled_demos=4).compile(
                dx.Predict("question -> answer"), trainset=train
            )
            after = dx.evaluate(compiled, dev, metric)
    return before.score, after.score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="sentiment", choices=dx.datasets.names())
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--dev-size", type=int, default=None, help="score on the first N dev examples (default all)")
    parser.add_argument("--instances", type=int, default=None, help="model copies (default: one per core)")
    parser.add_argument("--adapter", choices=("chat", "json"), default=None, help="default: the model's own")
    args = parser.parse_args()

    options = {"instances": args.instances} if args.instances else {}
    print(f"# {DEFAULT_MODEL} {options or 'defaults'}, cache off, adapter {args.adapter or 'default'}, "
          f"task {args.task!r}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")  # fmt: skip
    print(f"{'run':>3}  {'zero-shot':>9}  {'compiled':>8}  {'parsed 0/1':>10}  "
          f"{'t zero-shot':>11}  {'t compile':>9}  {'t compiled':>10}  {'t total':>8}")  # fmt: skip
    stories = []
    for number in range(1, args.runs + 1):
        lm = embedded_lm(**options)
        adapter = {"chat": dx.ChatAdapter, "json": dx.JSONAdapter}[args.adapter]() if args.adapter else None
        story = run_story(args.task, lm=lm, dev_size=args.dev_size, progress=False, adapter=adapter)
        stories.append(story)
        t = story.timings
        parsed = f"{parse_rate(story.before):.0%}/{parse_rate(story.after):.0%}"
        print(f"{number:>3}  {story.before.score:>9.1%}  {story.after.score:>8.1%}  {parsed:>10}  "
              f"{t['zero_shot_s']:>10.1f}s  {t['compile_s']:>8.1f}s  {t['compiled_s']:>9.1f}s  {t['total_s']:>7.1f}s",
              flush=True)  # fmt: skip

    first = stories[0]
    same_scores = all((s.before.score, s.after.score) == (first.before.score, first.after.score) for s in stories)
    same_demos = all(s.program.dump_state() == first.program.dump_state() for s in stories)
    print(f"repeatable: scores {'identical' if same_scores else 'DIFFER'} across {len(stories)} runs, "
          f"installed demos {'identical' if same_demos else 'DIFFER'}")  # fmt: skip
    for key in ("zero_shot_s", "compile_s", "compiled_s", "total_s"):
        print(f"median {key[:-2]:<10} {statistics.median(s.timings[key] for s in stories):7.1f} s")
    print()
    print(first)
    started = time.perf_counter()
    before, after = oracle_figures()
    print(f"\nloopback oracle, 60 dev sums: zero-shot {before:.0%} -> compiled {after:.0%} "
          f"({time.perf_counter() - started:.1f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
