"""Predict and program state as DSPy programs use them (reset, load_state, configure(lm="..."), calls)."""

from __future__ import annotations

import pytest

import dspex_lab as dx


class TwoStep(dx.Module):
    def __init__(self) -> None:
        self.draft = dx.Predict("question -> draft")
        self.answer = dx.Predict("question, draft -> answer")

    def forward(self, question: str) -> dx.Prediction:
        draft = self.draft(question=question).draft
        return self.answer(question=question, draft=draft)


def test_reset_drops_the_demos_and_the_pinned_lm():
    """dspy.Predict.reset() sets lm to None and clears demos."""
    predict = dx.Predict("question -> answer", lm=dx.ScriptedLM(lambda m: {"answer": "a"}))
    predict.demos = [dx.Example(question="q", answer="a")]
    predict.reset()
    assert predict.lm is None
    assert list(predict.demos) == []


def test_load_state_returns_the_program_for_chaining():
    """DSPy's load_state returns self."""
    source = TwoStep()
    source.draft.demos = [dx.Example(question="q", draft="d").with_inputs("question")]
    loaded = TwoStep().load_state(source.dump_state())
    assert isinstance(loaded, TwoStep)
    assert loaded.draft.demos == source.draft.demos


def test_load_state_changes_nothing_when_a_later_predictor_does_not_fit():
    """Loading is all or nothing: the first predictor is not changed when the second fails."""
    state = TwoStep().dump_state()
    state["predictors"]["draft"]["instructions"] = "Write a draft."
    state["predictors"]["answer"]["demos"] = ["not a demo"]
    target = TwoStep()
    before = target.draft.instructions
    with pytest.raises(ValueError, match="predictor 'answer'"):
        target.load_state(state)
    assert target.draft.instructions == before


def test_positional_arguments_are_refused_naming_the_real_inputs():
    with pytest.raises(dx.InputError, match=r"e\.g\. program\(topic=\.\.\., audience=\.\.\.\)"):
        dx.Predict("topic, audience -> post")("cats")
    with pytest.raises(dx.InputError, match=r"e\.g\. program\(question=\.\.\.\)"):
        TwoStep()("What?")


def test_configure_accepts_a_model_name_and_refuses_what_is_not_an_lm():
    """dspy.configure(lm=...) users pass a name; it becomes a client at once, or fails clearly at once."""
    dx.configure(lm="openai/gpt-4o-mini")
    from dspex_lab import settings

    assert isinstance(settings.current_lm(), dx.BaseLM)
    assert settings.current_lm().model == "openai/gpt-4o-mini"
    with pytest.raises(dx.ConfigurationError, match="unknown provider 'nope'"):
        dx.configure(lm="nope/model")
    with pytest.raises(TypeError, match=r"lm must be an LM client such as dx\.LM"):
        dx.configure(lm=42)


def test_n_completions_are_separate_samples_exposed_as_completions(tmp_path):
    """DSPy's Predict(n=3): pred.completions.answer lists every answer, pred.answer is the first;
    a near-greedy temperature is raised to 0.7 so the samples can differ."""
    from dspex_lab.testing import ProviderServer

    with ProviderServer() as server:
        lm = dx.LM("openai/gpt-x", api_base=server.url, api_key="test-key-1234", temperature=0.0)
        pred = dx.Predict("question -> answer", lm=lm, n=3)(question="Name a color.")
        again = dx.Predict("question -> answer", lm=lm, n=3)(question="Name a color.")
        bodies = [request["body"] for request in server.requests()]
    assert len(pred.completions) == 3
    assert pred.completions.answer[0] == pred.answer
    assert [body["temperature"] for body in bodies] == [0.7, 0.7, 0.7]
    assert all("n" not in body for body in bodies)
    assert again.completions.answer == pred.completions.answer  # each sample is cached on its own
    assert pred.usage.calls == 3
    with pytest.raises(ValueError, match="n must be a whole number >= 1"):
        dx.Predict("question -> answer", lm=lm, n=0)(question="q")


def test_a_saved_program_keeps_its_lm_model_and_sampling_but_never_keys_or_endpoints(tmp_path):
    """DSPy saves each predictor's LM settings; here they come back only when the file is trusted."""
    lm = dx.LM("openai/gpt-4o-mini", api_key="sk-secret-9999", api_base="http://127.0.0.1:9", temperature=0.3)
    program = TwoStep()
    program.draft.lm = lm
    path = program.save(tmp_path / "program.json")
    saved = path.read_text()
    assert '"lm": {\n        "model": "openai/gpt-4o-mini",\n        "kwargs": {\n          "temperature": 0.3' in saved
    assert "sk-secret" not in saved
    assert "127.0.0.1" not in saved

    with pytest.warns(UserWarning, match="the saved LM 'openai/gpt-4o-mini' was not loaded"):
        untrusted = dx.load(path, into=TwoStep)
    assert untrusted.draft.lm is None
    trusted = dx.load(path, into=TwoStep, allow_unsafe_lm_state=True)
    assert (trusted.draft.lm.model, trusted.draft.lm.kwargs) == ("openai/gpt-4o-mini", {"temperature": 0.3})
    assert trusted.answer.lm is None
