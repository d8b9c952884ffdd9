"""Module: programs made of predictors, with structure, copies, resets, traces and save/load."""

import asyncio
import json

import pytest

import dspex_lab as dx


class TwoStep(dx.Module):
    def __init__(self):
        self.draft = dx.Predict("question -> draft")
        self.refine = dx.ChainOfThought("question, draft -> answer")

    def forward(self, question):
        draft = self.draft(question=question).draft
        return self.refine(question=question, draft=draft)


def scripted():
    return dx.ScriptedLM([{"draft": "maybe 4"}, {"reasoning": "2 and 2 make 4", "answer": "4"}])


def test_predictors_are_found_from_attributes_with_dotted_names():
    program = TwoStep()
    assert [name for name, _ in program.named_predictors()] == ["draft", "refine.predict"]
    assert [name for name, _ in program.named_sub_modules()] == ["draft", "refine", "refine.predict"]


def test_predictors_in_lists_and_dicts_are_found_too():
    class Many(dx.Module):
        def __init__(self):
            self.steps = [dx.Predict("a -> b"), dx.Predict("b -> c")]
            self.by_name = {"x": dx.Predict("c -> d")}

    assert [name for name, _ in Many().named_predictors()] == ["steps[0]", "steps[1]", "by_name['x']"]


def test_a_multi_step_program_runs_and_sums_usage_over_its_lm_calls():
    with dx.context(lm=scripted()):
        pred = TwoStep()(question="2+2?")
    assert pred.answer == "4"
    assert pred.reasoning == "2 and 2 make 4"
    assert pred.usage.calls == 2


def test_a_program_without_aforward_runs_async_in_a_worker_thread():
    with dx.context(lm=scripted()):
        pred = asyncio.run(TwoStep().acall(question="2+2?"))
    assert pred.answer == "4"


def test_components_are_named_by_their_path_in_the_root_program(trace_store):
    program = TwoStep()
    program.name = "qa"
    with dx.context(lm=scripted()):
        program(question="2+2?")
    starts = [e["component"] for e in trace_store.records() if e["kind"] == "program.start"]
    assert starts == ["qa", "qa.draft", "qa.refine", "qa.refine.predict"]


class Steps(dx.Module):
    name = "p"

    def __init__(self):
        self.steps = [dx.Predict("question -> answer")]

    def forward(self, question):
        return [step(question=question) for step in self.steps][-1]


def program_starts(trace_store):
    return [e["component"] for e in trace_store.records() if e["kind"] == "program.start"]


def test_a_predictor_added_to_a_list_after_a_call_is_named_by_its_place(trace_store):
    program, existing = Steps(), dx.Predict("question -> answer")
    with dx.context(lm=dx.ScriptedLM(lambda messages: {"answer": "4"})):
        program(question="2+2?")
        program.steps.append(existing)
        program(question="2+2?")

    assert program_starts(trace_store) == ["p", "p.steps[0]", "p", "p.steps[0]", "p.steps[1]"]


def test_names_follow_predictors_that_move_in_their_list(trace_store):
    program, existing = Steps(), dx.Predict("question -> answer")
    first = program.steps[0]
    with dx.context(lm=dx.ScriptedLM(lambda messages: {"answer": "4"})):
        program(question="2+2?")
        program.steps.insert(0, existing)
        trace_store.clear()
        program(question="2+2?")

    assert program_starts(trace_store) == ["p", "p.steps[0]", "p.steps[1]"]
    assert program.steps[1] is first


def test_deepcopy_copies_demos_and_modules_but_shares_the_lm():
    lm = dx.ScriptedLM([])
    program = TwoStep()
    program.draft.lm = lm
    program.draft.demos = [dx.Example(question="q", draft="d")]
    copy = program.deepcopy()
    copy.draft.demos.append(dx.Example(question="q2", draft="d2"))
    assert len(program.draft.demos) == 1
    assert len(copy.draft.demos) == 2
    assert copy.draft is not program.draft
    assert copy.draft.lm is lm
    assert copy.draft.uid != program.draft.uid


def test_reset_removes_every_demo():
    program = TwoStep()
    program.draft.demos = [dx.Example(question="q", draft="d")]
    program.refine.predict.demos = [dx.Example(question="q", draft="d", reasoning="r", answer="a")]
    program.reset()
    assert program.demos == {"draft": [], "refine.predict": []}


