"""The workbench in a real browser: JupyterLab on 127.0.0.1, driven in headless Chromium by Playwright.

Runs the quickstart and trace-explorer tutorials with Run All Cells, checks
what a person would see (the evaluation bar at 100%, rows in the results
table, points on the timeline), clicks Stop on a run that would otherwise
never end, and saves a screenshot of each panel to tests/artifacts/screenshots/
(or to $DSPEX_SCREENSHOTS: `DSPEX_SCREENSHOTS=docs/screenshots` refreshes the README's).
The browser is Debian's /usr/bin/chromium (`tools/setup.sh --browser`);
Playwright only drives it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from playwright.sync_api import expect

ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("DSPEX_SCREENSHOTS") or ROOT / "tests" / "artifacts" / "screenshots")
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
TOKEN = "dspex-browser-test"
CHROME_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
RUN_S = 900

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.local_model,
    pytest.mark.timeout(2400),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no browser at {CHROMIUM}: run tools/setup.sh --browser"),
]

# The notebook's document, session and kernel are all ready (the toolbar saying "idle" comes sooner).
READY_JS = """() => {
  const app = window.jupyterapp; if (!app) return false;
  const w = app.shell.currentWidget; if (!w || !w.context || !w.sessionContext) return false;
  const k = w.sessionContext.session && w.sessionContext.session.kernel;
  return w.context.isReady && w.sessionContext.isReady && !!k && k.status === 'idle'
    && k.connectionStatus === 'connected';
}"""
STARTED_JS = """() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
  .some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))"""
ALL_RAN_JS = """() => {
  const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')];
  return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
}"""

STOP_NOTEBOOK = [
    "%load_ext dspex_lab\nimport asyncio\nimport dspex_lab as dx",
    "class Held(dx.Module):\n"
    "    def __init__(self):\n"
    "        self.predict = dx.Predict('question -> answer', lm=dx.ScriptedLM(lambda messages: {'answer': 'a'}))\n"
    "\n"
    "    async def aforward(self, question):\n"
    "        if int(question[1:]) >= 3:\n"
    "            await asyncio.Event().wait()  # held until the run is stopped\n"
    "        return await self.predict.acall(question=question)\n"
    "\n"
    "dev = [dx.Example(question=f'q{i}', answer='a').with_inputs('question') for i in range(10)]",
    "result = dx.evaluate(Held(), dev, lambda example, prediction: True, concurrency=1)\n"
    "print('result', result.status, result.finished)",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """JupyterLab serving a copy of the tutorials (and a notebook that never ends unless stopped)."""
    root = tmp_path_factory.mktemp("notebooks")
    state = tmp_path_factory.mktemp("lab-state")
    for name in ("quickstart.ipynb", "trace_explorer.ipynb"):
        shutil.copy(ROOT / "notebooks" / name, root / name)
    stop = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in STOP_NOTEBOOK])
    stop.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(stop, root / "stop.ipynb")
    settings = {
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
            "fetchNews": "false",
            "checkForUpdates": False,
        },
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    }
    for relative, values in settings.items():
        path = state / "settings" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(state / "config"),
        "JUPYTER_RUNTIME_DIR": str(state / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(state / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(state / "workspaces"),
        "DSPEX_CACHE_DIR": str(state / "lm-cache"),
    }
    port = free_port()
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}",
        "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly", "--LabApp.expose_app_in_browser=True",
        "--JupyterNotebookApp.expose_app_in_browser=True",
    ]  # fmt: skip
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = (state / "lab.log").open("w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(url, server, state / "lab.log")
        yield url
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def wait_for_server(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"JupyterLab exited:\n{log.read_text()}")
        try:
            urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
            return
        except OSError:
            time.sleep(0.25)  # polling a server that is starting; nothing to wait on instead
    raise RuntimeError(f"JupyterLab did not answer within 120 s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROME_ARGS,
            viewport={"width": 1400, "height": 2400},
        )
        # Nothing may leave the machine: anything not on loopback is refused at once.
        context.route(
            "**/*",
            lambda route: (
                route.continue_()
                if route.request.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:"))
                else route.abort()
            ),
        )
        tab = context.pages[0] if context.pages else context.new_page()
        tab.errors = []
        tab.on("pageerror", lambda error: tab.errors.append(str(error)))
        tab.on("console", lambda message: message.type == "error" and tab.errors.append(message.text))
        yield tab
        context.close()


@pytest.fixture(autouse=True)
def report_the_page_on_failure(request: pytest.FixtureRequest, page: Any, tmp_path: Path) -> Iterator[None]:
    """On a failure, keep a screenshot of the whole page and print the browser's errors."""
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        shot = tmp_path / "failure.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"\npage at failure: {shot}\nbrowser errors: {page.errors[-20:]}")


