"""LabeledFewShot: k training examples, as they are, become every predictor's demos."""

from __future__ import annotations

import pytest

import dspex_lab as dx

from .helpers import qa, sums


class TwoPredictors(dx.Module):
    def __init__(self) -> None:
        self.first = dx.Predict("question -> answer")
        self.second = dx.Predict("question -> answer")

    def forward(self, question: str) -> dx.Prediction:
        return self.second(question=self.first(question=question).answer)


def test_each_predictor_gets_k_training_examples_drawn_with_the_seed():
    train = sums(20)

    program = dx.LabeledFewShot(k=5).compile(qa(), trainset=train)

    assert len(program.demos) == 5
    assert all(demo in train for demo in program.demos)
    assert len(set(map(repr, program.demos))) == 5
    again = dx.LabeledFewShot(k=5).compile(qa(), trainset=train)
    assert list(again.demos) == list(program.demos)
    other = dx.LabeledFewShot(k=5, seed=1).compile(qa(), trainset=train)
    assert list(other.demos) != list(program.demos)


def test_without_sampling_the_first_k_are_taken_in_order():
    train = sums(10)

    program = dx.LabeledFewShot(k=3).compile(qa(), trainset=train, sample=False)

    assert list(program.demos) == train[:3]


def test_k_larger_than_the_trainset_takes_every_example():
    train = sums(4)

    program = dx.LabeledFewShot(k=16).compile(qa(), trainset=train)

    assert sorted(map(repr, program.demos)) == sorted(map(repr, train))


def test_every_predictor_of_a_multi_step_program_gets_demos():
    program = dx.LabeledFewShot(k=2).compile(TwoPredictors(), trainset=sums(8))

    assert {name: len(demos) for name, demos in program.demos.items()} == {"first": 2, "second": 2}


def test_the_student_is_left_as_it_was_and_a_compiled_copy_is_returned():
    student = qa()
    student.demos = sums(1, start=50)
    before = (student.uid, list(student.demos))

    program = dx.LabeledFewShot(k=2).compile(student, trainset=sums(6))

    assert (student.uid, list(student.demos)) == before
    assert program is not student
    assert program.uid != student.uid
    assert sums(1, start=50)[0] not in program.demos


def test_the_compile_is_recorded_as_events_with_each_demo_origin(trace_store):
    train = sums(6)
    optimizer = dx.LabeledFewShot(k=2)

    program = optimizer.compile(qa(), trainset=train)

    run = optimizer.report.run_id
    kinds = dx.get_events(run_id=run, store=trace_store)["kind"].tolist()
    assert kinds[0] == "optimize.start"
    assert kinds[-1] == "optimize.end"
    demos = dx.get_events(kind="optimize.demos", run_id=run, store=trace_store)["payload"].tolist()
    assert len(demos) == 1
    assert demos[0]["uid"] == program.uid
    indices = [origin["train_index"] for origin in demos[0]["demos"]]
    assert [train[i] for i in indices] == list(program.demos)
    assert {origin["origin"] for origin in demos[0]["demos"]} == {"labeled"}
    end = dx.get_events(kind="optimize.end", run_id=run, store=trace_store)
    assert end["payload"].iloc[0]["status"] == "completed"
    state = dx.get_state_at(program, int(end.index[0]), store=trace_store)
    assert len(state["self"]["demos"]) == 2


def test_a_compiled_program_saves_and_loads_with_its_demos(tmp_path):
    program = dx.LabeledFewShot(k=3).compile(qa(), trainset=sums(9))

    loaded = dx.load(program.save(tmp_path / "qa.json"), qa())

    assert list(loaded.demos) == list(program.demos)


@pytest.mark.parametrize("k", [-1, 2.5, True, "3"])
def test_k_must_be_a_whole_number(k):
    with pytest.raises(ValueError, match="k is the number of demos per predictor"):
        dx.LabeledFewShot(k=k)


def test_a_trainset_of_dicts_is_refused_with_the_fix():
    with pytest.raises(TypeError, match=r"trainset\[0\] is a dict, not a dx.Example \(wrap it"):
        dx.LabeledFewShot(k=1).compile(qa(), trainset=[{"question": "q", "answer": "a"}])


def test_examples_without_inputs_are_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"trainset\[1\] has no input keys; mark them with example.with_inputs"):
        dx.LabeledFewShot(k=1).compile(qa(), trainset=[*sums(1), dx.Example(question="q", answer="a")])


def test_a_student_that_is_not_a_program_is_refused():
    with pytest.raises(TypeError, match=r"student must be a dx\.Module"):
        dx.LabeledFewShot(k=1).compile(lambda question: question, trainset=sums(2))
