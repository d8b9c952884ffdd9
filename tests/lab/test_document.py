"""Panel documents: what a saved notebook keeps of each panel, as JSON and as offline HTML."""

from __future__ import annotations

import json
import re

import pytest

import dspex_lab as dx
from dspex_lab.lab import document, static
from dspex_lab.lab.demos import DemoInspector
from dspex_lab.lab.evaluation import EvaluationPanel
from dspex_lab.lab.optimization import OptimizationPanel
from dspex_lab.lab.timeline import TimelineExplorer
from dspex_lab.trace import events


def evaluated(program, examples, metric, **options):
    panel = EvaluationPanel(interval=0)
    result = dx.evaluate(program, examples, metric, progress=panel, **options)
    return panel, result


def offline(html: str) -> None:
    """No script, no remote resource: the HTML draws the same with the network cut."""
    assert "<script" not in html
    assert not re.search(r"(src|href)=['\"]?https?:", html)
    assert "cdn" not in html.lower()


def test_an_evaluation_document_has_the_score_line_every_example_and_a_chart(oracle, devset, metric):
    program = dx.Predict("question -> answer", lm=oracle(wrong={"q1"}, garbled={"q2"}))
    panel, result = evaluated(program, devset(6), metric)

    bundle = panel.document().bundle()
    saved = bundle["application/vnd.dspex.evaluation+json"]

    assert saved["format"] == "dspex_lab.panel"
    assert json.loads(json.dumps(saved)) == saved  # plain JSON
    stats = dict(saved["sections"][0]["items"])
    assert stats["score"] == f"{result.score:.3f}"
    assert (stats["passed ✓"], stats["failed ✗"], stats["errors"]) == (4, 1, 1)
    table = next(s for s in saved["sections"] if s["kind"] == "table")
    assert len(table["rows"]) == 6
    assert table["marks"][:3] == ["error", "fail", "pass"]
    assert "✓ = score ≥ 0.5" in table["note"]
    assert table["rows"][1][3:5] == ["answer=a1", "answer=wrong"]  # expected, predicted
    traceback = next(s for s in saved["sections"] if s["kind"] == "details")
    assert "AdapterParseError" in traceback["sections"][0]["body"]
    html = bundle["text/html"]
    offline(html)
    assert f"score <b>{result.score:.3f}</b>" in html
    assert html.count("<tr") == 7
    assert "<svg class='dspex-bars'" in html


def test_the_result_adds_every_metric_feedback_labels_and_the_full_traceback(devset):
    def exact(example, prediction):
        if example.question == "q2":
            raise ZeroDivisionError("metric blew up")
        right = prediction.answer == example.answer
        return float(right), "same answer" if right else f"expected {example.answer}"

    metrics = {"exact": exact, "short": lambda example, prediction: len(prediction.answer) < 3}
    program = dx.Predict("question -> answer", lm=dx.ScriptedLM(lambda messages: {"answer": "a1"}))
    panel, _ = evaluated(program, devset(3), metrics)

    rows = {row.index: row for row in panel.rows()}
    assert rows[0].expected == {"answer": "a0"}
    assert rows[0].scores == {"exact": 0.0, "short": 1.0}
    assert rows[0].feedback == {"exact": "expected a0"}
    assert rows[0].outcome(panel.threshold) == "fail"
    assert rows[2].outcome(panel.threshold) == "error"
    assert "Traceback" in rows[2].traceback
    assert "ZeroDivisionError: metric blew up" in rows[2].traceback
    saved = panel.document().to_dict()
    table = next(s for s in saved["sections"] if s["kind"] == "table")
    assert table["columns"][2:5] == ["score", "short", "exact feedback"]
    assert saved["data"]["examples"][0]["traceback"] == rows[2].traceback
    assert saved["data"]["metrics"] == ["exact", "short"]


def test_a_run_that_ends_refreshes_the_displayed_output(oracle, devset, metric, monkeypatch):
    shown = []

    class Handle:
        def update(self, bundle, raw):
            shown.append(bundle)

    panel = EvaluationPanel(interval=0)
    panel._handle = Handle()
    monkeypatch.setattr("dspex_lab.lab.panel.in_kernel", lambda: True)
    monkeypatch.setattr("dspex_lab.lab.panel.widgets_available", lambda: False)
    dx.evaluate(dx.Predict("question -> answer", lm=oracle()), devset(3), metric, progress=panel)

    assert len(shown) == 2  # at the end event, then with the result
    final = shown[-1]["application/vnd.dspex.evaluation+json"]
    assert dict(final["sections"][0]["items"])["status"] == "completed"
    assert shown[-1]["text/plain"] == panel.text().splitlines()[0]  # the same text as when it was first shown


def test_compile_demos_and_timeline_documents(qa, oracle, devset, metric):
    store = events.get_store()
    optimizer = dx.BootstrapFewShot(metric, max_bootstrapped_demos=2, max_labeled_demos=2, progress=False)
    compiled = optimizer.compile(qa(oracle(wrong={"q3"})), trainset=devset(5))

    saved = OptimizationPanel(optimizer, store=store).document().to_dict()
    assert saved["panel"] == "optimization"
    assert dict(saved["sections"][0]["items"])["status"] == "completed"
    assert any(s["kind"] == "bars" for s in saved["sections"])

    demos = DemoInspector(compiled, store=store).document().to_dict()
    assert demos["sections"][0]["title"].startswith("generate: 2 demos")
    assert demos["sections"][0]["rows"][0][-1].startswith("bootstrapped")

    timeline = TimelineExplorer(store).document().to_dict()
    lanes = next(s for s in timeline["sections"] if s["kind"] == "lanes")
    assert lanes["total"] == len(TimelineExplorer(store).visible())
    assert "spans" in lanes
    assert "bins" not in lanes
    offline(static.html(timeline))


def test_a_large_timeline_is_binned_and_keeps_failed_spans_one_by_one():
    spans = [(i % 4, i * 0.001, i * 0.001 + 0.0005, 0, 1 if i == 7 else 0) for i in range(5_000)]

    section = document.lanes("spans", ["a", "b", "c", "d"], ["lm.request"], spans)

    assert section["total"] == 5_000
    assert sum(map(sum, section["bins"])) == 5_000
    assert section["spans"] == [[3, 0.007, 0.0075, 0, 1]]
    html = static.section(section)
    assert html.count("<rect") <= 4 * document.BINS + 1
    assert "height='96'" in html  # fixed: 4 lanes of 18 px and the axis


def test_documents_save_and_load_and_refuse_other_json(tmp_path):
    saved = document.Document("compare", "two runs", [document.stats([("score", 1)])]).save(tmp_path / "cmp")

    assert saved.name == "cmp.dspex.json"
    assert document.load(saved)["title"] == "two runs"
    (tmp_path / "other.json").write_text("{}")
    with pytest.raises(ValueError, match="not a dspex_lab panel document"):
        document.load(tmp_path / "other.json")
    with pytest.raises(ValueError, match="unknown panel 'nope'"):
        document.mime_type("nope")
