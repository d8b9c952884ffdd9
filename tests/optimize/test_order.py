"""Stratified bootstrapping: the demos chosen do not depend on the trainset's order nor collapse onto one label,
and the demo nearest the question counters the teacher's favourite answer."""

from __future__ import annotations

import random
from typing import Any

import dspex_lab as dx
from dspex_lab.optimize.order import balanced_order, deal, label_key, rank_labels

LABELS = ["positive", "negative", "neutral", "mixed"]


def reviews(per_label: int = 6) -> list[dx.Example]:
    """Reviews grouped by label, as a file sorted by label holds them."""
    return [
        dx.Example(review=f"review {n} that is {label}", sentiment=label).with_inputs("review")
        for label in LABELS
        for n in range(per_label)
    ]


def weak_teacher() -> dx.ScriptedLM:
    """A teacher with a favourite answer: it says "positive" whatever the review."""
    return dx.ScriptedLM(lambda messages: {"sentiment": "positive"})


def labeled_right(example: dx.Example, prediction: Any, trace: Any = None) -> bool:
    return prediction.sentiment == example.sentiment


def compile_demos(trainset: list[dx.Example], **options: Any) -> list[dict[str, Any]]:
    optimizer = dx.BootstrapFewShot(
        labeled_right, max_bootstrapped_demos=4, max_labeled_demos=8, progress=False, **options
    )
    with dx.context(lm=weak_teacher()):
        program = optimizer.compile(dx.Predict("review -> sentiment"), trainset=trainset)
    return [dict(demo) for demo in program.demos]


def test_the_balanced_order_deals_the_labels_in_turn_and_ignores_the_given_order():
    grouped = reviews()
    shuffled = grouped[:]
    random.Random(3).shuffle(shuffled)

    first = [grouped[i] for i in balanced_order(grouped, seed=0)]
    second = [shuffled[i] for i in balanced_order(shuffled, seed=0)]

    assert first == second
    assert {label_key(example) for example in first[:4]} == {label_key(example) for example in grouped[::6]}
    assert [grouped[i] for i in balanced_order(grouped, seed=1)] != first


def test_the_demos_chosen_are_the_same_for_a_shuffled_and_a_sorted_trainset():
    grouped = reviews()
    shuffled = grouped[:]
    random.Random(7).shuffle(shuffled)

    assert compile_demos(grouped) == compile_demos(shuffled)


def test_a_weak_teacher_and_a_sorted_trainset_do_not_leave_every_demo_with_one_label():
    demos = compile_demos(reviews())

    assert {demo["sentiment"] for demo in demos} == set(LABELS)


def test_dspy_demo_counts_hold_bootstrapped_then_labeled_up_to_max_labeled_demos():
    optimizer = dx.BootstrapFewShot(labeled_right, max_bootstrapped_demos=4, max_labeled_demos=16, progress=False)
    with dx.context(lm=weak_teacher()):
        optimizer.compile(dx.Predict("review -> sentiment"), trainset=reviews())

    origins = [origin.origin for origin in optimizer.report.demos["self"]]
    assert sorted(origins) == ["bootstrapped"] * 4 + ["labeled"] * 12


def test_the_demo_nearest_the_question_has_the_label_the_teacher_answers_least():
    optimizer = dx.BootstrapFewShot(labeled_right, max_bootstrapped_demos=4, max_labeled_demos=16, progress=False)
    with dx.context(lm=weak_teacher()):
        program = optimizer.compile(dx.Predict("review -> sentiment"), trainset=reviews())

    labels = [demo.sentiment for demo in program.demos]
    assert labels[-1] != "positive"
    assert labels[: len(LABELS)].count("positive") == 1  # dealt label by label, the favourite first in each turn
    assert max(labels.count(label) for label in LABELS) - min(labels.count(label) for label in LABELS) <= 4


def test_demos_are_dealt_in_turns_with_the_last_label_of_the_ranking_nearest_the_question():
    keys = ["a", "a", "a", "b", "b", "c"]

    order = deal(keys, ["a", "b", "c"])

    assert [keys[i] for i in order] == ["a", "a", "b", "a", "b", "c"]
    assert [i for i in order if keys[i] == "a"] == [0, 1, 2]  # each label keeps its own order


