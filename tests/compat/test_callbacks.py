"""DSPy's observability hooks: callbacks (on_module/lm/tool/evaluate start and end) and usage per LM."""

from __future__ import annotations

import pytest

import dspex_lab as dx


class Recorder(dx.Callback):
    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def on_module_start(self, call_id, instance, inputs):
        self.calls.append(("module_start", instance))

    def on_module_end(self, call_id, outputs, exception=None):
        self.calls.append(("module_end", dict(outputs) if outputs else exception))

    def on_lm_start(self, call_id, instance, inputs):
        self.calls.append(("lm_start", inputs["messages"][-1]["content"].splitlines()[1]))

    def on_lm_end(self, call_id, outputs, exception=None):
        self.calls.append(("lm_end", "completed" in outputs["text"]))

    def on_evaluate_start(self, call_id, instance, inputs):
        self.calls.append(("evaluate_start", inputs["total"]))

    def on_evaluate_end(self, call_id, outputs, exception=None):
        self.calls.append(("evaluate_end", outputs["status"]))


def test_callbacks_see_module_and_lm_calls_in_order():
    """dspy.configure(callbacks=[...]): on_module_start, on_lm_start, on_lm_end, on_module_end."""
    recorder = Recorder()
    dx.configure(callbacks=[recorder])
    dx.Predict("question -> answer", lm=dx.ScriptedLM(lambda m: {"answer": "4"}))(question="2+2?")
    assert recorder.calls == [
        ("module_start", "predict"),
        ("lm_start", "2+2?"),
        ("lm_end", True),
        ("module_end", {"answer": "4"}),
    ]


def test_callbacks_in_a_context_hear_an_evaluation_and_nothing_outside_it():
    recorder = Recorder()
    program = dx.Predict("question -> answer", lm=dx.ScriptedLM(lambda m: {"answer": "4"}))
    devset = [dx.Example(question="2+2?", answer="4").with_inputs("question")]
    with dx.context(callbacks=[recorder]):
        dx.evaluate(program, devset, dx.answer_exact_match, progress=False)
    program(question="outside")
    assert recorder.calls[0] == ("evaluate_start", 1)
    assert recorder.calls[-1] == ("evaluate_end", "completed")
    assert ("lm_start", "outside") not in recorder.calls


def test_a_failing_callback_never_breaks_the_run(caplog):
    class Broken(dx.Callback):
        def on_module_start(self, call_id, instance, inputs):
            raise RuntimeError("boom")

    dx.configure(callbacks=[Broken()])
    pred = dx.Predict("question -> answer", lm=dx.ScriptedLM(lambda m: {"answer": "ok"}))(question="q")
    assert pred.answer == "ok"
    assert "callback" in caplog.text


def test_callbacks_must_have_hooks():
    with pytest.raises(TypeError, match="has none of the callback hooks"):
        dx.configure(callbacks=[object()])


def test_usage_is_broken_down_per_lm():
    """DSPy's prediction.get_lm_usage(): tokens per model for a program using two LMs."""

    class TwoModels(dx.Module):
        def __init__(self) -> None:
            self.draft = dx.Predict("question -> draft", lm=dx.ScriptedLM(lambda m: {"draft": "d"}, model="fast/a"))
            self.final = dx.Predict(
                "question, draft -> answer", lm=dx.ScriptedLM(lambda m: {"answer": "x"}, model="big/b")
            )

        def forward(self, question):
            return self.final(question=question, draft=self.draft(question=question).draft)

    pred = TwoModels()(question="q")
    usage = pred.get_lm_usage()
    assert sorted(usage) == ["big/b", "fast/a"]
    assert usage["fast/a"]["calls"] == usage["big/b"]["calls"] == 1
    assert usage["fast/a"]["total_tokens"] + usage["big/b"]["total_tokens"] == pred.usage.total_tokens


def test_each_module_has_the_history_of_its_own_lm_calls():
    """DSPy's module.history: the LM calls made by this module (and those below it)."""

    class TwoStep(dx.Module):
        def __init__(self) -> None:
            lm = dx.ScriptedLM(lambda m: {"draft": "d", "answer": "a"})
            self.draft = dx.Predict("question -> draft", lm=lm)
            self.final = dx.Predict("question, draft -> answer", lm=lm)

        def forward(self, question):
            return self.final(question=question, draft=self.draft(question=question).draft)

    program = TwoStep()
    program(question="first")
    program(question="second")
    assert [call["caller"] for call in program.history] == ["two_step.draft", "two_step.final"] * 2
    assert len(program.draft.history) == 2
    assert "[[ ## question ## ]]\nsecond" in program.final.history[-1]["messages"][-1]["content"]
    assert "[[ ## answer ## ]]\na" in program.final.history[-1]["text"]
    assert dx.Predict("q -> a").history == []


def test_a_tool_run_exports_as_an_openinference_tool_span(trace_store):
    """Tool spans become OpenInference TOOL spans in the OTLP export, as DSPy's instrumentation reports them."""
    from dspex_lab.trace.otlp import export_otlp

    def lookup(key: str) -> str:
        """Look a key up."""
        return key.upper()

    dx.Tool(lookup)(key="abc")
    request = export_otlp(store=trace_store)
    [span] = [s for s in request["resourceSpans"][0]["scopeSpans"][0]["spans"] if s["name"] == "tool:lookup"]
    attributes = {a["key"]: next(iter(a["value"].values())) for a in span["attributes"]}
    assert attributes["openinference.span.kind"] == "TOOL"
    assert attributes["tool.name"] == "lookup"
    assert '"ABC"' in attributes["output.value"]
