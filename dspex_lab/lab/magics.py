"""`%dspex`: the workbench from a notebook line, loaded with `%load_ext dspex_lab`.

    %dspex lm local/smollm2-135m                       configure the LM
    %dspex eval qa dev metric --concurrency 4          evaluate, with the live panel
    %dspex compile optimizer qa train --as compiled    compile, with the live panel
    %dspex demos compiled                              the DemoInspector
    %dspex trace --run eval-1a2b3c4d5e6f               the TimelineExplorer
    %dspex history 2                                   the last LM exchanges

Arguments naming objects are Python expressions evaluated in the notebook
(`dev[:10]` works). Every argument is checked before anything runs (a bad
`--as` name, a metric that is not a function, a missing API key), so a long
run never ends in a rejected argument. Every subcommand takes `--help`; a bad
argument prints a usage message (IPython's UsageError) naming the argument,
never a traceback. Loading the extension also makes `dx.evaluate(...)` and
`compile(...)` show their panels.
"""

from __future__ import annotations

import argparse
import ast
import shlex
from typing import Any, NoReturn

from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import Magics, line_magic, magics_class

from dspex_lab.errors import DspexError

SUMMARY = """usage: %dspex COMMAND [ARGS]   (each command takes --help)

  lm MODEL [KEY=VALUE ...]                      configure the LM, e.g. %dspex lm local/smollm2-135m
  eval PROGRAM DEVSET METRIC [--concurrency N]  evaluate PROGRAM on DEVSET, scored by METRIC
  compile OPTIMIZER PROGRAM TRAINSET [--as NAME]  compile PROGRAM with OPTIMIZER
  demos PROGRAM                                 each predictor's demos and where they came from
  trace [--run ID] [--kind KIND] [--component NAME] [--lanes component|task]
                                                the timeline of recorded spans
  history [N]                                   the last N LM exchanges (N >= 1, default 1)

Objects are Python expressions in this notebook (dev[:10] works); %dspex COMMAND --help for details."""


class _HelpShown(Exception):
    """argparse printed a help text: the magic stops there, quietly."""


class _Parser(argparse.ArgumentParser):
    """An argparse parser that reports problems as a UsageError instead of exiting the kernel."""

    def error(self, message: str) -> NoReturn:
        command = " ".join(["%dspex", *self.prog.split()[1:], "--help"])
        raise UsageError(f"{message}\n{self.format_usage().rstrip()}\n(see {command})")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            print(message)
        raise _HelpShown


def _parser() -> _Parser:
    parser = _Parser(prog="%dspex", description="The dspex_lab workbench.", add_help=True)
    commands = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")

    lm = commands.add_parser("lm", help="configure the LM", description="Make dx.LM(MODEL, ...) the configured LM.")
    lm.add_argument("model", help="provider/model, e.g. local/smollm2-135m or openai/gpt-4o-mini")
    lm.add_argument("options", nargs="*", metavar="KEY=VALUE", help="LM options, e.g. temperature=0.0 max_tokens=64")

    ev = commands.add_parser("eval", help="evaluate a program", description="dx.evaluate(PROGRAM, DEVSET, METRIC).")
    ev.add_argument("program", help="a program in this notebook (an expression)")
    ev.add_argument("devset", help="a list of dx.Example (an expression, e.g. dev[:20])")
    ev.add_argument("metric", help="metric(example, prediction, trace=None) (an expression)")
    ev.add_argument("--concurrency", type=_positive, default=None, help="examples in flight at once (>= 1)")
    ev.add_argument("--as", dest="name", default=None, help="also store the result under this name")

    co = commands.add_parser(
        "compile", help="compile a program", description="OPTIMIZER.compile(PROGRAM, trainset=TRAINSET)."
    )
    co.add_argument("optimizer", help="an optimizer, e.g. dx.BootstrapFewShot(metric) (an expression)")
    co.add_argument("program", help="the student program (an expression)")
    co.add_argument("trainset", help="a list of dx.Example (an expression)")
    co.add_argument("--as", dest="name", default="compiled", help="the name to store the compiled program under")

    de = commands.add_parser("demos", help="inspect demos", description="Show DemoInspector(PROGRAM).")
    de.add_argument("program", help="a program in this notebook (an expression)")

    tr = commands.add_parser("trace", help="explore the trace", description="Show a TimelineExplorer of the trace.")
    tr.add_argument("--run", dest="run_id", default=None, help="only this run's spans")
    tr.add_argument("--kind", action="append", default=None, help="only this span kind (repeatable)")
    tr.add_argument("--component", action="append", default=None, help="only this component (repeatable)")
    tr.add_argument("--lanes", choices=["component", "task"], default="component", help="one lane per ...")

    hi = commands.add_parser("history", help="the last LM exchanges", description="dx.inspect_history(N).")
    hi.add_argument("n", nargs="?", type=_positive, default=1, help="how many exchanges, the latest last (default 1)")
    return parser


