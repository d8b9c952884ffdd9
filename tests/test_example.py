"""Examples are immutable mappings that know which fields are inputs; Predictions expose outputs."""

import pytest

import dspex_lab as dx


def test_fields_read_as_attributes_and_keys():
    ex = dx.Example(question="2+2?", answer="4")
    assert ex.question == "2+2?"
    assert ex["answer"] == "4"
    assert dict(ex) == {"question": "2+2?", "answer": "4"}
    assert len(ex) == 2
    assert "question" in ex


def test_inputs_and_labels_split_by_the_marked_keys():
    ex = dx.Example(question="2+2?", answer="4", source="book").with_inputs("question")
    assert dict(ex.inputs()) == {"question": "2+2?"}
    assert dict(ex.labels()) == {"answer": "4", "source": "book"}
    assert ex.input_keys == frozenset({"question"})


def test_inputs_before_marking_is_an_error_that_says_what_to_do():
    with pytest.raises(ValueError, match=r"with_inputs\('question', ...\)"):
        dx.Example(question="q").inputs()


def test_marking_a_missing_key_is_an_error():
    with pytest.raises(KeyError, match="no field"):
        dx.Example(question="q").with_inputs("query")


def test_examples_are_immutable_and_copies_change_only_the_copy():
    ex = dx.Example(question="q", answer="a").with_inputs("question")
    changed = ex.copy(answer="b", extra=1)
    fewer = ex.without("answer")
    with pytest.raises(AttributeError, match="immutable"):
        ex.answer = "c"
    assert ex.answer == "a"
    assert changed.answer == "b"
    assert changed.extra == 1
    assert changed.input_keys == {"question"}
    assert "answer" not in fewer
    assert fewer.input_keys == {"question"}


def test_equality_includes_the_input_keys():
    a = dx.Example(question="q", answer="a")
    assert a == dx.Example(question="q", answer="a")
    assert a.with_inputs("question") != a
    assert a.with_inputs("question") == dx.Example(question="q", answer="a").with_inputs("question")
    assert a == {"question": "q", "answer": "a"}
    assert hash(a) == hash(dx.Example(answer="a", question="q"))


def test_json_round_trip_keeps_values_and_inputs():
    ex = dx.Example(question="q", tags=["x", "y"], score=0.5, meta={"k": 1}).with_inputs("question", "tags")
    back = dx.Example.from_json(ex.to_json())
    assert back == ex
    assert back.input_keys == {"question", "tags"}


def test_unknown_attribute_names_the_fields_that_exist():
    with pytest.raises(AttributeError, match=r"no field 'answr'; its fields are \['question', 'answer'\]"):
        _ = dx.Example(question="q", answer="a").answr


def test_a_prediction_reads_fields_and_carries_raw_text_and_usage():
    pred = dx.Prediction({"answer": "4"}, raw="[[ ## answer ## ]]\n4", usage=dx.Usage(prompt_tokens=3, calls=1))
    assert pred.answer == "4"
    assert pred["answer"] == "4"
    assert pred.raw.endswith("4")
    assert pred.usage.prompt_tokens == 3
    assert pred == {"answer": "4"}
    assert repr(pred) == "Prediction(answer='4')"
    with pytest.raises(AttributeError, match="read-only"):
        pred.answer = "5"
    with pytest.raises(AttributeError, match="no field 'answr'"):
        _ = pred.answr
