"""BootstrapFewShot: DSPy's semantics, run concurrently on the evaluation engine."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import dspex_lab as dx
from dspex_lab.evaluation.cancel import cancel_run
from dspex_lab.optimize.base import OptimizationError

from .helpers import adder, demo_questions, exact, qa, question_of, sums, true_sum


def bootstrap(**options: Any) -> dx.BootstrapFewShot:
    """BootstrapFewShot in DSPy's exact order (stratify=False) unless a test says otherwise."""
    options.setdefault("progress", False)
    options.setdefault("stratify", False)
    return dx.BootstrapFewShot(exact, **options)


class Hinted(dx.Module):
    """Two steps: reason out a hint, then answer with it."""

    def __init__(self) -> None:
        self.hint = dx.ChainOfThought("question -> hint")
        self.answer = dx.Predict("question, hint -> answer")

    def forward(self, question: str) -> dx.Prediction:
        hint = self.hint(question=question).hint
        return self.answer(question=question, hint=hint)


def hinted_lm() -> dx.ScriptedLM:
    def reply(messages: list[dict[str, Any]]) -> dict[str, str]:
        question = question_of(messages)
        if "`hint`" in messages[-1]["content"].split("Respond with")[-1]:
            return {"reasoning": f"add the digits of {question}", "hint": f"it is {true_sum(question)}"}
        return {"answer": true_sum(question)}

    return dx.ScriptedLM(reply)


# --- which demos -------------------------------------------------------------------------------------


def test_passing_traces_become_demos_and_the_rest_of_the_trainset_fills_the_labeled_ones():
    train = sums(10)
    wrong = {train[0].question, train[2].question}
    optimizer = bootstrap(max_bootstrapped_demos=3, max_labeled_demos=5, concurrency=1)

    with dx.context(lm=adder(lambda q: q in wrong)):
        program = optimizer.compile(qa(), trainset=train)

    origins = optimizer.report.demos["self"]
    assert [(o.origin, o.train_index) for o in origins[:3]] == [
        ("bootstrapped", 1),
        ("bootstrapped", 3),
        ("bootstrapped", 4),
    ]
    assert [o.origin for o in origins[3:]] == ["labeled", "labeled"]
    assert not {o.train_index for o in origins[3:]} & {1, 3, 4}
    bootstrapped = list(program.demos)[:3]
    assert [demo.question for demo in bootstrapped] == [train[i].question for i in (1, 3, 4)]
    assert all(demo.augmented for demo in bootstrapped)
    assert [dict(demo) for demo in list(program.demos)[3:]] == [dict(train[o.train_index]) for o in origins[3:]]


def test_a_demo_holds_what_the_teacher_said_not_the_label():
    train = [dx.Example(question="What is 2 + 2?", answer="4", note="label only").with_inputs("question")]
    optimizer = dx.BootstrapFewShot(metric=None, max_bootstrapped_demos=1, max_labeled_demos=0, progress=False)

    with dx.context(lm=dx.ScriptedLM(lambda messages: {"answer": "four"})):
        program = optimizer.compile(qa(), trainset=train)

    assert dict(program.demos[0]) == {"augmented": True, "question": "What is 2 + 2?", "answer": "four"}


def test_the_first_passing_examples_in_trainset_order_win_however_concurrent_runs_finish():
    train = sums(12)
    delays = {example.question: 0.02 * (12 - index) for index, example in enumerate(train)}

    async def slow_first(messages: list[dict[str, Any]]) -> None:
        await asyncio.sleep(delays[question_of(messages)])

    class Slow(dx.ScriptedLM):
        async def agenerate(self, messages, params):
            await slow_first(messages)
            return await super().agenerate(messages, params)

    lm = Slow(lambda messages: {"answer": true_sum(question_of(messages))})
    optimizer = bootstrap(max_bootstrapped_demos=2, max_labeled_demos=2, concurrency=6)

    with dx.context(lm=lm):
        optimizer.compile(qa(), trainset=train)

    assert [(o.origin, o.train_index) for o in optimizer.report.demos["self"][:2]] == [
        ("bootstrapped", 0),
        ("bootstrapped", 1),
    ]