def test_labels_rank_from_the_teachers_favourite_and_the_seed_breaks_ties():
    assert rank_labels(["a", "b", "c"], {"a": -2, "b": 3, "c": 0}, seed=0) == ["b", "c", "a"]
    assert len({tuple(rank_labels("abcd", {}, seed)) for seed in range(8)}) > 1


def recency_biased(messages: list[dict[str, Any]]) -> dict[str, str]:
    """A model that answers right only when the demo nearest the question is negative, else "negative"."""
    last_demo = next((m["content"] for m in reversed(messages[:-1]) if m["role"] == "assistant"), "")
    if "negative" not in last_demo:
        return {"sentiment": "negative"}
    return {"sentiment": "negative" if "negative" in messages[-1]["content"] else "positive"}


def test_the_layout_that_scores_best_on_training_examples_left_out_of_the_demos_is_kept():
    trainset = [
        dx.Example(review=f"review {n} that is {label}", sentiment=label).with_inputs("review")
        for label in ("positive", "negative")
        for n in range(10)
    ]
    always_negative = dx.ScriptedLM(lambda messages: {"sentiment": "negative"})
    optimizer = dx.BootstrapFewShot(
        labeled_right,
        max_bootstrapped_demos=4,
        max_labeled_demos=12,
        teacher_settings={"lm": always_negative},
        progress=False,
    )
    with dx.context(lm=dx.ScriptedLM(recency_biased)):
        program = optimizer.compile(dx.Predict("review -> sentiment"), trainset=trainset)
        scored = dx.evaluate(program, trainset, labeled_right, progress=False)

    assert program.demos[-1].sentiment == "negative"  # though the teacher answered "negative" too often
    layouts = dx.get_events(kind="optimize.phase.start", where={"phase": "layout"}, run_id=optimizer.report.run_id)
    assert len(layouts) == 1
    assert scored.score == 1.0
    assert sorted(o.origin for o in optimizer.report.demos["self"]) == ["bootstrapped"] * 4 + ["labeled"] * 8


def test_stratify_false_is_dspys_order_the_first_passing_examples_of_the_trainset():
    grouped = reviews()
    optimizer = dx.BootstrapFewShot(
        labeled_right, max_bootstrapped_demos=4, max_labeled_demos=4, stratify=False, progress=False, concurrency=1
    )
    with dx.context(lm=weak_teacher()):
        program = optimizer.compile(dx.Predict("review -> sentiment"), trainset=grouped)

    assert [o.train_index for o in optimizer.report.demos["self"]] == [0, 1, 2, 3]
    assert {demo.sentiment for demo in program.demos} == {"positive"}


def test_stratify_false_keeps_dspys_demo_order_bootstrapped_before_labeled():
    optimizer = dx.BootstrapFewShot(
        labeled_right, max_bootstrapped_demos=4, max_labeled_demos=16, stratify=False, progress=False
    )
    with dx.context(lm=weak_teacher()):
        optimizer.compile(dx.Predict("review -> sentiment"), trainset=reviews())

    origins = [origin.origin for origin in optimizer.report.demos["self"]]
    assert origins == ["bootstrapped"] * 4 + ["labeled"] * 12


def test_free_text_answers_keep_dspys_demo_order():
    trainset = [dx.Example(review=f"review {n}", topic=f"topic {n}").with_inputs("review") for n in range(12)]
    optimizer = dx.BootstrapFewShot(lambda example, prediction, trace=None: True, max_labeled_demos=8, progress=False)
    with dx.context(lm=dx.ScriptedLM(lambda messages: {"topic": "anything"})):
        optimizer.compile(dx.Predict("review -> topic"), trainset=trainset)

    origins = [origin.origin for origin in optimizer.report.demos["self"]]
    assert origins == ["bootstrapped"] * 4 + ["labeled"] * 4
    assert not dx.get_events(
        kind="optimize.phase.start", where={"phase": "layout"}, run_id=optimizer.report.run_id
    ).shape[0]
