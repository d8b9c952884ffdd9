"""Every tutorial in notebooks/ runs under nbval, strictly: each cell's saved output must come out again.

Each notebook runs in its own pytest process (nbval's kernel inherits its
environment) with an empty LM cache of its own, so every LM call is made
afresh and cache statistics in the outputs are the same on every run; the
embedded model decodes greedily, so its replies are too. Outputs that differ
by nature (run ids, timestamps, durations, rates, temporary paths) are
sanitized by notebooks/nbval_sanitize.cfg; widget views are not compared by
nbval (tests/lab checks the panels' widget values).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SANITIZE = ROOT / "notebooks" / "nbval_sanitize.cfg"
CELL_TIMEOUT_S = 600


def test_the_tutorials_are_there():
    assert [path.stem for path in NOTEBOOKS] == [
        "agents",
        "distributed",
        "evaluation",
        "optimization",
        "providers_and_resilience",
        "quickstart",
        "trace_explorer",
    ]


@pytest.mark.slow
@pytest.mark.local_model
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem)
def test_the_tutorial_runs_and_shows_what_it_shows(notebook, tmp_path):
    env = {**os.environ, "DSPEX_CACHE_DIR": str(tmp_path / "lm-cache")}
    command = [
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
        "--nbval", "--nbval-current-env", f"--nbval-sanitize-with={SANITIZE}",
        f"--nbval-cell-timeout={CELL_TIMEOUT_S}", str(notebook),
    ]  # fmt: skip
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)

    assert run.returncode == 0, f"nbval failed on {notebook.name}:\n{run.stdout[-6000:]}\n{run.stderr[-2000:]}"
    assert " passed" in run.stdout.splitlines()[-1]