def test_it_stops_trying_examples_once_enough_demos_are_found():
    lm = adder()
    optimizer = bootstrap(max_bootstrapped_demos=3, max_labeled_demos=0, concurrency=1)

    with dx.context(lm=lm):
        optimizer.compile(qa(), trainset=sums(20))

    assert [attempt.index for attempt in optimizer.attempts] == [0, 1, 2]
    assert len(lm.requests) == 3


def test_while_an_example_runs_the_teacher_never_shows_it_as_a_demo():
    train = sums(8)
    lm = adder()
    optimizer = bootstrap(max_bootstrapped_demos=8, max_labeled_demos=8, concurrency=4)

    with dx.context(lm=lm):
        optimizer.compile(qa(), trainset=train)

    assert len(lm.requests) == 8
    for request in lm.requests:
        shown = demo_questions(request.messages)
        assert len(shown) == 7
        assert question_of(request.messages) not in shown


def test_the_teacher_is_a_copy_of_the_student_given_labeled_demos():
    train = sums(6)
    lm = adder()

    with dx.context(lm=lm):
        bootstrap(max_bootstrapped_demos=1, max_labeled_demos=3, concurrency=1).compile(qa(), trainset=train)

    shown = demo_questions(lm.requests[0].messages)
    assert len(shown) in (2, 3)
    assert set(shown) <= {example.question for example in train}


def test_a_compiled_teacher_keeps_its_demos():
    teacher = dx.LabeledFewShot(k=2).compile(qa(), trainset=sums(2, start=40))
    lm = adder()

    with dx.context(lm=lm):
        bootstrap(max_bootstrapped_demos=1, max_labeled_demos=4, concurrency=1).compile(
            qa(), trainset=sums(6), teacher=teacher
        )

    assert sorted(demo_questions(lm.requests[0].messages)) == sorted(e.question for e in sums(2, start=40))


def test_teacher_settings_apply_to_the_teacher_runs_only():
    student_lm, teacher_lm = adder(), adder()
    optimizer = bootstrap(max_bootstrapped_demos=2, max_labeled_demos=2, teacher_settings={"lm": teacher_lm})

    with dx.context(lm=student_lm):
        optimizer.compile(qa(), trainset=sums(5))

    assert len(teacher_lm.requests) >= 2
    assert student_lm.requests == []


# --- multi-step programs ------------------------------------------------------------------------------


def test_every_predictor_of_a_multi_step_program_gets_its_own_trace_with_intermediate_fields():
    train = sums(4)
    optimizer = bootstrap(max_bootstrapped_demos=2, max_labeled_demos=2, concurrency=1)

    with dx.context(lm=hinted_lm()):
        program = optimizer.compile(Hinted(), trainset=train)

    demos = program.demos
    assert set(demos) == {"hint.predict", "answer"}
    first_hint, first_answer = demos["hint.predict"][0], demos["answer"][0]
    assert dict(first_hint) == {
        "augmented": True,
        "question": train[0].question,
        "reasoning": f"add the digits of {train[0].question}",
        "hint": f"it is {train[0].answer}",
    }
    assert dict(first_answer) == {
        "augmented": True,
        "question": train[0].question,
        "hint": f"it is {train[0].answer}",
        "answer": train[0].answer,
    }
    assert [o.origin for o in optimizer.report.demos["answer"]] == ["bootstrapped", "bootstrapped"]


def test_the_metric_sees_the_trace_of_every_step():
    seen: list[list[str]] = []

    def metric(example, prediction, trace=None):
        seen.append([type(predictor).__name__ + ":" + ",".join(inputs) for predictor, inputs, _ in trace])
        return exact(example, prediction)

    with dx.context(lm=hinted_lm()):
        dx.BootstrapFewShot(metric, max_bootstrapped_demos=1, max_labeled_demos=0, progress=False).compile(
            Hinted(), trainset=sums(1)
        )

    assert seen == [["Predict:question", "Predict:question,hint"]]