def open_and_run_all(page: Any, lab: str, name: str, frontend: str = "lab") -> None:
    """Open notebook `name` in JupyterLab ("lab") or Notebook 7 ("notebooks") and Run All Cells from the Run menu."""
    path = f"lab/tree/{name}?token={TOKEN}&reset" if frontend == "lab" else f"notebooks/{name}?token={TOKEN}"
    page.goto(f"{lab}/{path}", wait_until="domcontentloaded")
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", timeout=120_000)
    page.wait_for_function(READY_JS, timeout=120_000)
    for _ in range(3):
        page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text="Run").first.click()
        item = page.locator(".lm-Menu-item:not(.lm-mod-disabled) .lm-Menu-itemLabel")
        item.get_by_text("Run All Cells", exact=True).first.click(timeout=10_000)
        try:
            page.wait_for_function(STARTED_JS, timeout=15_000)
            return
        except Exception:  # the first click can land before the menu is wired; try again
            page.keyboard.press("Escape")
    raise AssertionError(f"Run All Cells never started {name}")


def screenshot(page: Any, selector: str, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    target = SHOTS / name
    panel = page.locator(selector).first
    panel.scroll_into_view_if_needed()
    panel.screenshot(path=str(target))
    return target


def errors_shown(page: Any) -> list[str]:
    return page.evaluate(
        """() => [...document.querySelectorAll(
              '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
            .map(e => e.textContent).filter(t => /Traceback|Error/.test(t))"""
    )


def test_quickstart_shows_a_full_evaluation_bar_and_a_results_table(lab, page):
    open_and_run_all(page, lab, "quickstart.ipynb")
    page.wait_for_function(ALL_RAN_JS, timeout=RUN_S * 1000)

    panel = ".dspex-evaluationpanel"
    page.wait_for_selector(f"{panel} .dspex-results tbody tr", timeout=60_000)
    bar = page.locator(f"{panel} .widget-hprogress .progress-bar").first
    assert bar.evaluate("e => e.style.width") == "100%"
    assert page.locator(f"{panel} .dspex-results tbody tr").count() == 6
    expect(page.locator(panel)).to_contain_text("completed", timeout=30_000)
    assert "Your input fields are" in page.locator(f"{panel} .dspex-details").text_content()  # the first one's prompt
    assert errors_shown(page) == []
    assert screenshot(page, panel, "evaluation.png").stat().st_size > 10_000


def test_trace_explorer_shows_the_optimizer_the_demos_and_a_timeline_with_points(lab, page):
    open_and_run_all(page, lab, "trace_explorer.ipynb")
    page.wait_for_function(ALL_RAN_JS, timeout=RUN_S * 1000)

    timeline = ".dspex-timelineexplorer"
    page.wait_for_selector(f"{timeline} .js-plotly-plot .scatterlayer .point", state="attached", timeout=60_000)
    points = page.locator(f"{timeline} .js-plotly-plot .scatterlayer .point").count()
    assert points >= 10
    page.wait_for_selector(
        ".dspex-optimizationpanel .js-plotly-plot .scatterlayer .point", state="attached", timeout=60_000
    )
    expect(page.locator(".dspex-optimizationpanel")).to_contain_text("completed", timeout=30_000)
    demos = page.locator(".dspex-demoinspector").first.inner_text()
    assert "bootstrapped, train #" in demos
    picker = page.locator(f"{timeline} select").last
    first_call = next(text for text in picker.locator("option").all_text_contents() if "lm.request" in text)
    picker.select_option(label=first_call)
    expect(page.locator(timeline)).to_contain_text("prompt_tokens", timeout=30_000)  # the details pane
    assert errors_shown(page) == []
    for selector, name in (
        (".dspex-optimizationpanel", "optimization.png"),
        (".dspex-demoinspector", "demos.png"),
        (timeline, "timeline.png"),
    ):
        assert screenshot(page, selector, name).stat().st_size > 10_000


@pytest.mark.parametrize("frontend", ["lab", "notebooks"], ids=["JupyterLab", "Notebook 7"])
def test_the_stop_button_stops_a_run_while_its_cell_is_running(lab, page, frontend):
    open_and_run_all(page, lab, "stop.ipynb", frontend)
    panel = page.locator(".dspex-evaluationpanel").first
    panel.locator(".widget-hprogress", has_text="3/10").wait_for(timeout=120_000)
    assert page.locator(".jp-CodeCell .jp-InputPrompt", has_text="[*]").count() == 1  # the cell is still running

    panel.get_by_role("button", name="Stop").click()

    page.wait_for_function(ALL_RAN_JS, timeout=120_000)
    output = page.locator(".jp-OutputArea-output", has_text="result ").last.inner_text()
    assert "result cancelled 3" in output
    expect(panel).to_contain_text("stopped with the Stop button", timeout=30_000)
    expect(panel.get_by_role("button", name="Stop")).to_have_count(0)
