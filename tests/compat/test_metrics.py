"""DSPy's built-in metrics: answer_exact_match, answer_passage_match, SemanticF1, CompleteAndGrounded."""

from __future__ import annotations

import pytest

import dspex_lab as dx


def test_exact_match_normalises_case_punctuation_and_articles():
    """dspy.evaluate.answer_exact_match: SQuAD normalisation, a list of answers, F1 with frac < 1."""
    example = dx.Example(question="q", answer="The Eiffel Tower")
    assert dx.answer_exact_match(example, dx.Prediction(answer="eiffel tower!"))
    assert not dx.answer_exact_match(example, dx.Prediction(answer="Eiffel"))
    assert dx.answer_exact_match(example, dx.Prediction(answer="Eiffel"), frac=0.5)
    several = dx.Example(question="q", answer=["Paris", "Paris, France"])
    assert dx.answer_exact_match(several, dx.Prediction(answer="paris"))
    with pytest.raises(ValueError, match=r"example\.answer must be a string or a list"):
        dx.answer_exact_match(dx.Example(question="q", answer=3), dx.Prediction(answer="3"))


def test_passage_match_finds_an_answer_token_for_token_in_the_context():
    """dspy.evaluate.answer_passage_match: DPR token matching in pred.context."""
    example = dx.Example(question="q", answer="Marie Curie")
    hit = dx.Prediction(context=["Radium was found by Marie Curie.", "Unrelated."])
    assert dx.answer_passage_match(example, hit)
    assert not dx.answer_passage_match(example, dx.Prediction(context=["Marie Curies were many."]))


def judge_lm():
    def reply(messages):
        prompt = messages[-1]["content"]
        if "[[ ## groundedness ## ]]" in prompt:
            return {"reasoning": "r", "system_response_claims": "c", "discussion": "d", "groundedness": 0.5}
        if "[[ ## completeness ## ]]" in prompt:
            return {
                "reasoning": "r",
                "ground_truth_key_ideas": "k",
                "system_response_key_ideas": "k",
                "discussion": "d",
                "completeness": 1.0,
            }
        return {"reasoning": "r", "recall": 1.0, "precision": 0.5}

    return dx.ScriptedLM(reply)


def test_semantic_f1_scores_an_lm_judged_precision_and_recall():
    """dspy.evaluate.SemanticF1: F1 of the judge's precision and recall; a bool against threshold with a trace."""
    example = dx.Example(question="q", response="Paris is the capital.")
    pred = dx.Prediction(response="Paris.")
    metric = dx.SemanticF1(lm=judge_lm())
    assert metric(example, pred).score == pytest.approx(2 / 3)
    assert metric(example, pred, trace=[]).score is True
    assert dx.SemanticF1(threshold=0.9, lm=judge_lm())(example, pred, trace=[]).score is False


def test_complete_and_grounded_combines_completeness_and_groundedness():
    example = dx.Example(question="q", response="r")
    pred = dx.Prediction(response="r", context="ctx")
    assert dx.CompleteAndGrounded(lm=judge_lm())(example, pred).score == pytest.approx(2 / 3)


def test_an_lm_judge_works_as_an_evaluation_metric():
    program = dx.Predict("question -> response", lm=dx.ScriptedLM(lambda m: {"response": "Paris."}))
    devset = [dx.Example(question="q", response="Paris").with_inputs("question")]
    result = dx.evaluate(program, devset, dx.SemanticF1(lm=judge_lm()), progress=False)
    assert result.score == pytest.approx(2 / 3)