def test_a_predictor_called_twice_in_one_run_gives_one_demo_chosen_the_same_way_each_time():
    class Twice(dx.Module):
        def __init__(self) -> None:
            self.step = dx.Predict("question -> answer")

        def forward(self, question: str) -> dx.Prediction:
            self.step(question="What is 0 + 0?")
            return self.step(question=question)

    def compile_once() -> list[Any]:
        with dx.context(lm=adder()):
            program = bootstrap(max_bootstrapped_demos=4, max_labeled_demos=0, concurrency=1).compile(
                Twice(), trainset=sums(4)
            )
        return list(program.demos["step"])

    first = compile_once()
    assert len(first) == 4
    assert compile_once() == first


# --- metric threshold, errors, rounds ---------------------------------------------------------------


def closeness(example, prediction, trace=None):
    return 1.0 if prediction.answer == example.answer else 0.5


def test_without_a_threshold_any_truthy_score_passes():
    optimizer = dx.BootstrapFewShot(closeness, max_bootstrapped_demos=4, max_labeled_demos=0, progress=False)

    with dx.context(lm=adder(lambda q: True)):
        optimizer.compile(qa(), trainset=sums(4))

    assert [attempt.passed for attempt in optimizer.attempts] == [True] * 4


def test_a_threshold_keeps_only_traces_scoring_at_least_it():
    train = sums(6)
    wrong = {train[1].question, train[4].question}
    optimizer = dx.BootstrapFewShot(
        closeness,
        metric_threshold=1.0,
        max_bootstrapped_demos=6,
        max_labeled_demos=0,
        progress=False,
        concurrency=1,
        stratify=False,
    )

    with dx.context(lm=adder(lambda q: q in wrong)):
        optimizer.compile(qa(), trainset=train)

    assert [(a.index, a.score, a.passed) for a in optimizer.attempts] == [
        (0, 1.0, True),
        (1, 0.5, False),
        (2, 1.0, True),
        (3, 1.0, True),
        (4, 0.5, False),
        (5, 1.0, True),
    ]
    assert [o.train_index for o in optimizer.report.demos["self"]] == [0, 2, 3, 5]


def garbling(bad: set[str]) -> dx.ScriptedLM:
    """Replies nothing parseable to the questions in `bad`, correct answers to the others."""

    def reply(messages: list[dict[str, Any]]) -> Any:
        question = question_of(messages) or messages[-1]["content"]
        if any(item in question for item in bad):
            return "no fields here"
        return {"answer": true_sum(question)}

    return dx.ScriptedLM(reply)


def test_failed_teacher_runs_below_max_errors_are_recorded_and_skipped():
    train = sums(6)
    bad = {train[0].question, train[1].question}
    optimizer = bootstrap(max_bootstrapped_demos=2, max_labeled_demos=0, max_errors=3, concurrency=1)

    with dx.context(lm=garbling(bad)):
        program = optimizer.compile(qa(), trainset=train)

    failed = [attempt for attempt in optimizer.attempts if attempt.error]
    assert [attempt.index for attempt in failed] == [0, 1]
    assert "could not parse" in failed[0].error
    assert [demo.question for demo in program.demos] == [train[2].question, train[3].question]


def test_failed_runs_reaching_max_errors_stop_the_compile_naming_the_first_error():
    # DSPy raises when its error count reaches max_errors.
    train = sums(6)
    bad = {train[0].question, train[1].question, train[2].question}
    optimizer = bootstrap(max_bootstrapped_demos=2, max_labeled_demos=0, max_errors=3, concurrency=1)

    with dx.context(lm=garbling(bad)), pytest.raises(OptimizationError) as caught:
        optimizer.compile(qa(), trainset=train)

    message = str(caught.value)
    assert "3 teacher runs failed, reaching max_errors=3" in message
    assert "first error, on trainset[0]" in message
    assert isinstance(caught.value.__cause__, dx.AdapterParseError)
    assert optimizer.report.status == "failed"
    assert [attempt.index for attempt in optimizer.attempts] == [0, 1, 2]


def test_max_errors_defaults_to_ten():
    train = sums(12)
    optimizer = bootstrap(max_bootstrapped_demos=1, max_labeled_demos=0, concurrency=1)

    with dx.context(lm=garbling({example.question for example in train})), pytest.raises(OptimizationError):
        optimizer.compile(qa(), trainset=train)

    assert len(optimizer.attempts) == 10


