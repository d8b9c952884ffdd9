"""The SQLite file that keeps finished examples of a run for resuming."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import dspex_lab as dx
from dspex_lab.evaluation.runstore import DB_NAME, RunMismatchError, RunStore, default_path, example_hash

DEVSET = [dx.Example(question=f"q{i}", answer=str(i)).with_inputs("question") for i in range(4)]
HASHES = [example_hash(example) for example in DEVSET]


def save(store: RunStore, run_id: str, index: int, score: float = 1.0, error: str | None = None) -> None:
    store.save(
        run_id,
        index,
        HASHES[index],
        scores={"em": score},
        feedback=None,
        prediction={"answer": str(index)},
        error=error,
        traceback=None,
        latency_ms=12.5,
        usage={"prompt_tokens": 3, "completion_tokens": 1, "calls": 1},
    )


def test_a_new_run_starts_empty_in_a_wal_database(tmp_path):
    path = tmp_path / "runs" / "db.sqlite3"
    with RunStore(path) as store:
        assert store.begin("r1", HASHES, ["em"]) == []

    assert path.exists()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_finished_examples_come_back_when_the_run_is_begun_again(tmp_path):
    with RunStore(tmp_path / "db") as store:
        store.begin("r1", HASHES, ["em"])
        save(store, "r1", 2)
        save(store, "r1", 0, score=0.0)

    with RunStore(tmp_path / "db") as store:
        rows = store.begin("r1", HASHES, ["em"])

    assert [row["idx"] for row in rows] == [0, 2]
    assert rows[1]["scores"] == {"em": 1.0}
    assert rows[1]["prediction"] == {"answer": "2"}
    assert rows[1]["usage"]["prompt_tokens"] == 3
    assert rows[1]["latency_ms"] == 12.5


def test_a_second_attempt_at_an_example_replaces_the_first(tmp_path):
    with RunStore(tmp_path / "db") as store:
        store.begin("r1", HASHES, ["em"])
        save(store, "r1", 1, score=0.0, error="LMError: 503")
        save(store, "r1", 1, score=1.0)
        rows = store.rows("r1")

    assert [(row["idx"], row["error"], row["scores"]) for row in rows] == [(1, None, {"em": 1.0})]


def test_runs_are_kept_apart(tmp_path):
    with RunStore(tmp_path / "db") as store:
        store.begin("a", HASHES, ["em"])
        store.begin("b", HASHES, ["em"])
        save(store, "a", 0)
        assert store.rows("b") == []


def test_resuming_with_a_changed_example_names_it(tmp_path):
    with RunStore(tmp_path / "db") as store:
        store.begin("r1", HASHES, ["em"])
        save(store, "r1", 1)
        save(store, "r1", 3)
        changed = list(HASHES)
        changed[3] = example_hash(DEVSET[3].copy(answer="three"))

        with pytest.raises(RunMismatchError, match=r"different devset.*changed examples \(by index\): 3\."):
            store.begin("r1", changed, ["em"])


def test_resuming_with_a_devset_of_another_size_is_refused(tmp_path):
    with RunStore(tmp_path / "db") as store:
        store.begin("r1", HASHES, ["em"])
        with pytest.raises(RunMismatchError, match="it had 4 examples, this devset has 3"):
            store.begin("r1", HASHES[:3], ["em"])


def test_resuming_with_other_metrics_is_refused(tmp_path):
    with RunStore(tmp_path / "db") as store:
        store.begin("r1", HASHES, ["em"])
        with pytest.raises(RunMismatchError, match=r"scored with metrics \['em'\], and this call uses \['f1'\]"):
            store.begin("r1", HASHES, ["f1"])


def test_the_hash_covers_the_fields_and_which_are_inputs():
    example = DEVSET[0]
    assert example_hash(example) == example_hash(dx.Example(question="q0", answer="0").with_inputs("question"))
    assert example_hash(example) != example_hash(example.copy(answer="1"))
    assert example_hash(example) != example_hash(example.with_inputs("question", "answer"))


def test_the_hash_is_the_same_in_another_process():
    code = (
        "import dspex_lab as dx; from dspex_lab.evaluation.runstore import example_hash; "
        "print(example_hash(dx.Example(question='q0', answer='0').with_inputs('question')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()

    assert out == HASHES[0]


def test_the_default_file_lives_in_the_cache_dir_setting_then_the_environment(tmp_path, monkeypatch):
    with dx.context(cache_dir=str(tmp_path / "from-setting")):
        assert default_path() == tmp_path / "from-setting" / DB_NAME
    monkeypatch.setenv("DSPEX_CACHE_DIR", str(tmp_path / "from-env"))
    with dx.context(cache_dir=None):
        assert default_path() == tmp_path / "from-env" / DB_NAME
    monkeypatch.delenv("DSPEX_CACHE_DIR")
    with dx.context(cache_dir=None):
        assert default_path() == Path.home() / ".cache" / "dspex_lab" / DB_NAME
