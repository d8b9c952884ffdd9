"""Importing the package is cheap: nothing heavy is imported and nothing is written to disk."""

import os
import subprocess
import sys

HEAVY = ("pandas", "plotly", "ipywidgets", "httpx", "aiohttp", "pydantic", "llama_cpp", "numpy", "pyarrow", "tqdm")


def run_python(code, home, cwd):
    env = {**os.environ, "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache")}
    env.pop("DSPEX_CACHE_DIR", None)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env, cwd=cwd)


def test_import_pulls_in_no_heavy_library(tmp_path):
    code = f"import sys, dspex_lab as dx; dx.Predict; dx.ChatAdapter; print([m for m in {HEAVY!r} if m in sys.modules])"
    assert run_python(code, tmp_path, tmp_path).stdout.strip() == "[]"


def test_import_and_building_a_program_write_nothing(tmp_path):
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    code = "import dspex_lab as dx; dx.Predict('question -> answer'); dx.ChainOfThought('q -> a'); dx.LM"
    run_python(code, home, work)
    assert list(home.rglob("*")) == []
    assert list(work.rglob("*")) == []