def test_later_rounds_draw_fresh_samples_at_temperature_one():
    train = sums(3)
    answers: dict[str, int] = {}

    def reply(messages: list[dict[str, Any]]) -> dict[str, str]:
        question = question_of(messages)
        answers[question] = answers.get(question, 0) + 1
        right = answers[question] == 3 or question != train[1].question
        return {"answer": true_sum(question) if right else "wrong"}

    lm = dx.ScriptedLM(reply)
    optimizer = bootstrap(max_bootstrapped_demos=3, max_labeled_demos=0, max_rounds=3, concurrency=1)

    with dx.context(lm=lm):
        optimizer.compile(qa(), trainset=train)

    assert [(a.index, a.round, a.passed) for a in optimizer.attempts] == [
        (0, 0, True),
        (1, 0, False),
        (1, 1, False),
        (1, 2, True),
        (2, 0, True),
    ]
    temperatures = [request.params.get("temperature") for request in lm.requests]
    assert temperatures == [None, None, 1.0, 1.0, None]


def test_a_rerun_is_answered_from_the_cache_rounds_included_and_compiles_the_same_program():
    train = sums(4)
    calls = {"n": 0}

    def reply(messages: list[dict[str, Any]]) -> dict[str, str]:
        calls["n"] += 1
        question = question_of(messages)
        return {"answer": "wrong" if question == train[0].question else true_sum(question)}

    lm = dx.ScriptedLM(reply, cache=True)
    optimizer = bootstrap(max_bootstrapped_demos=2, max_labeled_demos=1, max_rounds=2, concurrency=1)

    with dx.context(lm=lm):
        first = optimizer.compile(qa(), trainset=train)
        made = calls["n"]
        second = optimizer.compile(qa(), trainset=train)

    assert made == 4
    assert calls["n"] == made
    assert list(second.demos) == list(first.demos)


# --- repeatability and the student ------------------------------------------------------------------


def test_the_same_inputs_compile_the_same_program_and_another_seed_draws_other_labeled_demos():
    train = sums(30)
    wrong = {train[i].question for i in (0, 5, 6)}

    def compile_with(seed: int) -> list[Any]:
        with dx.context(lm=adder(lambda q: q in wrong)):
            program = bootstrap(max_bootstrapped_demos=4, max_labeled_demos=10, seed=seed, concurrency=5).compile(
                qa(), trainset=train
            )
        return list(program.demos)

    first = compile_with(0)
    assert compile_with(0) == first
    other = compile_with(7)
    assert other[:4] == first[:4]
    assert other[4:] != first[4:]


def test_the_student_passed_in_is_not_changed():
    student = qa()
    pinned = adder()
    student.lm = pinned
    student.demos = sums(1, start=90)
    before = (student.uid, list(student.demos), student.lm, dict(student.lm_kwargs))

    program = bootstrap(max_bootstrapped_demos=2, max_labeled_demos=3).compile(student, trainset=sums(8))

    assert (student.uid, list(student.demos), student.lm, dict(student.lm_kwargs)) == before
    assert program.uid != student.uid
    assert program.lm is pinned
    assert len(program.demos) == 3


def test_a_teacher_with_other_predictors_is_refused():
    with pytest.raises(ValueError, match=r"the teacher must have the student's predictors"):
        bootstrap().compile(qa(), trainset=sums(2), teacher=Hinted())


def test_a_teacher_with_another_signature_is_refused():
    with pytest.raises(ValueError, match=r"predictor 'self': the teacher's signature 'question -> reply'"):
        bootstrap().compile(qa(), trainset=sums(2), teacher=dx.Predict("question -> reply"))


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("max_bootstrapped_demos", -1, "max_bootstrapped_demos must be a whole number >= 0"),
        ("max_rounds", 0, "max_rounds must be a whole number >= 1"),
        ("max_errors", -2, "max_errors must be a whole number >= 0 or None"),
        ("concurrency", 0, "concurrency must be a whole number >= 1"),
    ],
)
def test_bad_options_are_refused_before_anything_runs(option, value, message):
    with pytest.raises(ValueError, match=message):
        dx.BootstrapFewShot(exact, **{option: value})


