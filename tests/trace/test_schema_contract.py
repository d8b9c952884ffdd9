"""The event schema is the one place kind strings and payload keys are spelled."""

from __future__ import annotations

import ast
import dataclasses
import json
import pickle
from pathlib import Path

import dspex_lab as dx
from dspex_lab.trace import schema

PACKAGE = Path(schema.__file__).resolve().parents[1]
CONSUMERS = sorted(
    [
        *PACKAGE.glob("lab/*.py"),
        PACKAGE / "trace" / "query.py",
        PACKAGE / "trace" / "flow.py",
        PACKAGE / "trace" / "timetravel.py",
        PACKAGE / "trace" / "spantable.py",
        PACKAGE / "trace" / "otlp.py",
        PACKAGE / "trace" / "persist.py",
        PACKAGE / "evaluation" / "progress.py",
    ]
)
KINDS = {cls.KIND for cls in schema.ALL}
SPANS = {cls.KIND.removesuffix(".start") for cls in schema.ALL if cls.END is not None}
KIND_NAMES = KINDS | {name for name in SPANS if "." in name} | {kind.split(".")[0] + "." for kind in KINDS}
"""Kinds, span names such as "optimize.phase", prefixes such as "lm." (a bare word like "program" may be a label)."""
KEYS = {item.name for cls in (*schema.ALL, *schema.RECORDS) for item in dataclasses.fields(cls)}  # type: ignore[arg-type]
LOOKUPS = {"get", "pop", "setdefault"}
PAYLOADS = ("payload", "start", "end", "body", "reply", "request", "attempt", "event")
"""What code reading a payload calls it (a lookup on `options` or `message` is about something else)."""


def spelled_out(path: Path) -> list[str]:
    """Kinds written as literals anywhere, and payload keys used as literals to look a value up."""
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in KIND_NAMES:
            found.append(f"{path.name}:{node.lineno}: kind {node.value!r}")
        key = receiver = None
        if isinstance(node, ast.Subscript):
            key, receiver = node.slice, node.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in LOOKUPS:
            key, receiver = (node.args[0] if node.args else None), node.func.value
        on_payload = receiver is not None and any(name in ast.unparse(receiver).lower() for name in PAYLOADS)
        if on_payload and isinstance(key, ast.Constant) and isinstance(key.value, str) and key.value in KEYS:
            found.append(f"{path.name}:{key.lineno}: payload key {key.value!r}")
    return found


def test_no_consumer_spells_an_event_kind_or_a_payload_key():
    assert len(CONSUMERS) > 10
    found = [line for path in CONSUMERS for line in spelled_out(path)]
    assert found == []


def test_the_check_catches_what_it_looks_for(tmp_path):
    sample = tmp_path / "panel.py"
    sample.write_text(
        'if event.kind == "optimize.attempt":\n    score = payload.get("score")\n    x = body["passed"]\n'
    )
    assert spelled_out(sample) == [
        "panel.py:1: kind 'optimize.attempt'",
        "panel.py:2: payload key 'score'",
        "panel.py:3: payload key 'passed'",
    ]


def test_key_names_every_payload_field_and_nothing_else():
    assert {value for name, value in vars(schema.Key).items() if not name.startswith("_")} == KEYS


def test_kinds_are_unique_and_every_span_start_names_its_end():
    assert len(KINDS) == len(schema.ALL)
    for cls in schema.ALL:
        if cls.END is not None:
            assert cls.END in schema.ALL
            assert issubclass(cls.END, schema.SpanEnd)


def test_the_committed_json_schema_is_current():
    committed = json.loads((PACKAGE / "trace" / "events.schema.json").read_text())
    assert committed == schema.json_schema(), (
        "regenerate it: python -m dspex_lab.trace.schema > dspex_lab/trace/events.schema.json"
    )


def test_recorded_events_validate_against_the_json_schema(trace_store):
    import jsonschema

    program = dx.Predict("question -> answer")
    with dx.context(lm=dx.ScriptedLM(lambda messages: {"answer": "4"})):
        dx.evaluate(program, [dx.Example(question="2+2?", answer="4").with_inputs("question")], metric, progress=False)
        dx.BootstrapFewShot(metric, max_bootstrapped_demos=1, progress=False).compile(
            program, trainset=[dx.Example(question="1+1?", answer="4").with_inputs("question")]
        )
    validator = jsonschema.Draft202012Validator(schema.json_schema())
    records = trace_store.records()
    assert {record["kind"] for record in records} >= {
        "program.start", "lm.response", "evaluate.end", "teacher.example", "optimize.attempt", "optimize.demos"
    }  # fmt: skip
    for record in records:
        validator.validate(json.loads(json.dumps(record, default=str)))


def test_events_read_back_as_their_classes_and_pickle():
    payload = {"predictor": "qa", "uid": "u", "role": "student", "count": 1, "demos": [{"origin": "labeled"}]}
    event = schema.Event(1, schema.OptimizeDemos.KIND, "r", None, None, "Opt", "t", None, payload)
    data = event.data
    assert isinstance(data, schema.OptimizeDemos)
    assert (data.predictor, schema.DemoOrigin.of(data.demos[0]).origin) == ("qa", schema.DemoOrigin.LABELED)
    assert pickle.loads(pickle.dumps(event)) == event
    copy = pickle.loads(pickle.dumps(data))
    assert copy.payload() == data.payload()
    assert isinstance(schema.read("my.own.kind", {"x": 1}), schema.UnknownEvent)


def metric(example, prediction, trace=None):
    return example.answer == prediction.answer
