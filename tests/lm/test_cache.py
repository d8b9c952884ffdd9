"""The response cache: canonical keys, memory LRU over SQLite, shared by threads and processes."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

import dspex_lab as dx
from dspex_lab.lm.cache import FILENAME, Entry, ResponseCache, cache_dir, request_key

MESSAGES = [{"role": "user", "content": "What is 2+2?"}]
ENTRY = Entry("4", "openai/m", "stop", 7, 1, 0.0001)


def test_key_ignores_dict_order_but_not_content():
    key = request_key("openai/m", MESSAGES, {"temperature": 0, "response_format": {"a": 1, "b": 2}}, None)
    reordered = request_key(
        "openai/m",
        [{"content": "What is 2+2?", "role": "user"}],
        {"response_format": {"b": 2, "a": 1}, "temperature": 0},
        None,
    )
    assert key == reordered
    assert len(key) == 64
    assert key != request_key("openai/other", MESSAGES, {"temperature": 0}, None)
    assert key != request_key("openai/m", MESSAGES, {"temperature": 1}, None)
    assert request_key("openai/m", MESSAGES, {}, None) != request_key("openai/m", MESSAGES, {}, "rollout-1")


def test_key_is_the_same_in_another_process():
    here = request_key("openai/m", MESSAGES, {"temperature": 0.5, "stop": ["\n"]}, 3)
    script = (
        "from dspex_lab.lm.cache import request_key;"
        "print(request_key('openai/m', [{'role': 'user', 'content': 'What is 2+2?'}], "
        "{'stop': ['\\n'], 'temperature': 0.5}, 3))"
    )
    there = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.strip()
    assert here == there


def test_unusual_values_in_messages_still_get_a_key():
    class Note:
        def __repr__(self) -> str:
            return "Note()"

    assert len(request_key("m", [{"role": "user", "content": Note()}], {}, None)) == 64


def test_a_lookup_never_creates_the_file_and_the_first_write_does(tmp_path):
    cache = ResponseCache(tmp_path / "c")
    assert cache.get("k") is None
    assert not (tmp_path / "c").exists()
    cache.put("k", ENTRY)
    assert (tmp_path / "c" / FILENAME).exists()
    with sqlite3.connect(tmp_path / "c" / FILENAME) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_memory_first_then_disk_for_a_fresh_process_view(tmp_path):
    ResponseCache(tmp_path).put("k", ENTRY)
    fresh = ResponseCache(tmp_path)
    assert fresh.get("k") == (ENTRY, "disk")
    assert fresh.get("k") == (ENTRY, "memory")


def test_memory_keeps_the_most_recently_used(tmp_path):
    cache = ResponseCache(tmp_path, memory_size=2)
    for key in ("a", "b"):
        cache.put(key, ENTRY)
    cache.get("a")
    cache.put("c", ENTRY)
    assert cache.get("a")[1] == "memory"
    assert cache.get("b")[1] == "disk"


def test_clear_forgets_everything(tmp_path):
    cache = ResponseCache(tmp_path)
    cache.put("k", ENTRY)
    cache.clear()
    assert cache.get("k") is None
    assert len(cache) == 0


def test_threads_write_side_by_side_without_losing_entries(tmp_path):
    cache = ResponseCache(tmp_path)

    def write(worker: int) -> None:
        for i in range(50):
            cache.put(f"{worker}-{i}", ENTRY)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ResponseCache(tmp_path)) == 400


def test_processes_share_one_file(tmp_path):
    script = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from dspex_lab.lm.cache import Entry, ResponseCache
        cache = ResponseCache(Path(sys.argv[1]))
        for i in range(200):
            cache.put(f"{sys.argv[2]}-{i}", Entry("t", "m", "stop", 1, 1, None))
        """
    )
    writers = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path), name]) for name in ("a", "b", "c")]
    assert [writer.wait(timeout=120) for writer in writers] == [0, 0, 0]
    cache = ResponseCache(tmp_path)
    assert len(cache) == 600
    assert cache.get("b-199")[0].text == "t"


def test_an_unusable_directory_warns_once_and_keeps_caching_in_memory(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the directory should be")
    cache = ResponseCache(blocker / "cache")
    with pytest.warns(RuntimeWarning, match="cannot be used.*cache_dir"):
        cache.put("k", ENTRY)
    assert cache.get("k") == (ENTRY, "memory")


def test_cache_dir_comes_from_settings_then_environment_then_home(tmp_path, monkeypatch):
    monkeypatch.setenv("DSPEX_CACHE_DIR", str(tmp_path / "from-env"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with dx.context(cache_dir=str(tmp_path / "configured")):
        assert cache_dir() == tmp_path / "configured"
    with dx.context(cache_dir=None):
        assert cache_dir() == tmp_path / "from-env"
        monkeypatch.delenv("DSPEX_CACHE_DIR")
        assert cache_dir() == Path(os.environ["HOME"]) / ".cache" / "dspex_lab"


def test_a_damaged_row_is_a_miss_with_a_warning_naming_the_file(tmp_path):
    import sqlite3

    from dspex_lab.lm.cache import Entry, ResponseCache

    cache = ResponseCache(tmp_path)
    cache.put("k" * 64, Entry("text", "m", "stop", 1, 2, None))
    with sqlite3.connect(cache.path) as conn:
        conn.execute("UPDATE responses SET prompt_tokens = 'many'")
    fresh = ResponseCache(tmp_path)
    with pytest.warns(RuntimeWarning, match=r"the LM cache at .*lm_cache\.sqlite3 has a damaged row for key kkkk"):
        assert fresh.get("k" * 64) is None
