"""The SQLite file that keeps finished examples of a run for resuming."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import dspex_lab as dx
from dspex_lab.evaluation.runstore import (
    DB_NAME,
    RunLockedError,
    RunMismatchError,
    RunStore,
    RunStoreError,
    default_path,
    example_hash,
)

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


# -- damage -------------------------------------------------------------------------------------------


def test_a_file_that_is_not_a_database_is_named_with_what_to_do(tmp_path):
    path = tmp_path / "runs.sqlite3"
    path.write_bytes(b"this is not a database at all, just bytes " * 100)
    with (
        RunStore(path) as store,
        pytest.raises(RunStoreError, match=r"the run store .*runs\.sqlite3 cannot be read") as info,
    ):
        store.begin("r1", HASHES, ["em"])
    assert "Move the file aside to start afresh" in str(info.value)
    assert "db_path=" in str(info.value)


def test_a_damaged_row_is_named_by_run_and_example(tmp_path):
    path = tmp_path / "db"
    with RunStore(path) as store:
        store.begin("r1", HASHES, ["em"])
        save(store, "r1", 2)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE examples SET scores = '{not json' WHERE idx = 2")
    with (
        RunStore(path) as store,
        pytest.raises(RunStoreError, match=r"run 'r1', example 2 cannot be read .*column scores is not JSON"),
    ):
        store.begin("r1", HASHES, ["em"])


def test_a_key_in_an_error_never_reaches_the_file(tmp_path):
    path = tmp_path / "db"
    with RunStore(path) as store:
        store.begin("r1", HASHES, ["em"])
        save(store, "r1", 0, score=0.0, error='LMError: proxy echoed {"authorization": "Bearer sk-ab12cd"}')
        assert "sk-ab12cd" not in store.rows("r1")[0]["error"]
    assert b"sk-ab12cd" not in b"".join(p.read_bytes() for p in tmp_path.iterdir())


# -- one live process per run ---------------------------------------------------------------------------

HOLDER = """
import sys
from dspex_lab.evaluation.runstore import RunStore
store = RunStore(sys.argv[1])
store.begin("shared", [], ["em"])
print("holding", flush=True)
sys.stdin.readline()
store.close()
"""


def test_a_run_id_in_use_by_another_live_process_is_refused_then_free_once_it_ends(tmp_path):
    path = tmp_path / "db"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        with (
            RunStore(path) as store,
            pytest.raises(RunLockedError, match=rf"run 'shared' .* is being evaluated by process {holder.pid}"),
        ):
            store.begin("shared", [], ["em"])
        with RunStore(path) as store:
            store.begin("other", [], ["em"])  # other run ids are free
    finally:
        holder.communicate("\n", timeout=30)
    with RunStore(path) as store:
        assert store.begin("shared", [], ["em"]) == []


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path):
    path = tmp_path / "db"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "holding"
    holder.kill()
    holder.communicate(timeout=30)
    with RunStore(path) as store:
        assert store.begin("shared", [], ["em"]) == []


def test_two_evaluations_of_one_run_id_at_once_in_one_process_are_refused(tmp_path):
    path = tmp_path / "db"
    with RunStore(path) as first:
        first.begin("r1", HASHES, ["em"])
        with RunStore(path) as second, pytest.raises(RunLockedError, match="being evaluated by this process"):
            second.begin("r1", HASHES, ["em"])
    with RunStore(path) as again:
        again.begin("r1", HASHES, ["em"])
