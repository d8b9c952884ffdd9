"""Compiling against a real HTTP provider: the loopback server answers as an oracle.

The oracle answers "What is a + b?" correctly when the prompt shows at least one
demo; without demos it is right only when the sum is even. On a dev set with as
many even sums as odd ones, the zero-shot program scores 50% and a program
compiled with BootstrapFewShot scores 100%.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import dspex_lab as dx
from dspex_lab.testing import ProviderRequest, ProviderServer

from .helpers import exact, question_of, sums, true_sum


def oracle(request: ProviderRequest) -> str:
    shown_demo = any(message["role"] == "assistant" for message in request.messages)
    right = true_sum(question_of(request.messages))
    answer = right if shown_demo or int(right) % 2 == 0 else str(int(right) + 1)
    return f"[[ ## answer ## ]]\n{answer}\n\n[[ ## completed ## ]]"


@pytest.fixture
def oracle_lm() -> Iterator[dx.BaseLM]:
    with ProviderServer(responder=oracle) as server:
        yield dx.LM("openai/oracle", api_base=server.url, api_key="sk-oracle-test", num_retries=0)


def balanced_dev() -> list[dx.Example]:
    candidates = sums(40, start=60)
    even = [e for e in candidates if int(e.answer) % 2 == 0][:10]
    odd = [e for e in candidates if int(e.answer) % 2 == 1][:10]
    return even + odd


def test_dev_accuracy_goes_from_half_to_all_once_compiled(oracle_lm):
    train, dev = sums(30), balanced_dev()
    student = dx.Predict("question -> answer")

    with dx.context(lm=oracle_lm, progress=False):
        before = dx.evaluate(student, dev, exact)
        optimizer = dx.BootstrapFewShot(exact, max_bootstrapped_demos=4, max_labeled_demos=4)
        compiled = optimizer.compile(student, trainset=train)
        after = dx.evaluate(compiled, dev, exact)

    assert before.score == 0.5
    assert after.score == 1.0
    assert [o.origin for o in optimizer.report.demos["self"]] == ["bootstrapped"] * 4
    assert all(attempt.passed for attempt in optimizer.attempts)
    assert student.demos == []


def test_the_random_search_finds_a_program_that_beats_zero_shot(oracle_lm):
    train, dev = sums(20), balanced_dev()

    with dx.context(lm=oracle_lm, progress=False):
        optimizer = dx.BootstrapFewShotWithRandomSearch(
            exact, num_candidate_programs=2, max_bootstrapped_demos=2, max_labeled_demos=2
        )
        compiled = optimizer.compile(dx.Predict("question -> answer"), trainset=train, valset=dev)

    assert [c.score for c in optimizer.candidates] == [0.5, 1.0, 1.0, 1.0, 1.0]
    assert compiled is optimizer.candidates[1].program


def test_the_api_key_never_reaches_the_compile_events(oracle_lm, trace_store):
    with dx.context(lm=oracle_lm, progress=False):
        optimizer = dx.BootstrapFewShot(exact, max_bootstrapped_demos=2, max_labeled_demos=2)
        optimizer.compile(dx.Predict("question -> answer"), trainset=sums(4))

    frame = dx.get_events(run_id=optimizer.report.run_id, store=trace_store)
    assert len(frame) > 10
    assert "sk-oracle-test" not in frame.to_json(date_format="iso")
