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

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from browser_lab import (
    ALL_RAN_JS,
    CHROMIUM,
    ROOT,
    chromium,
    errors_shown,
    open_and_run_all,
    screenshot,
    start_lab,
)
from playwright.sync_api import expect

RUN_S = 900

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.local_model,
    pytest.mark.timeout(2400),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no browser at {CHROMIUM}: run tools/setup.sh --browser"),
]

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
    with start_lab(root, state) as url:
        yield url


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as tab:
        yield tab


@pytest.fixture(autouse=True)
def report_the_page_on_failure(request: pytest.FixtureRequest, page: Any, tmp_path: Path) -> Iterator[None]:
    """On a failure, keep a screenshot of the whole page and print the browser's errors."""
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        shot = tmp_path / "failure.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"\npage at failure: {shot}\nbrowser errors: {page.errors[-20:]}")


def test_quickstart_shows_a_full_evaluation_bar_and_a_results_table(lab, page):
    open_and_run_all(page, lab, "quickstart.ipynb")
    page.wait_for_function(ALL_RAN_JS, timeout=RUN_S * 1000)

    panel = ".dspex-evaluationpanel"
    page.wait_for_selector(f"{panel} .dspex-results tbody tr", timeout=60_000)
    bar = page.locator(f"{panel} .widget-hprogress .progress-bar").first
    assert bar.evaluate("e => e.style.width") == "100%"
    assert page.locator(f"{panel} .dspex-results tbody tr").count() == 6
    expect(page.locator(panel)).to_contain_text("completed", timeout=30_000)
    assert page.locator(f"{panel} .dspex-details").text_content() == ""  # closed until an example is picked
    page.locator(f"{panel} .widget-dropdown select").last.select_option(index=1)
    expect(page.locator(f"{panel} .dspex-details")).to_contain_text("Your input fields are", timeout=30_000)
    assert errors_shown(page) == []
    assert screenshot(page, panel, "evaluation.png").stat().st_size > 10_000


def test_trace_explorer_shows_the_optimizer_the_demos_and_a_timeline_with_points(lab, page):
    open_and_run_all(page, lab, "trace_explorer.ipynb")
    page.wait_for_function(ALL_RAN_JS, timeout=RUN_S * 1000)

    timeline = ".dspex-timelineexplorer"
    page.wait_for_selector(f"{timeline} .js-plotly-plot .scatterlayer .point", state="attached", timeout=60_000)
    points = page.locator(f"{timeline} .js-plotly-plot .scatterlayer .point").count()
    assert points >= 10
    # JupyterLab's plotly renderer shows a chart drawn while its output was being replaced as its own image
    chart = ".dspex-optimizationpanel .jp-RenderedPlotly"
    page.wait_for_selector(f"{chart} .scatterlayer .point, {chart} img.plot-img", state="attached", timeout=60_000)
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