def test_unknown_teacher_settings_are_refused():
    with pytest.raises(TypeError, match="unknown setting"):
        dx.BootstrapFewShot(exact, teacher_settings={"temperature": 1.0})


# --- events, progress, interruption -----------------------------------------------------------------


def test_every_attempt_and_installed_demo_is_recorded_so_the_compile_can_be_replayed(trace_store):
    train = sums(5)
    wrong = {train[1].question}
    optimizer = bootstrap(max_bootstrapped_demos=2, max_labeled_demos=3, concurrency=1)

    with dx.context(lm=adder(lambda q: q in wrong)):
        program = optimizer.compile(qa(), trainset=train)

    run = optimizer.report.run_id
    frame = dx.get_events(kind="optimize.*", run_id=run, store=trace_store)
    kinds = frame["kind"].tolist()
    assert kinds[0] == "optimize.start"
    assert kinds[-1] == "optimize.end"
    phases = [p["phase"] for k, p in zip(kinds, frame["payload"]) if k == "optimize.phase.start"]
    assert phases == ["teacher", "bootstrap", "install"]
    attempts = [p for k, p in zip(kinds, frame["payload"]) if k == "optimize.attempt"]
    assert [(a["index"], a["passed"], a["score"]) for a in attempts] == [
        (0, True, 1.0),
        (1, False, 0.0),
        (2, True, 1.0),
    ]
    assert attempts[1]["inputs"] == {"question": train[1].question}
    assert attempts[1]["outputs"] == {"answer": str(int(train[1].answer) + 1)}
    assert attempts[0]["traces"] == [
        {"predictor": "self", "inputs": {"question": train[0].question}, "outputs": {"answer": train[0].answer}}
    ]
    installed = [p for k, p in zip(kinds, frame["payload"]) if k == "optimize.demos"]
    assert [(d["role"], d["count"]) for d in installed] == [("teacher", 3), ("student", 3)]
    assert installed[1]["uid"] == program.uid
    assert [d["origin"] for d in installed[1]["demos"]] == ["bootstrapped", "bootstrapped", "labeled"]
    end = frame.index[-1]
    state = dx.get_state_at(program, int(end), store=trace_store)
    assert [demo["question"] for demo in state["self"]["demos"]] == [demo.question for demo in program.demos]
    start = frame.index[0]
    assert dx.get_state_at(program, int(start), store=trace_store)["self"]["demos"] == []


def test_the_teacher_runs_report_progress_with_their_own_kinds():
    seen: list[str] = []

    class Recorder:
        def on_event(self, event):
            seen.append(event.kind)

    optimizer = dx.BootstrapFewShot(exact, max_bootstrapped_demos=2, max_labeled_demos=0, progress=Recorder())

    with dx.context(lm=adder()):
        optimizer.compile(qa(), trainset=sums(6))

    assert seen[0] == "teacher.start"
    assert seen[-1] == "teacher.end"
    assert seen.count("teacher.example") >= 2
    assert not [kind for kind in seen if kind.startswith("evaluate.")]


def test_an_interrupted_compile_keeps_what_it_found():
    train = sums(6)
    gate = {"n": 0}
    optimizer = bootstrap(max_bootstrapped_demos=6, max_labeled_demos=6, concurrency=1)

    def reply(messages: list[dict[str, Any]]) -> dict[str, str]:
        gate["n"] += 1
        if gate["n"] == 3:
            cancel_run(optimizer.report.run_id)
        return {"answer": true_sum(question_of(messages))}

    # The latency is an await point: the stop is acted on while the third request is in flight.
    with dx.context(lm=dx.ScriptedLM(reply, latency=0.001)):
        program = optimizer.compile(qa(), trainset=train)

    assert optimizer.report.status == "cancelled"
    assert "cancel_run" in optimizer.report.reason
    origins = optimizer.report.demos["self"]
    bootstrapped = [o.train_index for o in origins if o.origin == "bootstrapped"]
    assert bootstrapped == [0, 1]
    assert [o.origin for o in origins[2:]] == ["labeled"] * 4
    assert len(program.demos) == 6
