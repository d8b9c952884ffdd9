"""The command line: `python -m dspex_lab demo` runs the main job.

The demo tells the whole story offline: a shipped task, the zero-shot program
scored on its dev set with the embedded model, the program compiled with
BootstrapFewShot, scored again, the demos it chose, and the compiled program
saved to a file that `dx.load` reads back.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from dspex_lab import datasets
from dspex_lab.errors import DspexError
from dspex_lab.evaluation.evaluator import DEFAULT_CONCURRENCY

DEFAULT_SAVE = Path("runs") / "{task}_compiled.json"
DEFAULT_TASK = "sentiment"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dspex_lab", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    demo = commands.add_parser(
        "demo", help="score a shipped task zero-shot, compile it with BootstrapFewShot, score it again"
    )
    demo.add_argument("--task", default=DEFAULT_TASK, help=f"a shipped task: {', '.join(datasets.names())}")
    demo.add_argument("--model", default=None, help="'provider/model' (default: the embedded local/smollm2-135m)")
    demo.add_argument("--api-base", default=None, help="server URL for an OpenAI-compatible --model")
    demo.add_argument(
        "--adapter", choices=("chat", "json"), default=None, help="ChatAdapter or JSONAdapter (default: the model's)"
    )
    demo.add_argument("--dev-size", type=int, default=None, help="score on the first N dev examples (default all)")
    demo.add_argument(
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        help=f"examples in flight (default {DEFAULT_CONCURRENCY})",
    )
    demo.add_argument("--save", default=None, help=f"where to save the compiled program (default {DEFAULT_SAVE})")
    demo.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def _demo(args: argparse.Namespace) -> int:
    from dspex_lab.adapters.chat import ChatAdapter
    from dspex_lab.adapters.json import JSONAdapter
    from dspex_lab.lm.factory import LM
    from dspex_lab.story import embedded_lm, run_story

    if args.task not in datasets.names():
        print(f"unknown task {args.task!r}; shipped tasks: {', '.join(datasets.names())}", file=sys.stderr)
        return 2
    if args.model is None:
        lm = embedded_lm()
    else:
        lm = LM(args.model, **({"api_base": args.api_base} if args.api_base else {}))
    adapter = {"chat": ChatAdapter, "json": JSONAdapter}[args.adapter]() if args.adapter else None
    save_to = Path(args.save) if args.save else Path(str(DEFAULT_SAVE).format(task=args.task))
    story = run_story(
        args.task,
        lm=lm,
        dev_size=args.dev_size,
        save_to=save_to,
        progress=not args.no_progress,
        concurrency=args.concurrency,
        adapter=adapter,
    )
    print()
    print(story)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        return _demo(args)
    except DspexError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
