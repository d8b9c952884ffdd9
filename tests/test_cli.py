"""`python -m dspex_lab demo`: the main job, scored before and after compiling, with the program saved."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

import dspex_lab as dx
from dspex_lab.cli import main
from dspex_lab.testing import ProviderRequest, ProviderServer

_CAPITAL = re.compile(r"What is the capital of (.+)\?")


def capitals_oracle(capitals: dict[str, str]) -> object:
    """A responder that knows every capital, but answers in the field protocol only when shown a demo."""

    def respond(request: ProviderRequest) -> str:
        country = _CAPITAL.findall(request.messages[-1]["content"])[-1]
        if not any(message["role"] == "assistant" for message in request.messages):
            return f"I believe it is {capitals[country]}."
        return f"[[ ## answer ## ]]\n{capitals[country]}\n\n[[ ## completed ## ]]"

    return respond


@pytest.fixture
def server_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    train, dev = dx.datasets.load("capitals")
    capitals = {_CAPITAL.match(e.question).group(1): e.answer for e in [*train, *dev]}
    monkeypatch.setenv("OPENAI_API_KEY", "sk-cli-test-secret")
    with ProviderServer(responder=capitals_oracle(capitals)) as server:
        yield server.url


def test_the_demo_prints_the_gain_and_the_demos_and_saves_a_program_that_loads(server_url, tmp_path, capsys):
    saved = tmp_path / "capitals.json"
    argv = ["demo", "--task", "capitals", "--model", "openai/oracle", "--api-base", server_url]
    status = main([*argv, "--dev-size", "5", "--save", str(saved), "--no-progress"])

    printed = capsys.readouterr().out
    assert status == 0
    assert "task 'capitals' on openai/oracle with ChatAdapter: 77 training examples, 5 dev examples" in printed
    assert re.search(r"zero-shot\s+0\.0%", printed)
    assert re.search(r"compiled\s+100\.0%\s+100\.0%", printed)
    assert re.search(
        r"1\. bootstrapped from trainset\[\d+\] \(teacher run, round 0, score 1\.0\): question='What is the", printed
    )
    assert "dev accuracy 0.0% -> 100.0% (+100.0%)" in printed
    assert f"compiled program saved to {saved}" in printed
    assert "sk-cli-test-secret" not in printed + saved.read_text()
    demo_lines = [line for line in printed.splitlines() if re.match(r"\s+\d+\. (bootstrapped|labeled)", line)]
    assert len(dx.load(saved, into=dx.Predict("question -> answer")).demos) == len(demo_lines) > 4


def test_an_unknown_task_names_the_shipped_ones(capsys):
    assert main(["demo", "--task", "weather"]) == 2
    assert (
        "unknown task 'weather'; shipped tasks: animals, arithmetic, capitals, entities, language, sentiment, topics"
        in capsys.readouterr().err
    )


def test_the_module_runs_as_a_command():
    done = subprocess.run(
        [sys.executable, "-m", "dspex_lab", "demo", "--help"], capture_output=True, text=True, timeout=60, check=True
    )
    assert "--dev-size" in done.stdout
