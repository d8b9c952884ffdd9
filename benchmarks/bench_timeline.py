"""How the TimelineExplorer copes with large traces: build, filter, details, and drawing in Chromium.

Run: .venv/bin/python benchmarks/bench_timeline.py [events ...] [--runs N]
(default: 10,000 and 100,000 events, 3 runs; the median of the runs is printed.)

The trace is made by real evaluations (a two-level program over a scripted LM,
8 events per example), so it has the spans, lanes and payloads a notebook
would see. For each size it prints the seconds to open the explorer (span
table and frame), to build the figure, to change a filter (figure rebuilt),
to open one span's details, the size of the figure's JSON, and, when
/usr/bin/chromium exists, the time Plotly takes to draw that figure in
headless Chromium (SVG up to 2,000 spans, counts per lane and time bin past
that), and the time the saved document's offline HTML (inline SVG, what a
reopened notebook or an HTML export shows) takes to lay out and paint.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import dspex_lab as dx
from dspex_lab.lab import render, static
from dspex_lab.lab.timeline import TimelineExplorer
from dspex_lab.trace import events
from dspex_lab.trace.store import EventStore

CHROMIUM = Path("/usr/bin/chromium")
EVENTS_PER_EXAMPLE = 8


class QA(dx.Module):
    name = "qa"

    def __init__(self, lm: dx.BaseLM) -> None:
        self.generate = dx.Predict("question -> answer", lm=lm)

    def forward(self, question: str) -> dx.Prediction:
        return self.generate(question=question)


def make_trace(n_events: int) -> EventStore:
    store = EventStore(max_events=None)
    examples = [dx.Example(question=f"q{i}", answer="a").with_inputs("question") for i in range(n_events // 16)]
    program = QA(dx.ScriptedLM(lambda messages: {"answer": "a"}))
    with events.use_store(store):
        while len(store) < n_events:
            dx.evaluate(program, examples, lambda e, p: e.answer == p.answer, concurrency=32, progress=False)
    return store


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return time.perf_counter() - start, value


def draw_in_chromium(figure_json: dict, document_html: str, workdir: Path) -> tuple[float | None, float | None]:
    """Seconds Plotly.newPlot takes for the figure, and seconds the document's HTML takes to paint, in Chromium."""
    if not CHROMIUM.exists():
        return None, None
    import plotly
    from playwright.sync_api import sync_playwright

    plotly_js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    page_html = workdir / "figure.html"
    page_html.write_text(
        "<html><body><div id='chart' style='width:1200px;height:600px'></div>"
        f"<script>{plotly_js.read_text()}</script>"
        f"<script>window.figure = {json.dumps(figure_json)};</script></body></html>"
    )
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(workdir / "profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        page = context.pages[0] if context.pages else context.new_page()
        page.goto(page_html.as_uri(), wait_until="load")
        seconds = page.evaluate(
            """async () => {
                const t0 = performance.now();
                await Plotly.newPlot('chart', figure.data, figure.layout, figure.config);
                await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
                return (performance.now() - t0) / 1000;
            }"""
        )
        painted = page.evaluate(
            """async (html) => {
                const t0 = performance.now();
                const box = document.createElement('div');
                box.innerHTML = html;
                document.body.appendChild(box);
                box.offsetHeight;
                await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
                return (performance.now() - t0) / 1000;
            }""",
            document_html,
        )
        context.close()
    return seconds, painted


def document_html(explorer: TimelineExplorer) -> str:
    return static.html(explorer.document().to_dict())


def measure(n_events: int, runs: int) -> None:
    store = make_trace(n_events)
    figures: dict[str, list[float]] = {
        "open": [], "figure": [], "filter": [], "details": [], "draw": [], "document": [], "paint": []
    }  # fmt: skip
    size = 0
    spans = 0
    for _ in range(runs):
        opened, explorer = timed(TimelineExplorer, store)
        built, figure = timed(explorer.figure)
        narrowed, _ = timed(explorer.filter, kind="lm.request")
        redrawn, _ = timed(explorer.figure)
        filtered = narrowed + redrawn
        explorer.filter(kind=None)
        span_id = int(explorer.spans.index[len(explorer.spans) // 2])
        detailed, _ = timed(explorer.details, span_id)
        output = render.figure_output(figure, "")
        spec = output["data"]["application/vnd.plotly.v1+json"]
        size = len(json.dumps(spec))
        spans = len(explorer.spans)
        documented, html = timed(document_html, explorer)
        with tempfile.TemporaryDirectory() as workdir:
            drawn, painted = draw_in_chromium(spec, html, Path(workdir))
        values = (opened, built, filtered, detailed, drawn, documented, painted)
        for name, value in zip(figures, values, strict=True):
            if value is not None:
                figures[name].append(value)
        kind = figure.data[0].type
    median = {name: statistics.median(values) for name, values in figures.items() if values}
    draw = f"{median['draw']:.2f} s" if "draw" in median else "n/a (no chromium)"
    paint = f"{median['paint']:.2f} s" if "paint" in median else "n/a"
    print(
        f"{len(store):>9,} events {spans:>8,} spans ({kind}): open {median['open']:.2f} s, "
        f"figure {median['figure']:.2f} s, filter {median['filter']:.2f} s, details {median['details']:.3f} s, "
        f"figure JSON {size / 1e6:.2f} MB, draw in Chromium {draw}; "
        f"document {median['document']:.2f} s, {len(html) / 1e6:.2f} MB HTML, painted in {paint}  (median of {runs})",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("events", nargs="*", type=int, default=[10_000, 100_000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    for n_events in args.events:
        measure(n_events, args.runs)


if __name__ == "__main__":
    main()
