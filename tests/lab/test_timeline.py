"""TimelineExplorer: spans in lanes, filters, hover text, a details pane, and how it scales."""

from __future__ import annotations

import pytest

import dspex_lab as dx
from dspex_lab.lab import timeline
from dspex_lab.lab.timeline import TimelineExplorer, span_kind
from dspex_lab.testing.kinds import opens
from dspex_lab.trace import events


@pytest.fixture
def evaluated(trace_store, oracle, devset, metric, qa):
    """Two evaluations of a two-level program: 3 examples, then 2 (one of which cannot be parsed)."""
    first = dx.evaluate(qa(oracle()), devset(3), metric, progress=False, concurrency=1)
    second = dx.evaluate(qa(oracle(garbled={"q1"})), devset(2), metric, progress=False, concurrency=1)
    return first, second


def plotted(explorer):
    return explorer.parts.chart.outputs[0]["data"]["application/vnd.plotly.v1+json"]["data"]


def test_spans_are_laid_out_in_lanes_per_component_and_coloured_by_kind(evaluated):
    explorer = TimelineExplorer()

    assert explorer.kinds == ["evaluate.item", "lm.request", "program"]
    figure = explorer.figure()
    markers = [trace for trace in figure.data if trace.mode == "markers"]
    assert [trace.name for trace in markers] == [*explorer.kinds, "error (3)"]
    assert [len(trace.x) for trace in markers] == [5, 6, 10, 3]  # 5 items, 6 LM calls (one retried), 2 programs each
    assert all(trace.type == "scatter" for trace in figure.data)
    assert list(figure.layout.yaxis.ticktext) == ["evaluate", "qa", "qa.generate", "lm:scripted/lm"]
    assert explorer.text().splitlines()[1] == "  lanes: evaluate (5), qa (5), qa.generate (5), lm:scripted/lm (6)"


def test_hovering_a_span_tells_what_it_was(evaluated):
    figure = TimelineExplorer(kind="lm.request").figure()

    [marks] = [trace for trace in figure.data if trace.mode == "markers"]
    assert all("<b>lm.request</b> lm:scripted/lm" in text and " ms, ok" in text for text in marks.hovertext)
    assert all(text.count("run eval-") == 1 for text in marks.hovertext)


def test_filters_narrow_kind_component_run_and_time_window(evaluated):
    _first, second = evaluated
    explorer = TimelineExplorer()

    assert len(explorer.filter(kind="lm.request")) == 6
    assert set(explorer.filter(kind=None, component=["qa", "qa.generate"])["component"]) == {"qa", "qa.generate"}
    assert len(explorer.filter(component=None, run_id=second.run_id)) == 2 + 2 + 2 + 3
    assert explorer.filter(run_id=None, window=(0.0, 0.0))["start"].min() == explorer.t0
    whole = explorer.filter(window=(0.0, explorer.span_s))
    assert len(whole) == len(explorer.spans)
    assert (
        explorer.filter(window=None, lanes="task")["task"].nunique() == explorer.figure().layout.yaxis.tickvals[-1] + 1
    )


def test_bad_filters_name_what_the_trace_has(evaluated):
    explorer = TimelineExplorer()

    with pytest.raises(ValueError, match=r"no kind \['llm'\] in this trace; it has \['evaluate.item'"):
        explorer.filter(kind="llm")
    with pytest.raises(ValueError, match="no run 'eval-x' in this trace"):
        explorer.filter(run_id="eval-x")
    with pytest.raises(ValueError, match="lanes must be one of"):
        explorer.filter(lanes="colour")
    with pytest.raises(ValueError, match="end >= start"):
        explorer.filter(window=(2.0, 1.0))
    with pytest.raises(TypeError, match="unknown filter"):
        explorer.filter(colour="red")


def test_the_details_pane_shows_a_prompt_its_reply_and_usage(evaluated):
    explorer = TimelineExplorer(kind="lm.request")
    explorer.draw()
    span_id = explorer.parts.pick.options[0][1]

    explorer.parts.pick.value = span_id

    found = explorer.details(span_id)
    assert found["kind"] == "lm.request"
    assert found["status"] == "ok"
    assert found["start_payload"]["messages"][-1]["content"].startswith("[[ ## question ## ]]\nq0")
    assert "a0" in found["end_payload"]["text"]
    details = explorer.parts.details.value
    assert "prompt" in details
    assert "reply" in details
    assert "prompt_tokens" in details


def test_program_spans_show_their_inputs_and_outputs(evaluated):
    explorer = TimelineExplorer(component="qa")
    explorer.draw()

    explorer.select(explorer.visible().index[0])

    assert "inputs" in explorer.parts.details.value
    assert "q0" in explorer.parts.details.value
    with pytest.raises(KeyError, match="no span 999999"):
        explorer.details(999999)