def test_save_and_load_round_trip_demos_and_instructions(tmp_path):
    program = TwoStep()
    program.draft.demos = [dx.Example(question="1+1?", draft="2").with_inputs("question")]
    program.refine.predict.instructions = "Answer with a number."
    path = program.save(tmp_path / "program.json")

    loaded = dx.load(path, into=TwoStep)
    assert loaded.draft.demos == program.draft.demos
    assert loaded.refine.predict.instructions == "Answer with a number."
    assert json.loads(path.read_text())["format"] == "dspex_lab.program"


def test_load_into_an_instance_leaves_that_instance_untouched(tmp_path):
    source = TwoStep()
    source.draft.demos = [dx.Example(question="q", draft="d")]
    path = source.save(tmp_path / "p.json")
    target = TwoStep()
    loaded = dx.load(path, into=target)
    assert len(loaded.draft.demos) == 1
    assert target.draft.demos == []


def test_load_refuses_a_file_for_another_program(tmp_path):
    path = dx.Predict("question -> answer").save(tmp_path / "p.json")
    with pytest.raises(ValueError, match=r"has predictors \['self'\], the program has \['draft', 'refine.predict'\]"):
        dx.load(path, into=TwoStep)


def test_load_refuses_a_mismatched_signature(tmp_path):
    path = dx.Predict("question -> answer").save(tmp_path / "p.json")
    with pytest.raises(ValueError, match="does not match"):
        dx.load(path, into=dx.Predict("question -> reply"))


def test_load_refuses_files_that_are_not_saved_programs(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        dx.load(bad, into=TwoStep)
    bad.write_text('{"x": 1}')
    with pytest.raises(ValueError, match="not a saved dspex_lab program"):
        dx.load(bad, into=TwoStep)
    with pytest.raises(FileNotFoundError, match="no saved program"):
        dx.load(tmp_path / "missing.json", into=TwoStep)


def saved_with_lm_kwargs(tmp_path, lm_kwargs):
    path = dx.Predict("question -> answer").save(tmp_path / "p.json")
    state = json.loads(path.read_text())
    state["predictors"]["self"]["lm_kwargs"] = lm_kwargs
    path.write_text(json.dumps(state))
    return path


def test_loading_ignores_saved_lm_kwargs_that_could_rewrite_requests(tmp_path):
    path = saved_with_lm_kwargs(
        tmp_path,
        {"temperature": 0.3, "model": "gpt-4-32k", "api_base": "http://evil", "base_url": "x", "messages": []},
    )
    with pytest.warns(UserWarning, match=r"ignored saved lm_kwargs \['api_base', 'base_url', 'messages', 'model'\]"):
        loaded = dx.load(path, into=dx.Predict("question -> answer"))
    assert loaded.lm_kwargs == {"temperature": 0.3}


def test_allow_unsafe_lm_state_loads_every_saved_key(tmp_path):
    path = saved_with_lm_kwargs(tmp_path, {"temperature": 0.3, "model": "gpt-4-32k"})
    loaded = dx.load(path, into=dx.Predict("question -> answer"), allow_unsafe_lm_state=True)
    assert loaded.lm_kwargs == {"temperature": 0.3, "model": "gpt-4-32k"}


def test_a_damaged_program_file_is_named_with_what_is_wrong(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_bytes(b'{"format": "dspex_lab.program", "x": "\xff\xfe"}')
    with pytest.raises(ValueError, match=r"bad\.json is not UTF-8 text \(byte 38 cannot be decoded\)"):
        dx.load(bad, into=TwoStep)
    bad.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match="nests its JSON deeper than Python can read"):
        dx.load(bad, into=TwoStep)
    path = dx.Predict("question -> answer").save(tmp_path / "p.json")
    state = json.loads(path.read_text())
    state["predictors"]["self"]["demos"] = "not a list"
    path.write_text(json.dumps(state))
    with pytest.raises(ValueError, match=r"predictor 'self': field 'demos' must be a list, got str"):
        dx.load(path, into=dx.Predict("question -> answer"))
    state["predictors"]["self"]["demos"] = [["q", "a"]]
    path.write_text(json.dumps(state))
    with pytest.raises(ValueError, match=r"predictor 'self': demos\[0\] must be an object of fields, got list"):
        dx.load(path, into=dx.Predict("question -> answer"))


def test_a_module_without_forward_says_so():
    class Empty(dx.Module):
        pass

    with pytest.raises(NotImplementedError, match="must define forward"):
        Empty()(x=1)
