"""dspy.Evaluate as DSPy spells it: devset=, metric=, num_threads=, display_progress=, display_table=."""

from __future__ import annotations

import dspex_lab as dx


def devset():
    return [dx.Example(question=f"{i}+{i}?", answer=str(2 * i)).with_inputs("question") for i in range(4)]


def double(question: str) -> dx.Prediction:
    return dx.Prediction(answer=str(2 * int(question.split("+")[0])))


def test_evaluate_takes_a_plain_function_as_the_program():
    """DSPy's Evaluate calls any callable with the example's inputs."""
    evaluate = dx.Evaluate(devset=devset(), metric=dx.answer_exact_match, num_threads=2, display_progress=False)
    assert evaluate(double).score == 1.0


def test_an_async_function_is_awaited():
    async def adouble(question: str) -> dx.Prediction:
        return double(question)

    assert dx.evaluate(adouble, devset(), dx.answer_exact_match, progress=False).score == 1.0


def test_display_table_prints_the_per_example_table(capsys):
    """display_table=True (or a row count) shows the results table after the run, as DSPy does."""
    evaluate = dx.Evaluate(devset=devset(), metric=dx.answer_exact_match, display_progress=False, display_table=2)
    evaluate(double)
    printed = capsys.readouterr().out
    assert "0+0?" in printed
    assert "1+1?" in printed
    assert "3+3?" not in printed


def test_display_table_may_be_given_when_calling(capsys):
    evaluate = dx.Evaluate(devset=devset(), metric=dx.answer_exact_match, display_progress=False)
    evaluate(double)
    assert "0+0?" not in capsys.readouterr().out
    evaluate(double, display_table=True)
    assert "3+3?" in capsys.readouterr().out
