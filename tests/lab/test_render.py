"""The HTML pieces panels share: everything escaped, long values cut, chat messages readable."""

from __future__ import annotations

import plotly.graph_objects as go

from dspex_lab.lab import render


def test_table_cells_are_escaped_and_cut():
    html = render.table(["a", "b<"], [("<script>alert(1)</script>", "x" * 500)], limit=20)

    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "b&lt;" in html
    assert "x" * 19 + "…" in html
    assert "x" * 21 not in html


def test_failed_rows_are_marked():
    html = render.table(["n"], [(1,), (2,)], failed=[False, True])

    assert html.count("<tr class='dspex-fail'>") == 1


def test_pairs_skip_empty_values():
    html = render.pairs([("kept", 0), ("empty", ""), ("none", None), ("list", [])])

    assert "kept" in html
    assert "empty" not in html
    assert "none" not in html
    assert "list" not in html


def test_messages_show_each_role_and_content():
    html = render.messages([{"role": "system", "content": "be brief"}, {"role": "user", "content": "<b>hi</b>"}])

    assert html.index("system") < html.index("be brief") < html.index("user")
    assert "&lt;b&gt;hi&lt;/b&gt;" in html
    assert render.messages("plain text") == render.block("plain text")


def test_text_renders_values_readably():
    assert render.text(None) == ""
    assert render.text({"a": [1, "é"]}) == '{"a": [1, "é"]}'
    assert render.text(0.123456) == "0.123"
    assert render.text("abcdef", 4) == "abc…"


def test_a_figure_output_carries_the_plotly_json_and_its_summary():
    output = render.figure_output(go.Figure(go.Bar(x=["a"], y=[1])), "one bar")

    assert output["output_type"] == "display_data"
    spec = output["data"]["application/vnd.plotly.v1+json"]
    assert spec["data"][0]["type"] == "bar"
    assert spec["config"]["displaylogo"] is False
    assert output["data"]["text/plain"] == "one bar"


def test_a_static_figure_is_plotly_json_for_jupyterlab_and_offline_html_for_everything_else():
    figure = go.Figure(go.Scatter(x=[0, 1], y=[1, 2]))

    bundle = render.StaticFigure(figure, "two points", "<svg></svg>")._repr_mimebundle_()

    assert bundle["application/vnd.plotly.v1+json"]["data"][0]["type"] == "scatter"
    assert bundle["text/plain"] == "two points"
    assert bundle["text/html"] == "<svg></svg>"
