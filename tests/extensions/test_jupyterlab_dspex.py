"""The JupyterLab extension's own tests (jest, in extensions/jupyterlab-dspex/test) and its build.

The set-up (tools/setup.sh) installs the extension's npm packages and builds
it into dspex_lab/labextension; these tests run the renderers' unit tests
with jest and check the build is the one JupyterLab loads.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXTENSION = ROOT / "extensions" / "jupyterlab-dspex"
BUILT = ROOT / "dspex_lab" / "labextension"
JLPM = Path(sys.executable).parent / "jlpm"

pytestmark = pytest.mark.skipif(
    not (EXTENSION / "node_modules").exists() or shutil.which("node") is None,
    reason="the extension's npm packages are not installed: run tools/setup.sh",
)


@pytest.mark.slow
def test_the_renderers_pass_their_jest_tests():
    env = {**os.environ, "PATH": f"{JLPM.parent}{os.pathsep}{os.environ['PATH']}", "CI": "1"}
    run = subprocess.run([str(JLPM), "jest", "--ci"], cwd=EXTENSION, env=env, capture_output=True, text=True)

    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    [summary] = [line for line in run.stderr.splitlines() if line.startswith("Tests:")]
    assert "passed" in summary
    assert "failed" not in summary


def test_the_build_is_the_extension_jupyterlab_loads():
    built = json.loads((BUILT / "package.json").read_text())
    source = json.loads((EXTENSION / "package.json").read_text())

    assert built["name"] == source["name"] == "jupyterlab-dspex"
    assert built["jupyterlab"]["_build"]["load"].startswith("static/remoteEntry.")
    assert (BUILT / built["jupyterlab"]["_build"]["load"]).exists()
    linked = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "jupyterlab-dspex"
    assert linked.resolve() == BUILT.resolve()
