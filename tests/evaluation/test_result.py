"""What an evaluation hands back: scores, the table, exports and reprs."""

from __future__ import annotations

import io
import json

import pandas as pd

import dspex_lab as dx
from dspex_lab.evaluation.result import EvaluationResult, ExampleResult


def example(i: int) -> dx.Example:
    return dx.Example(question=f"q{i}", answer=str(i)).with_inputs("question")


def make_result(status: str = "completed", reason: str | None = None) -> EvaluationResult:
    records = [
        ExampleResult(
            2,
            example(2),
            dx.Prediction(answer="2"),
            {"em": 1.0, "f1": 0.5},
            {"f1": "half the tokens"},
            latency_ms=30.0,
            usage=dx.Usage(prompt_tokens=10, completion_tokens=2, calls=1, cache_hits=1),
        ),
        ExampleResult(
            0,
            example(0),
            dx.Prediction(answer="zero"),
            {"em": 0.0, "f1": 0.25},
            latency_ms=20.0,
            usage=dx.Usage(prompt_tokens=10, completion_tokens=3, calls=1),
        ),
        ExampleResult(
            1,
            example(1),
            scores={"em": 0.0, "f1": 0.0},
            error="AdapterParseError: no <answer> & no luck",
            traceback="Traceback ...",
            latency_ms=40.0,
            usage=dx.Usage(prompt_tokens=10, completion_tokens=7, calls=2),
        ),
    ]
    return EvaluationResult(
        run_id="run-1",
        total=4,
        metrics=["em", "f1"],
        results=records,
        status=status,
        reason=reason,
        duration_s=0.5,
    )


def test_scores_are_means_over_finished_examples_with_failures_counted():
    result = make_result()

    assert result.score == 1 / 3
    assert result.scores == {"em": 1 / 3, "f1": 0.75 / 3}
    assert float(result) == result.score
    assert [record.index for record in result.results] == [0, 1, 2]
    assert [record.index for record in result.errors] == [1]
    assert (result.finished, result.total, result.cancelled) == (3, 4, False)


def test_usage_adds_up_every_example_including_failed_ones():
    usage = make_result().usage

    assert (usage.prompt_tokens, usage.completion_tokens, usage.calls, usage.cache_hits) == (30, 12, 4, 1)


def test_records_unpack_like_dspy_result_tuples():
    first = make_result().results[0]
    ex, prediction, score = first

    assert (ex, prediction.answer, score) == (example(0), "zero", 0.0)


def test_the_table_has_inputs_expected_predicted_scores_errors_and_costs():
    table = make_result().table

    assert list(table.index) == [0, 1, 2]
    assert list(table.columns) == [
        "question",
        "expected_answer",
        "predicted_answer",
        "score",
        "score_f1",
        "feedback",
        "error",
        "latency_ms",
        "tokens",
        "cache_hit",
    ]
    row = table.loc[2]
    assert (row["question"], row["expected_answer"], row["predicted_answer"]) == ("q2", "2", "2")
    assert (row["score"], row["score_f1"], row["feedback"]) == (1.0, 0.5, "half the tokens")
    assert (row["tokens"], bool(row["cache_hit"])) == (12, True)
    assert table.loc[1, "error"].startswith("AdapterParseError")
    assert pd.isna(table.loc[1, "predicted_answer"])


def test_an_empty_result_still_has_a_table_and_a_zero_score():
    result = EvaluationResult(run_id="r", total=5, metrics=["em"], results=[], status="cancelled")

    assert result.score == 0.0
    assert result.table.empty
    assert "score" in result.table.columns
    assert "0 of 5 finished" in repr(result)


def test_csv_and_json_exports_round_trip(tmp_path):
    result = make_result()

    frame = pd.read_csv(io.StringIO(result.to_csv()), index_col="index")
    assert list(frame["score"]) == [0.0, 0.0, 1.0]
    result.to_csv(tmp_path / "r.csv")
    assert (tmp_path / "r.csv").read_text() == result.to_csv()

    data = json.loads(result.to_json(tmp_path / "r.json"))
    assert data == json.loads((tmp_path / "r.json").read_text())
    assert (data["run_id"], data["score"], data["finished"], data["errors"]) == ("run-1", 1 / 3, 3, 1)
    assert data["examples"][2]["inputs"] == {"question": "q2"}
    assert data["examples"][2]["expected"] == {"answer": "2"}
    assert data["examples"][2]["predicted"] == {"answer": "2"}
    assert data["examples"][1]["traceback"] == "Traceback ..."


def test_the_text_repr_shows_score_progress_usage_and_first_errors():
    text = repr(make_result("cancelled", "interrupted: KeyboardInterrupt"))

    assert text.splitlines()[0] == "EvaluationResult  run='run-1'  status=cancelled"
    assert "em        0.3333  (score: mean over finished examples)" in text
    assert "f1        0.2500" in text
    assert "3 of 4 finished, 1 error" in text
    assert "4 LM calls, 42 tokens, 1 cache hits" in text
    assert "6.0 examples/s" in text
    assert "reason    interrupted: KeyboardInterrupt" in text
    assert "#1  AdapterParseError: no <answer> & no luck" in text


def test_the_html_repr_escapes_what_it_shows():
    page = make_result()._repr_html_()

    assert "<table>" in page
    assert "no &lt;answer&gt; &amp; no luck" in page
    assert "no <answer>" not in page
