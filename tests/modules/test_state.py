"""Every change to a predictor's demos, instructions or signature is a state.change event."""

import dspex_lab as dx


def changes(store, predictor):
    return [
        e["payload"]
        for e in store.records()
        if e["kind"] == "state.change" and e["component"] == predictor.state_component
    ]


def test_a_new_predictor_records_its_initial_state(trace_store):
    predict = dx.Predict("question -> answer")
    [init] = changes(trace_store, predict)
    assert init["op"] == "init"
    assert init["origin"] is None
    assert init["value"] == {
        "demos": [],
        "instructions": "Given the fields `question`, produce the fields `answer`.",
        "signature": "question -> answer",
    }


def test_assigning_and_mutating_demos_are_both_recorded(trace_store):
    predict = dx.Predict("question -> answer")
    predict.demos = [{"question": "a", "answer": "b"}]
    predict.demos.append(dx.Example(question="c", answer="d"))
    predict.demos.pop(0)
    predict.demos.clear()
    ops = [(c["op"], c["field"], c["value"]) for c in changes(trace_store, predict)[1:]]
    assert ops == [
        ("set", "demos", [{"question": "a", "answer": "b"}]),
        ("append", "demos", {"question": "c", "answer": "d"}),
        ("set", "demos", [{"question": "c", "answer": "d"}]),
        ("set", "demos", []),
    ]


def test_demos_given_as_dicts_become_examples():
    predict = dx.Predict("question -> answer")
    predict.demos = [{"question": "a", "answer": "b"}]
    predict.demos.append({"question": "c", "answer": "d"})
    assert all(isinstance(demo, dx.Example) for demo in predict.demos)


def test_instruction_changes_are_recorded(trace_store):
    predict = dx.Predict("question -> answer")
    predict.instructions = "Be brief."
    assert changes(trace_store, predict)[-1] == {
        "op": "set",
        "field": "instructions",
        "value": "Be brief.",
        "origin": None,
        "path": None,
    }
    assert predict.signature.instructions == "Be brief."


def test_a_copy_records_where_it_came_from(trace_store):
    predict = dx.Predict("question -> answer")
    predict.demos = [{"question": "a", "answer": "b"}]
    copy = predict.deepcopy()
    [init] = changes(trace_store, copy)
    assert init["origin"] == predict.uid
    assert init["value"]["demos"] == [{"question": "a", "answer": "b"}]


def test_nothing_is_recorded_when_tracing_is_off():
    from dspex_lab.trace import events

    with events.use_store(None):
        predict = dx.Predict("question -> answer")
        predict.demos = [{"question": "a", "answer": "b"}]
    assert len(predict.demos) == 1
