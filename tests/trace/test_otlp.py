"""OpenTelemetry export: the OTLP/JSON output parses with the OpenTelemetry protobuf definitions."""

from __future__ import annotations

import base64
import json

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from dspex_lab.testing.kinds import ev, opens
from dspex_lab.trace import events
from dspex_lab.trace.otlp import export_otlp
from dspex_lab.trace.store import EventStore


def parse(request: dict) -> ExportTraceServiceRequest:
    """Parse OTLP/JSON with protobuf's generic parser.

    OTLP/JSON writes trace and span ids as hex, where protobuf's JSON mapping
    expects base64: convert them first, as an OTLP receiver does.
    """
    text = json.dumps(request)
    data = json.loads(text)
    for resource in data["resourceSpans"]:
        for scope in resource["scopeSpans"]:
            for span in scope["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    return json_format.Parse(json.dumps(data), ExportTraceServiceRequest())


def attrs(proto_attributes) -> dict:
    found = {}
    for kv in proto_attributes:
        field = kv.value.WhichOneof("value")
        found[kv.key] = getattr(kv.value, field)
    return found


@pytest.fixture
def store():
    made = EventStore()
    with events.use_store(made):
        with events.run("run-1"):
            events.emit(ev("evaluate.start", {"total": 1}), "evaluator")
            with events.span(opens("program", {"module": "QA", "inputs": {"question": "2+2?"}}), "qa") as root:
                with events.span(opens("program", {"inputs": {"question": "2+2?"}}), "qa.generate") as inner:
                    events.emit(ev("adapter.format", {"adapter": "ChatAdapter", "messages": []}), "qa.generate")
                    with events.span(
                        opens(
                            "lm.request",
                            {
                                "messages": [
                                    {"role": "system", "content": "Be brief."},
                                    {"role": "user", "content": "2+2?"},
                                ],
                                "params": {"temperature": 0.0},
                            },
                            end="lm.response",
                        ),
                        "lm:openai/gpt-4o-mini",
                        correlation_id="gpt#1",
                    ) as call:
                        call.set(text="4", prompt_tokens=12, completion_tokens=1, cache_hit=False, cost=0.5)
                    inner.set(outputs={"answer": "4"})
                with pytest.raises(RuntimeError), events.span(opens("program"), "qa.check"):
                    raise RuntimeError("checker broke")
        with events.span(opens("program"), "solo"):
            pass
    made.ids = {"root": root.span_id, "inner": inner.span_id, "call": call.span_id}
    return made


def spans_by_name(request):
    [resource] = request.resource_spans
    [scope] = resource.scope_spans
    return resource, scope, {span.name: span for span in scope.spans}


def test_the_export_parses_as_an_export_trace_service_request(store, tmp_path):
    path = tmp_path / "otlp.json"
    request = parse(export_otlp(path, store=store, service_name="my-lab"))
    assert json.loads(path.read_text()) == export_otlp(store=store, service_name="my-lab")

    resource, scope, spans = spans_by_name(request)
    assert attrs(resource.resource.attributes)["service.name"] == "my-lab"
    assert scope.scope.name == "dspex_lab"
    assert set(spans) == {"run run-1", "qa", "qa.generate", "lm:openai/gpt-4o-mini", "qa.check", "solo"}
    for span in spans.values():
        assert len(span.trace_id) == 16
        assert len(span.span_id) == 8
        assert span.end_time_unix_nano >= span.start_time_unix_nano > 0


def test_a_run_is_one_trace_under_a_root_span_and_parents_are_linked(store):
    _, _, spans = spans_by_name(parse(export_otlp(store=store)))
    run = spans["run run-1"]
    in_run = [spans[name] for name in ("qa", "qa.generate", "lm:openai/gpt-4o-mini", "qa.check")]
    assert {span.trace_id for span in in_run} == {run.trace_id}
    assert spans["solo"].trace_id != run.trace_id
    assert spans["qa"].parent_span_id == run.span_id
    assert spans["qa.generate"].parent_span_id == spans["qa"].span_id
    assert spans["lm:openai/gpt-4o-mini"].parent_span_id == spans["qa.generate"].span_id
    assert spans["lm:openai/gpt-4o-mini"].span_id == store.ids["call"].to_bytes(8, "big")
    assert spans["solo"].parent_span_id == b""
    assert run.start_time_unix_nano <= spans["qa"].start_time_unix_nano
    assert run.end_time_unix_nano >= spans["qa.check"].end_time_unix_nano


def test_an_lm_call_carries_openinference_attributes(store):
    _, _, spans = spans_by_name(parse(export_otlp(store=store)))
    call = spans["lm:openai/gpt-4o-mini"]
    found = attrs(call.attributes)

    assert call.kind == Span.SPAN_KIND_CLIENT
    assert call.status.code == Status.STATUS_CODE_OK
    assert found["openinference.span.kind"] == "LLM"
    assert found["llm.system"] == "openai"
    assert found["llm.model_name"] == "gpt-4o-mini"
    assert json.loads(found["llm.invocation_parameters"]) == {"temperature": 0.0}
    assert found["llm.input_messages.0.message.role"] == "system"
    assert found["llm.input_messages.1.message.content"] == "2+2?"
    assert found["llm.output_messages.0.message.content"] == "4"
    assert (found["llm.token_count.prompt"], found["llm.token_count.completion"]) == (12, 1)
    assert found["llm.token_count.total"] == 13
    assert found["output.value"] == "4"
    assert found["dspex.correlation_id"] == "gpt#1"
    assert found["dspex.cache_hit"] is False


def test_program_spans_are_chains_with_inputs_outputs_and_status(store):
    _, _, spans = spans_by_name(parse(export_otlp(store=store)))
    generate = attrs(spans["qa.generate"].attributes)
    assert generate["openinference.span.kind"] == "CHAIN"
    assert json.loads(generate["input.value"]) == {"question": "2+2?"}
    assert json.loads(generate["output.value"]) == {"answer": "4"}
    failed = spans["qa.check"]
    assert failed.status.code == Status.STATUS_CODE_ERROR
    assert failed.status.message == "RuntimeError: checker broke"


def test_events_that_are_not_spans_become_span_events_of_their_parent(store):
    _, _, spans = spans_by_name(parse(export_otlp(store=store)))
    [format_event] = spans["qa.generate"].events
    assert format_event.name == "adapter.format"
    assert attrs(format_event.attributes)["dspex.payload.adapter"] == "ChatAdapter"
    [start] = spans["run run-1"].events
    assert start.name == "evaluate.start"
    assert attrs(start.attributes)["dspex.payload.total"] == 1


def test_one_run_can_be_exported_alone(store):
    _, _, spans = spans_by_name(parse(export_otlp(store=store, run_id="run-1")))
    assert "solo" not in spans
    assert "qa" in spans