def test_the_widget_filters_redraw_the_chart_and_the_span_list(evaluated):
    explorer = TimelineExplorer()
    explorer.draw()
    assert len(plotted(explorer)) == 2 * 3 + 1  # lines and markers per kind, and the failed spans

    explorer.parts.kind.value = ("program",)

    assert [t["name"] for t in plotted(explorer) if t["mode"] == "markers"] == ["program", "error (2)"]
    assert len(explorer.parts.pick.options) == 10
    assert "10 of 21 spans" in explorer.parts.title.value


def test_the_explorer_opens_saved_traces_and_query_frames(evaluated, tmp_path):
    path = dx.trace.save(tmp_path / "trace.parquet")
    live = TimelineExplorer()

    from_file = TimelineExplorer(path)
    from_frame = TimelineExplorer(dx.get_events())

    for other in (from_file, from_frame):
        assert other.text() == live.text()
        assert (
            other.details(other.spans.index[1])["start_payload"] == live.details(live.spans.index[1])["start_payload"]
        )
    with pytest.raises(TypeError, match="takes an EventStore, a trace file path, or a frame"):
        TimelineExplorer(42)


def test_a_span_still_open_is_drawn_at_its_start_and_listed_as_open(trace_store):
    with events.span(opens("program"), "qa"):
        explorer = TimelineExplorer()
    explorer.draw()

    assert explorer.spans["status"].tolist() == ["open"]
    assert "open" in explorer.parts.pick.options[0][0]


def test_past_the_svg_limit_spans_are_counted_per_time_bin_and_failed_ones_still_marked(trace_store):
    for index in range(timeline.SVG_LIMIT + 1):
        try:
            with events.span(opens("step"), f"worker-{index % 3}"):
                if index == 5:
                    raise RuntimeError("step 5 failed")
        except RuntimeError:
            pass
    explorer = TimelineExplorer()

    heatmap, failed = explorer.figure().data
    assert heatmap.type == "heatmap"  # no WebGL: it froze GPU-less browsers for seconds per redraw
    assert int(sum(v for row in heatmap.z for v in row if v == v)) == timeline.SVG_LIMIT + 1
    assert failed.name == "error (1)"
    assert explorer.filter(component="worker-0").shape[0] == 667
    assert {trace.type for trace in explorer.figure().data} == {"scatter"}


def test_text_search_finds_spans_by_kind_component_and_payload(evaluated):
    explorer = TimelineExplorer()

    assert set(explorer.filter(text="LM.REQ")["kind"]) == {"lm.request"}
    found = explorer.filter(text="I would rather not say")  # the garbled reply, and the errors quoting it
    assert "lm.request" in set(found["kind"])
    assert set(found["status"]) <= {"ok", "error"}
    assert 1 <= len(found) <= 5
    assert len(explorer.filter(text=None)) == len(explorer.spans)


def test_the_span_tree_nests_children_under_parents_and_links_up(evaluated):
    explorer = TimelineExplorer()
    explorer.draw()

    rows = explorer.tree()
    assert len(rows) == len(explorer.spans)
    depth = dict((span_id, d) for d, span_id in rows)
    item = next(span_id for d, span_id in rows if explorer.spans.at[span_id, "kind"] == "evaluate.item")
    request = next(span_id for d, span_id in rows if explorer.spans.at[span_id, "kind"] == "lm.request")
    assert depth[item] == 0
    assert depth[request] == 3  # item > qa > qa.generate > lm.request
    assert explorer.parts.tree.value.count("<details>") == 5 * 3  # each item, program and predictor folds
    explorer.select(request)
    assert explorer.parts.parent.disabled is False
    parent = explorer.select_parent()
    assert parent["kind"] == "program"
    assert parent["component"] == "qa.generate"
    assert explorer.parts.pick.value == parent["span_id"]


def test_the_search_box_and_the_chart_box_in_the_widget(evaluated):
    explorer = TimelineExplorer()
    explorer.draw()

    explorer.parts.search.value = "lm.request"
    assert explorer.parts.title.value.count("6 of 21 spans") == 1
    assert explorer.parts.chart.layout.min_height == f"{explorer.figure().layout.height}px"


def test_span_kinds_drop_the_start_suffix():
    assert span_kind("program.start") == "program"
    assert span_kind("lm.request") == "lm.request"


def test_a_snapshot_is_the_current_chart_as_a_plain_output(evaluated):
    explorer = TimelineExplorer(kind="lm.request")

    bundle = explorer.snapshot()._repr_mimebundle_()

    assert len(bundle["application/vnd.plotly.v1+json"]["data"]) == len(explorer.figure().data)
    assert bundle["text/plain"].startswith("6 of 21 spans")
    html = bundle["text/html"]
    assert "<script" not in html  # drawn without plotly.js or any network
    assert html.count(" ms</title></rect>") == 6  # one bar per span
