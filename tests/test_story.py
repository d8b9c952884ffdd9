"""run_story: zero-shot score, compile, compiled score, demos and saved program, in one call."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

import dspex_lab as dx
from dspex_lab.story import embedded_lm, parse_rate, run_story
from dspex_lab.testing import ProviderRequest, ProviderServer

_OPERATION = re.compile(r"What is (\d) (\+|-|times) (\d)\?")


def arithmetic_oracle(request: ProviderRequest) -> str:
    """Right when the prompt shows a demo; without one, a reply in no known format."""
    if not any(message["role"] == "assistant" for message in request.messages):
        return "Let me think about that."
    a, op, b = _OPERATION.search(request.last_user_message).groups()
    value = {"+": int(a) + int(b), "-": int(a) - int(b), "times": int(a) * int(b)}[op]
    return f"[[ ## answer ## ]]\n{value}\n\n[[ ## completed ## ]]"


@pytest.fixture
def oracle_lm() -> Iterator[dx.BaseLM]:
    with ProviderServer(responder=arithmetic_oracle) as server:
        yield dx.LM("openai/oracle", api_base=server.url, api_key="sk-story-test", num_retries=0)


def test_the_story_scores_zero_shot_compiles_and_scores_again(oracle_lm, tmp_path):
    story = run_story("arithmetic", lm=oracle_lm, dev_size=12, save_to=tmp_path / "arithmetic.json", progress=False)

    assert story.before.score == 0.0
    assert story.before.total == 12
    assert len(story.before.errors) == 12
    assert story.after.score == 1.0
    assert story.gain == 1.0
    assert set(story.timings) == {"zero_shot_s", "compile_s", "compiled_s", "total_s"}
    origins = story.optimizer.report.demos["self"]
    assert [o.origin for o in origins] == ["bootstrapped"] * 4 + ["labeled"] * 12
    loaded = dx.load(story.saved_to, dx.Predict("question -> answer"))
    assert list(loaded.demos) == list(story.program.demos)


def test_the_printed_story_has_the_before_after_table_and_each_demo_with_its_origin(oracle_lm):
    story = run_story("arithmetic", lm=oracle_lm, dev_size=6, progress=False, max_labeled_demos=5)

    text = str(story)
    table = story.table().splitlines()
    assert table[0].split() == ["program", "accuracy", "parsed", "LM", "calls", "tokens", "time"]
    assert table[1].split()[:3] == ["zero-shot", "0.0%", "0.0%"]
    assert table[2].split()[:3] == ["compiled", "100.0%", "100.0%"]
    assert "demos of predictor 'self':" in text
    assert re.search(
        r"1\. bootstrapped from trainset\[\d+\] \(teacher run, round 0, score 1\.0\): question='What is", text
    )
    assert "5. labeled, trainset[" in text
    assert "dev accuracy 0.0% -> 100.0% (+100.0%)" in text


def test_an_unknown_task_is_refused_before_any_call():
    with pytest.raises(KeyError, match="no shipped task 'poetry'"):
        run_story("poetry", lm=dx.ScriptedLM([]))


def test_the_story_runs_the_embedded_model_on_the_librarys_defaults_with_its_cache_off():
    lm = embedded_lm()
    assert (lm.model, lm.cache, lm.kwargs) == ("local/smollm2-135m", False, {})
    assert embedded_lm(n_threads=2).n_threads == 2


@pytest.mark.local_model
def test_on_the_embedded_model_the_compiled_program_beats_zero_shot(tmp_path):
    story = run_story("sentiment", dev_size=8, save_to=tmp_path / "sentiment.json", progress=False)

    assert story.adapter == "JSONAdapter"
    assert story.before.score <= 0.25
    assert story.after.score >= 0.75
    assert parse_rate(story.after) == 1.0
    assert len(story.program.demos) == 8  # the embedded model's demo budget
