"""Predict: inputs in, typed outputs out, through the adapter and the LM, sync or async."""

import asyncio

import pytest

import dspex_lab as dx


def test_a_call_returns_typed_fields_with_raw_text_and_usage():
    lm = dx.ScriptedLM([{"answer": "4", "confidence": 0.9}])
    predict = dx.Predict("question -> answer, confidence: float", lm=lm)
    pred = predict(question="2+2?")
    assert pred.answer == "4"
    assert pred.confidence == 0.9
    assert "[[ ## answer ## ]]" in pred.raw
    assert pred.usage.calls == 1
    assert pred.usage.prompt_tokens > 0


def test_the_async_form_gives_the_same_result():
    lm = dx.ScriptedLM([{"answer": "4"}])
    pred = asyncio.run(dx.Predict("question -> answer", lm=lm).acall(question="2+2?"))
    assert pred.answer == "4"


def test_a_missing_input_names_the_field_and_the_signature():
    predict = dx.Predict("question, context -> answer", lm=dx.ScriptedLM([]))
    with pytest.raises(dx.InputError, match=r"missing input field\(s\) \['context'\].*'question, context -> answer'"):
        predict(question="q")


def test_an_unexpected_input_is_named():
    predict = dx.Predict("question -> answer", lm=dx.ScriptedLM([]))
    with pytest.raises(dx.InputError, match=r"unexpected input field\(s\) \['answer'\]"):
        predict(question="q", answer="a")


def test_positional_inputs_are_refused_with_a_hint():
    with pytest.raises(dx.InputError, match=r"keywords, e.g. program\(question=...\)"):
        dx.Predict("question -> answer", lm=dx.ScriptedLM([]))("q")


def test_the_lm_comes_from_the_context_when_not_pinned():
    lm = dx.ScriptedLM([{"answer": "x"}])
    with dx.context(lm=lm):
        assert dx.Predict("question -> answer")(question="q").answer == "x"
    assert len(lm.requests) == 1


def test_lm_parameters_and_per_call_config_reach_the_lm():
    lm = dx.ScriptedLM([{"answer": "x"}, {"answer": "y"}])
    predict = dx.Predict("question -> answer", lm=lm, temperature=0.3, max_tokens=50)
    predict(question="q")
    predict(question="q", config={"temperature": 1.0})
    assert lm.requests[0].params["temperature"] == 0.3
    assert lm.requests[0].params["max_tokens"] == 50
    assert lm.requests[1].params["temperature"] == 1.0


def test_demos_are_shown_before_the_inputs():
    lm = dx.ScriptedLM([{"answer": "6"}])
    predict = dx.Predict("question -> answer", lm=lm)
    predict.demos = [dx.Example(question="1+1?", answer="2")]
    predict(question="3+3?")
    roles = [m["role"] for m in lm.requests[0].messages]
    assert roles == ["system", "user", "assistant", "user"]
    assert "1+1?" in lm.requests[0].messages[1]["content"]


def test_an_unparseable_reply_is_retried_once_with_the_json_adapter():
    lm = dx.ScriptedLM(["The answer is 4.", '{"answer": "4"}'])
    pred = dx.Predict("question -> answer", lm=lm)(question="2+2?")
    assert pred.answer == "4"
    assert pred.usage.calls == 2
    assert "response_format" not in lm.requests[0].params
    assert lm.requests[1].params["response_format"] == {"type": "json_object"}


def test_when_the_fallback_fails_too_the_error_keeps_both_raw_replies():
    lm = dx.ScriptedLM(["no fields here", "no json either"])
    with pytest.raises(dx.AdapterParseError) as info:
        dx.Predict("question -> answer", lm=lm)(question="q")
    assert info.value.raw == "no fields here"
    assert "no json either" in "".join(info.value.__notes__)
    assert len(lm.requests) == 2


def test_the_fallback_can_be_turned_off():
    lm = dx.ScriptedLM(["no fields here"])
    predict = dx.Predict("question -> answer", lm=lm, adapter=dx.ChatAdapter(json_fallback=False))
    with pytest.raises(dx.AdapterParseError):
        predict(question="q")
    assert len(lm.requests) == 1


def test_the_json_adapter_can_be_chosen_per_block():
    lm = dx.ScriptedLM([{"answer": "4"}])
    with dx.context(lm=lm, adapter=dx.JSONAdapter()):
        assert dx.Predict("question -> answer")(question="q").answer == "4"
    assert "Outputs will be a JSON object" in lm.requests[0].messages[0]["content"]


def test_a_call_is_traced_as_a_span_with_adapter_and_lm_steps(trace_store):
    lm = dx.ScriptedLM([{"answer": "4"}])
    dx.Predict("question -> answer", lm=lm)(question="2+2?")
    kinds = [e["kind"] for e in trace_store.records() if e["kind"] != "state.change"]
    assert kinds == ["program.start", "adapter.format", "lm.request", "lm.response", "adapter.parse", "program.end"]
    start = next(e for e in trace_store.records() if e["kind"] == "program.start")
    request = next(e for e in trace_store.records() if e["kind"] == "lm.request")
    assert start["component"] == "predict"
    assert request["parent_id"] == start["span_id"]
    assert request["component"] == "lm:scripted/lm"


def test_a_truncated_reply_says_to_raise_max_tokens():
    class Truncating(dx.ScriptedLM):
        async def agenerate(self, messages, params):
            response = await super().agenerate(messages, params)
            response.finish_reason = "length"
            return response

    lm = Truncating(["[[ ## answer ## ]]\nhalf an ans", "{"])
    with pytest.raises(dx.AdapterParseError) as info:
        dx.Predict("question -> answer, confidence: float", lm=lm)(question="q")
    assert "raise max_tokens" in "".join(info.value.__notes__)