def _positive(text: str) -> int:
    """argparse type: a whole number >= 1."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {number}")
    return number


def _check_name(name: str | None) -> None:
    if name is not None and not name.isidentifier():
        raise UsageError(f"--as {name!r} is not a Python name (letters, digits and _, not starting with a digit)")


def _check_lms(program: Any, expression: str) -> None:
    """Raise the configuration error every call of `program` would hit (no LM, no API key), before running it."""
    from dspex_lab import settings

    named = getattr(program, "named_predictors", None)
    predictors = [predictor for _, predictor in named()] if callable(named) else []
    for predictor in predictors:
        lm = getattr(predictor, "lm", None) or settings.get("lm")
        if lm is None:
            raise UsageError(
                f"program {expression!r} has no LM: configure one first, e.g. %dspex lm local/smollm2-135m"
            )
        check = getattr(lm, "check", None)
        if callable(check):
            check()


@magics_class
class DspexMagics(Magics):
    """The `%dspex` line magic; see the module docstring."""

    @line_magic
    def dspex(self, line: str) -> Any:
        """Run a workbench command: %dspex lm|eval|compile|demos|trace|history ... (each takes --help)."""
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise UsageError(f"cannot split the arguments: {exc}\n{SUMMARY}") from None
        if not words or words in (["--help"], ["-h"], ["help"]):
            print(SUMMARY)
            return None
        try:
            args = _parser().parse_args(words)
        except _HelpShown:
            return None
        if args.command is None:
            print(SUMMARY)
            return None
        try:
            return getattr(self, f"_{args.command}")(args)
        except (DspexError, TypeError, ValueError, KeyError, RuntimeError) as exc:
            # Arguments are checked before anything runs; these name what is wrong and how to fix it.
            raise UsageError(f"%dspex {args.command}: {exc}") from None

    def _value(self, expression: str, what: str) -> Any:
        try:
            return self._shell().ev(expression)
        except NameError as exc:
            raise UsageError(f"{what} {expression!r}: {exc} in this notebook") from None
        except SyntaxError:
            raise UsageError(f"{what} {expression!r} is not a Python expression") from None

    def _store(self, name: str, value: Any) -> None:
        _check_name(name)
        self._shell().user_ns[name] = value

    def _shell(self) -> InteractiveShell:
        if self.shell is None:
            raise UsageError("%dspex runs inside IPython")
        return self.shell

    def _lm(self, args: argparse.Namespace) -> Any:
        from dspex_lab.lm.factory import LM
        from dspex_lab.settings import configure

        options = {}
        for item in args.options:
            key, sep, raw = item.partition("=")
            if not sep or not key.isidentifier():
                raise UsageError(f"LM option {item!r} must be written KEY=VALUE, e.g. temperature=0.0")
            try:
                options[key] = ast.literal_eval(raw)
            except (ValueError, SyntaxError):
                options[key] = raw
        lm = LM(args.model, **options)
        check = getattr(lm, "check", None)
        if callable(check):
            check()  # a missing API key is reported now, not by every example of the next run
        configure(lm=lm)
        return lm

    def _eval(self, args: argparse.Namespace) -> Any:
        from dspex_lab.evaluation.evaluator import evaluate

        _check_name(args.name)
        program = self._value(args.program, "program")
        devset = self._value(args.devset, "devset")
        metric = self._value(args.metric, "metric")
        if not callable(getattr(program, "acall", None)):
            raise UsageError(f"program {args.program!r} is a {type(program).__name__}, not a program (a dx.Module)")
        if isinstance(devset, str | bytes | dict) or not hasattr(devset, "__iter__"):
            raise UsageError(f"devset {args.devset!r} is a {type(devset).__name__}, not a list of dx.Example")
        if not callable(metric) and not isinstance(metric, dict):
            raise UsageError(
                f"metric {args.metric!r} is a {type(metric).__name__}, not a function; "
                "pass metric(example, prediction, trace=None) -> bool | float"
            )
        _check_lms(program, args.program)
        options: dict[str, Any] = {"progress": True}
        if args.concurrency is not None:
            options["concurrency"] = args.concurrency
        result = evaluate(program, devset, metric, **options)
        if args.name:
            self._store(args.name, result)
        return result

    def _compile(self, args: argparse.Namespace) -> None:
        _check_name(args.name)
        optimizer = self._value(args.optimizer, "optimizer")
        program = self._value(args.program, "program")
        trainset = self._value(args.trainset, "trainset")
        if not callable(getattr(optimizer, "compile", None)):
            raise UsageError(f"optimizer {args.optimizer!r} has no compile(); pass e.g. dx.BootstrapFewShot(metric)")
        _check_name(args.name)
        _check_lms(program, args.program)
        compiled = optimizer.compile(program, trainset=trainset)
        self._store(args.name, compiled)
        print(f"compiled program stored as {args.name!r}")

    def _demos(self, args: argparse.Namespace) -> Any:
        from dspex_lab.lab.demos import DemoInspector

        return DemoInspector(self._value(args.program, "program"))

    def _trace(self, args: argparse.Namespace) -> Any:
        from dspex_lab.lab.timeline import TimelineExplorer

        return TimelineExplorer(lanes=args.lanes, kind=args.kind, component=args.component, run_id=args.run_id)

    def _history(self, args: argparse.Namespace) -> None:
        from dspex_lab.lm.history import inspect_history

        inspect_history(args.n)


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext dspex_lab`: register `%dspex` and show the panels for evaluate and compile."""
    from dspex_lab.lab import hooks

    ipython.register_magics(DspexMagics)
    hooks.enable()


def unload_ipython_extension(ipython: Any) -> None:
    """`%unload_ext dspex_lab`: back to the terminal progress bar (the magic stays until the kernel restarts)."""
    from dspex_lab.lab import hooks

    hooks.disable()
