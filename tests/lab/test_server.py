"""The server extension's answers (the routes' bodies; tests/browser checks them over HTTP behind the token)."""

from __future__ import annotations

import pytest

import dspex_lab as dx
from dspex_lab.lab import server


@pytest.fixture
def served(oracle, devset, metric, tmp_path):
    root = tmp_path / "root"
    (root / "traces").mkdir(parents=True)
    store = tmp_path / "runs.sqlite3"
    for name, wrong in (("a", {"q1"}), ("b", set())):
        dx.evaluate(dx.Predict("question -> answer", lm=oracle(wrong=wrong)), devset(4), metric,
                    run_id=name, db_path=store, progress=False)  # fmt: skip
    dx.trace.save(root / "traces" / "run.parquet")
    (root / "notes.parquet").write_bytes(b"PAR1 not a trace")
    (root / "saved.dspex.json").write_text("{}")
    return root, str(store)


def test_the_listing_has_runs_traces_and_documents(served):
    root, store = served

    found = server.listing(root, store, {})

    assert [run["run_id"] for run in found["runs"]] == ["b", "a"]  # newest first
    assert found["traces"] == ["traces/run.parquet"]
    assert found["documents"] == ["saved.dspex.json"]


def test_a_run_a_trace_and_a_comparison_come_back_as_documents(served):
    root, store = served

    run = server.document(root, store, {"run": "a"})
    trace = server.document(root, store, {"trace": "traces/run.parquet"})
    both = server.comparison(root, store, {"a": "a", "b": "b"})

    assert run["panel"] == "evaluation"
    assert len(next(s for s in run["sections"] if s["kind"] == "table")["rows"]) == 4
    assert trace["panel"] == "timeline"
    assert both["data"]["gained"] == 1


def test_paths_may_not_leave_the_root(served):
    root, store = served

    with pytest.raises(PermissionError, match="outside the server's root"):
        server.document(root, store, {"trace": "../runs.sqlite3"})
    with pytest.raises(ValueError, match=r"\?run=RUN_ID or \?trace=PATH"):
        server.document(root, store, {})
