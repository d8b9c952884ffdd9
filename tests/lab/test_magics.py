"""%dspex in a real IPython shell: each command, --help, and usage messages instead of tracebacks."""

from __future__ import annotations

import re

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

import dspex_lab as dx
from dspex_lab import settings
from dspex_lab.evaluation import progress
from dspex_lab.lab.demos import DemoInspector
from dspex_lab.lab.timeline import TimelineExplorer
from dspex_lab.trace import schema


@pytest.fixture
def shell(oracle, devset, metric, qa):
    """An IPython shell with the extension loaded and a program, data and metric in its namespace."""
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "dspex_lab")
    ip.user_ns.update(program=qa(oracle(wrong={"q1"})), dev=devset(4), metric=metric)
    yield ip
    ip.run_line_magic("unload_ext", "dspex_lab")
    for name in ("program", "dev", "metric", "res", "compiled", "better", "optimizer", "count", "keyless"):
        ip.user_ns.pop(name, None)


def dspex(shell, line):
    return shell.run_line_magic("dspex", line)


def test_loading_the_extension_makes_evaluate_and_compile_show_their_panels(shell):
    from dspex_lab.lab import hooks

    assert progress._notebook_factory is hooks.notebook_progress


def test_lm_configures_the_model_with_its_options(shell):
    lm = dspex(shell, "lm openai/loopback api_base=http://127.0.0.1:9 api_key=sk-test temperature=0.5 max_tokens=64")

    assert settings.get("lm") is lm
    assert lm.model == "openai/loopback"
    assert lm.kwargs == {"temperature": 0.5, "max_tokens": 64}


def test_eval_runs_the_program_over_the_devset_and_can_keep_the_result(shell):
    result = dspex(shell, "eval program dev metric --concurrency 2 --as res")

    assert result.score == 0.75
    assert result.finished == 4
    assert shell.user_ns["res"] is result


def test_arguments_are_expressions_evaluated_in_the_notebook(shell):
    result = dspex(shell, "eval program dev[:2] 'metric if True else None'")

    assert result.finished == 2


def test_compile_stores_the_compiled_program(shell):
    shell.user_ns["optimizer"] = dx.BootstrapFewShot(shell.user_ns["metric"], max_bootstrapped_demos=1, progress=False)

    dspex(shell, "compile optimizer program dev --as better")

    assert shell.user_ns["better"].generate.demos
    assert not shell.user_ns["program"].generate.demos


def test_demos_trace_and_history_open_their_views(shell, capsys):
    dspex(shell, "eval program dev metric")

    assert isinstance(dspex(shell, "demos program"), DemoInspector)
    explorer = dspex(shell, "trace --kind lm.request --lanes task")
    assert isinstance(explorer, TimelineExplorer)
    assert explorer.lanes == "task"
    assert set(explorer.visible()["kind"]) == {"lm.request"}
    dspex(shell, "history 1")
    assert "Response:" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("eval program dev", "the following arguments are required: metric"),
        ("eval program dev nothing", "metric 'nothing': name 'nothing' is not defined in this notebook"),
        ("eval program dev metric --concurrency 0", "argument --concurrency: must be 1 or more, got 0"),
        ("eval program dev metric --concurrency many", "argument --concurrency: 'many' is not a whole number"),
        ("eval program dev count", "metric 'count' is a int, not a function"),
        ("eval count dev metric", "program 'count' is a int, not a program"),
        ("eval program count metric", "devset 'count' is a int, not a list of dx.Example"),
        ("history 0", "argument n: must be 1 or more, got 0"),
        ("history -1", "argument n: must be 1 or more, got -1"),
        ("eval program 'dev metric", "cannot split the arguments"),
        ("eval program dev[ metric", "is not a Python expression"),
        ("frobnicate", "invalid choice: 'frobnicate'"),
        ("lm gpt-4o", "must be written 'provider/model'"),
        ("lm local/x temperature", "must be written KEY=VALUE"),
        ("compile metric program dev", "has no compile()"),
        ("compile optimizer program dev --as 2nd", "is not a Python name"),
        ("trace --run eval-nope", "no run 'eval-nope' in this trace"),
        ("demos dev", "needs a program"),
    ],
)
def test_bad_arguments_give_a_usage_message(shell, line, message):
    shell.user_ns["optimizer"] = dx.LabeledFewShot(k=1)
    shell.user_ns["count"] = 3
    if line.startswith("trace"):
        dspex(shell, "eval program dev metric")

    with pytest.raises(UsageError, match=re.escape(message)):
        dspex(shell, line)


def test_a_bad_argument_in_a_cell_prints_no_traceback(shell, capsys):
    shell.run_cell("%dspex eval program dev")

    captured = capsys.readouterr()
    assert "UsageError" in captured.err
    assert "usage: %dspex eval" in captured.err
    assert "Traceback" not in captured.out + captured.err


def test_help_prints_and_returns_nothing(shell, capsys):
    assert dspex(shell, "eval --help") is None
    assert "--concurrency CONCURRENCY" in capsys.readouterr().out
    assert dspex(shell, "") is None
    summary = capsys.readouterr().out
    for command in (
        "lm MODEL",
        "eval PROGRAM",
        "compile OPTIMIZER",
        "demos PROGRAM",
        "trace [--run ID]",
        "history [N]",
    ):
        assert command in summary
    assert dspex(shell, "--help") is None
    assert capsys.readouterr().out == summary  # the same full summary as a bare %dspex
    for command in ("lm", "eval", "compile", "demos", "trace", "history"):
        dspex(shell, f"{command} --help")
        assert f"usage: %dspex {command}" in capsys.readouterr().out


def test_a_bad_name_for_the_result_is_refused_before_the_run(shell, trace_store):
    with pytest.raises(UsageError, match=re.escape("--as '1bad' is not a Python name")):
        dspex(shell, "eval program dev metric --as 1bad")

    assert dx.get_events(kind=schema.EvaluateStart.KIND, store=trace_store).empty  # nothing ran


def test_a_missing_api_key_fails_at_once_with_one_message(shell, monkeypatch, trace_store):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    before = settings.get("lm")

    with pytest.raises(UsageError, match=re.escape("no API key for openai/gpt-4o-mini")):
        dspex(shell, "lm openai/gpt-4o-mini")
    assert settings.get("lm") is before
    shell.user_ns["keyless"] = dx.Predict("question -> answer", lm=dx.LM("openai/gpt-4o-mini"))
    with pytest.raises(UsageError, match=re.escape("no API key for openai/gpt-4o-mini")):
        dspex(shell, "eval keyless dev metric")
    assert dx.get_events(kind=schema.EvaluateStart.KIND, store=trace_store).empty


def test_an_evaluation_with_a_configuration_error_raises_it_instead_of_completing(devset, metric, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    program = dx.Predict("question -> answer", lm=dx.LM("openai/gpt-4o-mini"))

    with pytest.raises(dx.ConfigurationError, match=r"^no API key for openai/gpt-4o-mini"):
        dx.evaluate(program, devset(20), metric, concurrency=1, progress=False)
