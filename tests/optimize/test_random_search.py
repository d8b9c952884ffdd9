"""BootstrapFewShotWithRandomSearch: DSPy's candidates, each scored on the valset, the best returned."""

from __future__ import annotations

from typing import Any

import pytest

import dspex_lab as dx

from .helpers import demo_questions, exact, qa, question_of, sums, true_sum


def search(**options: Any) -> dx.BootstrapFewShotWithRandomSearch:
    options.setdefault("progress", False)
    return dx.BootstrapFewShotWithRandomSearch(exact, **options)


def demo_count_lm() -> dx.ScriptedLM:
    """Right exactly when the prompt shows at least three demos; wrong otherwise."""

    def reply(messages: list[dict[str, Any]]) -> dict[str, str]:
        question = question_of(messages)
        right = len(demo_questions(messages)) >= 3
        return {"answer": true_sum(question) if right else "0"}

    return dx.ScriptedLM(reply)


def test_the_candidates_come_in_dspy_order_and_each_is_scored_on_the_valset():
    optimizer = search(num_candidate_programs=3, max_bootstrapped_demos=3, max_labeled_demos=3)

    with dx.context(lm=demo_count_lm()):
        optimizer.compile(qa(), trainset=sums(12), valset=sums(6, start=50))

    candidates = optimizer.candidates
    assert [(c.index, c.kind, c.seed) for c in candidates] == [
        (0, "zero-shot", -3),
        (1, "labeled", -2),
        (2, "bootstrap", -1),
        (3, "random bootstrap", 0),
        (4, "random bootstrap", 1),
        (5, "random bootstrap", 2),
    ]
    assert [c.evaluation.total for c in candidates] == [6] * 6
    assert candidates[0].score == 0.0
    assert candidates[0].demo_counts == {"self": 0}
    assert candidates[1].score == 1.0
    assert candidates[1].demo_counts == {"self": 3}


def test_the_best_candidate_is_returned_and_the_first_of_equal_scores_wins():
    optimizer = search(num_candidate_programs=2, max_bootstrapped_demos=3, max_labeled_demos=3)

    with dx.context(lm=demo_count_lm()):
        program = optimizer.compile(qa(), trainset=sums(12), valset=sums(6, start=50))

    assert optimizer.best is optimizer.candidates[1]
    assert program is optimizer.best.program
    assert optimizer.report.status == "completed"
    assert optimizer.report.demos == optimizer.best.report.demos


def test_random_candidates_bootstrap_from_seeded_shuffles_and_report_original_trainset_positions():
    train = sums(12)
    optimizer = search(num_candidate_programs=2, max_bootstrapped_demos=4, max_labeled_demos=4)

    with dx.context(lm=demo_count_lm()):
        optimizer.compile(qa(), trainset=train, valset=sums(4, start=50))

    for candidate in optimizer.candidates[3:]:
        origins = candidate.report.demos["self"]
        for origin, demo in zip(origins, candidate.program.demos):
            assert demo.question == train[origin.train_index].question
    first, second = (c.report.demos["self"] for c in optimizer.candidates[3:])
    assert [o.train_index for o in first] != [o.train_index for o in second]


def test_the_same_inputs_give_the_same_search():
    def run() -> list[tuple[str, float, list[Any]]]:
        optimizer = search(num_candidate_programs=3, max_bootstrapped_demos=3, max_labeled_demos=4)
        with dx.context(lm=demo_count_lm()):
            optimizer.compile(qa(), trainset=sums(15), valset=sums(5, start=60))
        return [(c.kind, c.score, list(c.program.demos)) for c in optimizer.candidates]

    assert run() == run()


def test_stop_at_score_ends_the_search_at_the_first_candidate_reaching_it():
    optimizer = search(num_candidate_programs=5, stop_at_score=1.0, max_bootstrapped_demos=3, max_labeled_demos=3)

    with dx.context(lm=demo_count_lm()):
        optimizer.compile(qa(), trainset=sums(12), valset=sums(4, start=50))

    assert [c.kind for c in optimizer.candidates] == ["zero-shot", "labeled"]


def test_without_a_valset_the_trainset_scores_the_candidates():
    optimizer = search(num_candidate_programs=0, max_bootstrapped_demos=2, max_labeled_demos=2)

    with dx.context(lm=demo_count_lm()):
        optimizer.compile(qa(), trainset=sums(5))

    assert [c.evaluation.total for c in optimizer.candidates] == [5, 5, 5]


def test_each_candidate_is_recorded_with_its_score_and_its_evaluation_run(trace_store):
    optimizer = search(num_candidate_programs=1, max_bootstrapped_demos=3, max_labeled_demos=3)

    with dx.context(lm=demo_count_lm()):
        optimizer.compile(qa(), trainset=sums(10), valset=sums(4, start=50))

    run = optimizer.report.run_id
    recorded = dx.get_events(kind="optimize.candidate", run_id=run, store=trace_store)["payload"].tolist()
    assert [(c["index"], c["candidate"], c["seed"], c["score"]) for c in recorded] == [
        (c.index, c.kind, c.seed, c.score) for c in optimizer.candidates
    ]
    assert [c["best"] for c in recorded] == [True, True, False, False]
    for payload, candidate in zip(recorded, optimizer.candidates):
        assert payload["eval_run_id"] == candidate.evaluation.run_id
    starts = dx.get_events(kind="optimize.start", run_id=run, store=trace_store)
    assert starts["component"].tolist() == [
        "BootstrapFewShotWithRandomSearch",
        "LabeledFewShot",
        "BootstrapFewShot",
        "BootstrapFewShot",
    ]


def test_the_student_is_left_as_it_was():
    student = qa()
    before = (student.uid, list(student.demos))

    with dx.context(lm=demo_count_lm()):
        search(num_candidate_programs=1).compile(student, trainset=sums(8), valset=sums(3, start=50))

    assert (student.uid, list(student.demos)) == before


def test_a_metric_is_required():
    with pytest.raises(TypeError, match="needs a metric"):
        dx.BootstrapFewShotWithRandomSearch(None)


def test_bad_bootstrap_options_are_refused_before_anything_runs():
    with pytest.raises(ValueError, match="max_rounds must be a whole number >= 1"):
        dx.BootstrapFewShotWithRandomSearch(exact, max_rounds=0)
