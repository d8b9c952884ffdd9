"""dx.compare: two runs example by example, from results, run ids or saved files."""

from __future__ import annotations

import pytest

import dspex_lab as dx
import dspex_lab.lab.compare as compare_module
from dspex_lab.evaluation.runstore import RunStore
from dspex_lab.lab.runs import open_run


@pytest.fixture
def two_runs(oracle, devset, metric, tmp_path):
    """A (wrong on q1, q2) and B (wrong on q3), both kept in a run store under tmp_path."""
    store = tmp_path / "runs.sqlite3"
    examples = devset(6)
    a = dx.evaluate(dx.Predict("question -> answer", lm=oracle(wrong={"q1", "q2"})), examples, metric,
                    run_id="before", db_path=store, progress=False)  # fmt: skip
    b = dx.evaluate(dx.Predict("question -> answer", lm=oracle(wrong={"q3"})), examples, metric,
                    run_id="after", db_path=store, progress=False)  # fmt: skip
    return a, b, store


def test_flipped_examples_come_first_with_score_token_and_latency_columns(two_runs):
    a, b, _ = two_runs

    frame = dx.compare(a, b)

    assert frame.index.tolist()[:3] == [3, 1, 2]  # lost first, then gained
    assert frame["flip"].tolist()[:3] == ["lost", "gained", "gained"]
    assert frame.loc[1, "expected"] == {"answer": "a1"}
    assert frame.loc[1, "predicted_a"] == {"answer": "wrong"}
    assert frame.loc[1, "delta"] == 1.0
    assert set(frame.columns) >= {"tokens_a", "tokens_b", "cost_a", "cost_b", "latency_ms_a", "latency_ms_b"}
    panel = compare_module.ComparePanel(open_run(a), open_run(b))
    assert panel.frame.equals(frame)
    stats = dict(panel.document().to_dict()["sections"][0]["items"])
    assert stats["score"] == f"{a.score:.3f} → {b.score:.3f} (+{b.score - a.score:.3f})"
    assert (stats["lost"], stats["gained"]) == (1, 2)


def test_runs_compare_by_run_id_and_from_saved_files_alike(two_runs, tmp_path):
    a, b, store = two_runs
    a.to_json(tmp_path / "before.json")

    by_id = dx.compare("before", "after", store_path=str(store))
    from_file = dx.compare(tmp_path / "before.json", b)

    assert by_id["flip"].tolist() == from_file["flip"].tolist()
    assert by_id.index.tolist() == from_file.index.tolist()
    with pytest.raises(KeyError, match="no run 'nope' in the run store"):
        open_run("nope", store_path=store)
    with pytest.raises(TypeError, match="a run is an EvaluationResult"):
        open_run(42)


def test_the_run_store_lists_its_runs_with_scores(two_runs):
    a, _, store = two_runs

    runs = {run["run_id"]: run for run in RunStore(store).runs()}

    assert runs["before"]["score"] == pytest.approx(a.score)
    assert runs["after"]["finished"] == 6
    assert runs["after"]["metrics"] == ["exact_match"]


def test_the_prompt_diff_shows_instructions_and_demos(qa, oracle, devset, metric):
    student = qa(oracle())
    optimizer = dx.LabeledFewShot(k=2)
    compiled = optimizer.compile(student, trainset=devset(3))

    diff = compare_module.prompt_diff(student, compiled)

    assert list(diff) == ["generate"]
    assert "+demo 1: question=q" in diff["generate"]
    with pytest.raises(TypeError, match="must be programs"):
        compare_module.prompt_diff(student, "not a program")
