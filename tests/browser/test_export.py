"""Figures survive an export to HTML: a panel's snapshot carries its chart as offline SVG that the exported page draws.

Widgets need their saved state and a widget manager to appear in an export;
a snapshot needs neither, nor plotly.js: every request that would leave the
machine is refused and the charts are still there.
"""

from __future__ import annotations

import functools
import http.server
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no browser at {CHROMIUM}: run tools/setup.sh --browser"),
]

CELLS = [
    "import dspex_lab as dx\n"
    "program = dx.Predict('question -> answer', lm=dx.ScriptedLM(lambda messages: {'answer': 'a'}))\n"
    "data = [dx.Example(question=f'q{i}', answer='a').with_inputs('question') for i in range(6)]\n"
    "metric = lambda example, prediction: example.answer == prediction.answer",
    "optimizer = dx.BootstrapFewShot(metric, max_bootstrapped_demos=2, max_labeled_demos=2, progress=False)\n"
    "compiled = optimizer.compile(program, trainset=data)\n"
    "result = dx.evaluate(compiled, data, metric, progress=False)",
    "dx.OptimizationPanel(optimizer).snapshot()",
    "dx.TimelineExplorer().snapshot()",
]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("export")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in CELLS])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, folder / "snapshots.ipynb")
    subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", "--execute", "snapshots.ipynb"],
        cwd=folder,
        check=True,
        capture_output=True,
    )
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.RequestHandlerClass.log_message = lambda *args: None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/snapshots.html"
    server.shutdown()


def test_the_exported_page_draws_both_charts(exported, tmp_path):
    from playwright.sync_api import sync_playwright

    refused = []

    def route(request_route):
        url = request_route.request.url
        if url.startswith(("http://127.0.0.1", "data:", "blob:")):
            return request_route.continue_()
        refused.append(url)
        return request_route.abort()

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        context.route("**/*", route)
        page = context.pages[0] if context.pages else context.new_page()
        page.goto(exported, wait_until="load")
        charts = page.evaluate(
            """() => [...document.querySelectorAll('.dspex-doc')].map(doc => ({
                bars: doc.querySelectorAll('svg.dspex-bars rect').length,
                spans: doc.querySelectorAll('svg.dspex-lanes rect').length,
                lanes: [...doc.querySelectorAll('svg.dspex-lanes text')].map(t => t.textContent),
                height: Math.min(...[...doc.querySelectorAll('svg')].map(s => s.clientHeight)),
            }))"""
        )
        context.close()

    optimization, timeline = charts
    assert optimization["bars"] >= 2  # the teacher runs by outcome
    assert timeline["spans"] >= 12  # the compile's and the evaluation's spans
    assert {"evaluate", "predict", "lm:scripted/lm"} <= set(timeline["lanes"])
    assert min(optimization["height"], timeline["height"]) > 20
    assert not [url for url in refused if "plot" in url]
