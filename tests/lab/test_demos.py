"""DemoInspector: demos per predictor, where each came from, the compile's before/after, and time travel."""

from __future__ import annotations

import pytest

import dspex_lab as dx
from dspex_lab.lab.demos import LATEST, DemoInspector
from dspex_lab.trace import events


def compiled_program(qa, oracle, devset, metric):
    optimizer = dx.BootstrapFewShot(
        metric, max_bootstrapped_demos=2, max_labeled_demos=3, progress=False, concurrency=1
    )
    student = qa(oracle(wrong={"q0"}))
    return student, optimizer.compile(student, trainset=devset(6)), optimizer


def test_each_demo_is_listed_with_its_origin(qa, oracle, devset, metric):
    _, compiled, optimizer = compiled_program(qa, oracle, devset, metric)

    inspector = DemoInspector(compiled)

    demos = inspector.demos_at()
    assert [d["question"] for d in demos["generate"]] == [d.question for d in compiled.generate.demos]
    sources = inspector.sources()["generate"]
    assert [s.origin for s in sources] == ["bootstrapped", "bootstrapped", "labeled"]
    assert inspector.compile.run_id == optimizer.report.run_id
    assert inspector.compile.optimizer == "BootstrapFewShot"
    text = inspector.text()
    assert "compiled by BootstrapFewShot" in text
    assert "generate: 3 demos (before the compile 0; added 3, removed 0)" in text
    assert "[bootstrapped, train #" in text
    assert "[labeled, train #" in text


def test_a_bootstrapped_demo_leads_to_its_teacher_run_and_its_lm_call(qa, oracle, devset, metric):
    _, compiled, _ = compiled_program(qa, oracle, devset, metric)
    inspector = DemoInspector(compiled)
    demos = inspector.demos_at()["generate"]

    for source in inspector.sources()["generate"]:
        demo = demos[source.position]
        assert demo["question"] == f"q{source.train_index}"
        if source.origin == "bootstrapped":
            assert source.attempt.passed
            assert source.attempt.inputs == {"question": demo["question"]}
            [call] = source.calls
            assert f"[[ ## question ## ]]\n{demo['question']}" in call.messages[-1]["content"]
            assert demo["answer"] in call.reply
        else:
            assert source.attempt is None
            assert source.calls == []


def test_the_diff_compares_the_demos_before_and_after_the_compile(qa, oracle, devset, metric):
    student = qa(oracle(wrong={"q0"}))
    student.generate.demos = [dx.Example(question="old", answer="x").with_inputs("question")]
    optimizer = dx.BootstrapFewShot(
        metric, max_bootstrapped_demos=2, max_labeled_demos=3, progress=False, concurrency=1
    )
    compiled = optimizer.compile(student, trainset=devset(6))

    diff = DemoInspector(compiled).diff()["generate"]

    assert [d["question"] for d in diff.before] == ["old"]
    assert len(diff.after) == len(diff.added) == 3
    assert [d["question"] for d in diff.removed] == ["old"]
    assert DemoInspector(student).diff() is None


def test_the_time_slider_shows_the_demos_at_each_recorded_moment(qa, oracle, devset, metric):
    program = qa(oracle())
    first = dx.Example(question="q1", answer="a1").with_inputs("question")
    second = dx.Example(question="q2", answer="a2").with_inputs("question")
    program.generate.demos = [first]
    program.generate.demos.append(second)
    inspector = DemoInspector(program)
    inspector.draw()

    init, assigned, appended = inspector.moments
    slider = inspector.parts.slider
    assert [value for _, value in slider.options] == [init, assigned, appended, LATEST]

    slider.value = init
    assert "0 demos" in inspector.parts.table.value
    slider.value = assigned
    assert "1 demos" in inspector.parts.table.value
    assert "q2" not in inspector.parts.table.value
    assert "set demos of generate" in inspector.parts.moment.value
    assert [d["question"] for d in inspector.at(appended)["generate"]] == ["q1", "q2"]
    assert slider.value == appended
    inspector.at(None)
    assert slider.value == LATEST


def test_choosing_a_demo_shows_its_teacher_run(qa, oracle, devset, metric):
    _, compiled, _ = compiled_program(qa, oracle, devset, metric)
    inspector = DemoInspector(compiled)
    inspector.draw()

    inspector.parts.source.value = ("generate", 0)

    assert "teacher run" in inspector.parts.origin.value
    assert "LM call 1" in inspector.parts.origin.value
    inspector.explain("generate", 2)
    assert "installed as it is" in inspector.parts.origin.value


def test_a_random_search_demo_leads_to_the_teacher_run_of_its_own_candidate(qa, oracle, devset, metric):
    optimizer = dx.BootstrapFewShotWithRandomSearch(
        metric, max_bootstrapped_demos=2, max_labeled_demos=2, num_candidate_programs=2, progress=False, concurrency=1
    )
    optimizer.compile(qa(oracle(wrong={"q1"})), trainset=devset(6))
    checked = 0

    for candidate in optimizer.candidates:  # several compiles in one run, each with its own teacher runs
        inspector = DemoInspector(candidate.program)
        demos = inspector.demos_at()["generate"]
        for source in inspector.sources().get("generate", []):
            if source.origin == "bootstrapped":
                assert source.attempt.inputs["question"] == demos[source.position]["question"]
                checked += 1

    assert checked >= 4


def test_bad_arguments_say_what_is_needed(qa, oracle):
    with pytest.raises(TypeError, match="needs a program"):
        DemoInspector("qa")
    with events.use_store(None), pytest.raises(RuntimeError, match="tracing is off"):
        DemoInspector(qa(oracle()))
