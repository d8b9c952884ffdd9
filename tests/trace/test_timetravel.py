"""Time travel: a predictor's state at any moment, folded from its state.change events."""

from __future__ import annotations

import pytest

import dspex_lab as dx
import dspex_lab.optimize
from dspex_lab.modules.state import demo_to_dict
from dspex_lab.testing import ProviderServer
from dspex_lab.trace import events
from dspex_lab.trace.query import get_events
from dspex_lab.trace.schema import Event
from dspex_lab.trace.store import EventStore
from dspex_lab.trace.timetravel import get_state_at, get_state_history

A, B = "aaaa0001", "bbbb0002"
START = {"demos": [], "instructions": "Answer.", "signature": "q -> a"}


def change(store, ts, uid, op, field, value, origin=None):
    body = {"op": op, "field": field, "value": value, "origin": origin, "path": None}
    store.append(Event(ts, "state.change", None, None, None, f"predict:{uid}", "t", None, body))


@pytest.fixture
def store():
    """A is made at 10 and changed; B is copied from A at 35 and changed on its own."""
    made = EventStore(chunk_events=3)
    change(made, 10, A, "init", "*", START)
    change(made, 20, A, "append", "demos", {"q": "1"})
    change(made, 30, A, "append", "demos", {"q": "2"})
    change(made, 35, B, "init", "*", {**START, "demos": [{"q": "1"}, {"q": "2"}]}, origin=A)
    change(made, 40, A, "set", "instructions", "Answer briefly.")
    made.append(Event(42, "program.start", None, 7, None, "qa", "t", None, None))
    change(made, 45, B, "append", "demos", {"q": "3"})
    change(made, 50, A, "set", "demos", [{"q": "9"}])
    return made


class Program:
    """Anything with named_predictors() of objects with a uid is a program to time travel."""

    def __init__(self, **predictors):
        self.predictors = predictors

    def named_predictors(self):
        return [(name, type("P", (), {"uid": uid})()) for name, uid in self.predictors.items()]


@pytest.mark.parametrize(
    ("t", "demos", "instructions"),
    [
        (10, [], "Answer."),
        (19, [], "Answer."),
        (20, [{"q": "1"}], "Answer."),
        (30, [{"q": "1"}, {"q": "2"}], "Answer."),
        (45, [{"q": "1"}, {"q": "2"}], "Answer briefly."),
        (10**12, [{"q": "9"}], "Answer briefly."),
    ],
)
def test_the_state_folds_every_change_up_to_t(store, t, demos, instructions):
    assert get_state_at(f"predict:{A}", t, store=store) == {
        "demos": demos,
        "instructions": instructions,
        "signature": "q -> a",
    }


def test_before_a_predictor_existed_its_state_is_none(store):
    assert get_state_at(f"predict:{A}", 9, store=store) is None


def test_before_a_copy_existed_its_state_is_its_origins(store):
    assert get_state_at(f"predict:{B}", 25, store=store)["demos"] == [{"q": "1"}]
    assert get_state_at(f"predict:{B}", 5, store=store) is None


def test_a_copy_goes_its_own_way_after_it_is_made(store):
    assert get_state_at(f"predict:{B}", 50, store=store) == {
        "demos": [{"q": "1"}, {"q": "2"}, {"q": "3"}],
        "instructions": "Answer.",
        "signature": "q -> a",
    }


def test_a_program_gets_one_state_per_predictor_name(store):
    program = Program(generate=A, check=B, later="cccc0003")
    state = get_state_at(program, 30, store=store)
    assert state == {
        "generate": {"demos": [{"q": "1"}, {"q": "2"}], "instructions": "Answer.", "signature": "q -> a"},
        "check": {"demos": [{"q": "1"}, {"q": "2"}], "instructions": "Answer.", "signature": "q -> a"},
        "later": None,
    }


def test_changing_an_answer_does_not_change_the_next(store):
    first = get_state_at(f"predict:{A}", 30, store=store)
    first["demos"].append({"q": "tampered"})
    assert get_state_at(f"predict:{A}", 30, store=store)["demos"] == [{"q": "1"}, {"q": "2"}]


def test_bad_targets_say_what_to_pass(store):
    with pytest.raises(ValueError, match="predict:<uid>"):
        get_state_at("qa.generate", 10, store=store)
    with pytest.raises(TypeError, match="named_predictors"):
        get_state_at(3.5, 10, store=store)
    with pytest.raises(TypeError, match="needs a time"):
        get_state_at(f"predict:{A}", None, store=store)


def test_the_history_lists_changes_with_the_lineage_before_the_copy(store):
    history = get_state_history(f"predict:{B}", store=store)
    assert history.index.tolist() == [10, 20, 30, 35, 45]
    assert history["uid"].tolist() == [A, A, A, B, B]
    assert history["op"].tolist() == ["init", "append", "append", "init", "append"]
    assert history["value"].iloc[-1] == {"q": "3"}
    assert history["origin"].iloc[3] == A

    own = get_state_history(f"predict:{B}", store=store, lineage=False)
    assert own.index.tolist() == [35, 45]
    assert get_state_history(f"predict:{A}", since=20, until=40, store=store).index.tolist() == [20, 30, 40]


def test_the_history_of_a_program_names_each_predictor(store):
    history = get_state_history(Program(generate=A, check=B), store=store, lineage=False)
    assert list(zip(history.index, history["predictor"], strict=True)) == [
        (10, "generate"),
        (20, "generate"),
        (30, "generate"),
        (35, "check"),
        (40, "generate"),
        (45, "check"),
        (50, "generate"),
    ]


def test_a_store_that_dropped_a_predictors_init_cannot_reconstruct_it():
    store = EventStore(max_events=2, chunk_events=1)
    change(store, 10, A, "init", "*", START)
    change(store, 20, A, "append", "demos", {"q": "1"})
    change(store, 30, A, "append", "demos", {"q": "2"})
    assert get_state_at(f"predict:{A}", 40, store=store) is None


# --- on real predictors ------------------------------------------------------------------------
class QA(dx.Module):
    def __init__(self):
        self.generate = dx.Predict("question -> answer")
        self.check = dx.Predict("question, answer -> verdict")

    def forward(self, question):
        return self.generate(question=question)


def compile_with_labels(program, trainset, k):
    """What a labeled few-shot optimizer does: copy the program, then give each predictor k demos."""
    compiled = program.deepcopy()
    for _, predictor in compiled.named_predictors():
        for example in trainset[:k]:
            predictor.demos.append(example)
    return compiled


def test_get_state_at_returns_the_exact_demos_before_during_and_after_a_compile(trace_store):
    trainset = [dx.Example(question=f"q{i}", answer=f"a{i}").with_inputs("question") for i in range(3)]
    student = QA()
    student.generate.instructions = "Answer in one word."
    before = events.now_ns()
    compiled = compile_with_labels(student, trainset, k=2)
    after = events.now_ns()

    demos = [demo_to_dict(example) for example in trainset[:2]]
    empty = {"demos": [], "signature": "question -> answer", "instructions": "Answer in one word."}
    assert get_state_at(compiled, before) == get_state_at(student, before)
    assert get_state_at(compiled, before)["generate"] == empty
    final = get_state_at(compiled, after)
    assert final == {name: predictor.state_snapshot() for name, predictor in compiled.named_predictors()}
    assert final["generate"] == {**empty, "demos": demos}
    assert get_state_at(student, after)["generate"] == empty, "compiling leaves the student untouched"

    # During: one moment per recorded change, each showing exactly the demos appended so far.
    history = get_state_history(compiled)
    appends = history[history["op"] == "append"]
    assert appends["predictor"].tolist() == ["generate", "generate", "check", "check"]
    seen = [len(get_state_at(compiled, ts)["generate"]["demos"]) for ts in appends.index]
    assert seen == [1, 2, 2, 2]
    assert get_state_at(compiled, int(appends.index[2]))["check"]["demos"] == demos[:1]
    assert get_state_at(compiled, int(appends.index[0]) - 1)["generate"]["demos"] == []


def test_assigning_demos_wholesale_is_folded_too(trace_store):
    predict = dx.Predict("question -> answer")
    predict.demos = [{"question": "a", "answer": "b"}]
    middle = events.now_ns()
    predict.demos = []
    assert get_state_at(predict, middle)["self"]["demos"] == [{"question": "a", "answer": "b"}]
    assert get_state_at(predict.state_component, events.now_ns())["demos"] == []


# --- on real optimizers --------------------------------------------------------------------------
def state_changes(program):
    """(ts, predictor name, demos) of every wholesale demos change made to `program` during the compile."""
    history = get_state_history(program, lineage=False)
    sets = history[(history["op"] == "set") & (history["field"] == "demos")]
    return [(int(ts), row.predictor, row.value) for ts, row in sets.iterrows()]


def trainset(n=4):
    return [dx.Example(question=f"q{i}", answer=f"a{i}").with_inputs("question") for i in range(n)]


def test_a_labeled_few_shot_compile_can_be_replayed_before_during_and_after(trace_store):
    student = QA()
    before = events.now_ns()
    optimizer = dx.optimize.LabeledFewShot(k=2)
    compiled = optimizer.compile(student, trainset=trainset())
    after = events.now_ns()

    empty = {name: {**state, "demos": []} for name, state in get_state_at(student, before).items()}
    assert get_state_at(compiled, before) == empty, "before the compile the copy shows the student it came from"
    assert get_state_at(compiled, after) == {n: p.state_snapshot() for n, p in compiled.named_predictors()}
    assert all(len(state["demos"]) == 2 for state in get_state_at(compiled, after).values())
    assert get_state_at(student, after) == empty, "the student is untouched"

    changes = state_changes(compiled)
    assert [name for _, name, demos in changes if demos] == ["generate", "check"]
    for ts, name, demos in changes:
        assert get_state_at(compiled, ts)[name]["demos"] == demos
    assert get_events(run_id=optimizer.report.run_id, kind="optimize.*", store=trace_store).shape[0] > 0


def test_a_bootstrap_compile_against_a_real_client_can_be_replayed(trace_store):
    with ProviderServer() as server:
        lm = dx.LM("openai/loopback", api_base=server.url, api_key="sk-loopback-key-123456")
        student = QA()
        optimizer = dx.optimize.BootstrapFewShot(
            metric=lambda example, prediction, trace=None: True, max_bootstrapped_demos=2, max_labeled_demos=0
        )
        before = events.now_ns()
        with dx.context(lm=lm):
            compiled = optimizer.compile(student, trainset=trainset())
        after = events.now_ns()

    final = get_state_at(compiled, after)
    assert final == {n: p.state_snapshot() for n, p in compiled.named_predictors()}
    assert len(final["generate"]["demos"]) == 2
    assert get_state_at(compiled, before)["generate"]["demos"] == []
    changes = [change for change in state_changes(compiled) if change[2]]
    assert changes, "installing the bootstrapped demos is recorded"
    for ts, name, demos in changes:
        assert get_state_at(compiled, ts)[name]["demos"] == demos
        assert get_state_at(compiled, ts - 1)[name]["demos"] != demos
    run = get_events(run_id=optimizer.report.run_id, store=trace_store)
    assert {"optimize.start", "optimize.end", "lm.request", "lm.response"} <= set(run["kind"])
