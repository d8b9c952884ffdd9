"""OpenTelemetry export: a store's spans as OTLP/JSON, readable by Jaeger, Phoenix, Langfuse, Tempo, ...

Each span becomes an OTLP span; events that are not spans (adapter steps,
evaluated examples, state changes) become span events of their parent span.
A run (`events.run`) is one trace with a root span named after it; spans and
events outside any run each get a trace of their own root. LM calls carry
OpenInference attributes (`openinference.span.kind` = "LLM", `llm.model_name`,
`llm.input_messages.<i>.message.role`, `llm.token_count.prompt`, ...), program
calls are "CHAIN" spans with `input.value` / `output.value`.

Following the OTLP/JSON rules, trace and span ids are lower-case hex (not the
base64 of protobuf's generic JSON mapping), enums are integers and 64-bit
integers are decimal strings.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dspex_lab.trace.query import Moment, resolve_store
from dspex_lab.trace.schema import EVALUATE_PREFIX, LM_PREFIX, TOOL_PREFIX, Key, LMRequest, LMResponse

if TYPE_CHECKING:
    import pandas as pd

    from dspex_lab.trace.store import EventStore

SPAN_KIND_INTERNAL = 1
SPAN_KIND_CLIENT = 3
STATUS_UNSET, STATUS_OK, STATUS_ERROR = 0, 1, 2
_BOOKKEEPING = (Key.status, Key.duration_ms, Key.error)


def export_otlp(
    path: str | Path | None = None,
    *,
    store: EventStore | None = None,
    run_id: str | None = None,
    since: Moment = None,
    until: Moment = None,
    service_name: str = "dspex_lab",
) -> dict[str, Any]:
    """The store's spans (optionally one run's, or those started in [since, until]) as an OTLP/JSON request.

    Returns the `ExportTraceServiceRequest` as a dict; with `path`, also writes
    it there as JSON (what an OTLP/HTTP collector accepts at /v1/traces).
    """
    from dspex_lab import __version__
    from dspex_lab.trace.query import get_events, spans

    source = resolve_store(store)
    table = spans(run_id=run_id, since=since, until=until, store=source, payload=True)
    points = get_events(run_id=run_id, since=since, until=until, store=source)
    points = points[points["span_id"].isna()]
    salt = source.uid
    exported = set(table.index.tolist())
    roots: dict[str, dict[str, Any]] = {}
    otlp_spans: dict[int, dict[str, Any]] = {}
    trace_of: dict[int, str] = {}

    def trace_for(span_id: int) -> str:
        chain = []
        current: int | None = span_id
        while current is not None and current not in trace_of:
            chain.append(current)
            parent = table.at[current, "parent_id"] if current in exported else None
            current = int(parent) if parent is not None and not _missing(parent) and int(parent) in exported else None
        found = trace_of[current] if current is not None else None
        for member in reversed(chain):
            if found is None:
                run = table.at[member, "run_id"]
                found = _hex(salt, "run", run, size=32) if not _missing(run) else _hex(salt, "span", member, size=32)
            trace_of[member] = found
        return trace_of[span_id]

    for span_id, row in table.iterrows():
        trace_id = trace_for(int(span_id))
        parent = row["parent_id"]
        parent_hex = None
        if not _missing(parent) and int(parent) in exported:
            parent_hex = _span_hex(int(parent))
        elif not _missing(row["run_id"]):
            parent_hex = _root(roots, salt, str(row["run_id"]), trace_id)["spanId"]
            _widen(roots[str(row["run_id"])], int(row["start"]), _end_ns(row))
        otlp_spans[int(span_id)] = _span(row, int(span_id), trace_id, parent_hex)

    for ts, event in points.iterrows():
        parent = event["parent_id"]
        target = otlp_spans.get(int(parent)) if not _missing(parent) else None
        if target is None:
            run = event["run_id"]
            key = str(run) if not _missing(run) else f"events:{event['task']}"
            trace_id = _hex(salt, "run", run, size=32) if not _missing(run) else _hex(salt, "events", key, size=32)
            target = _root(roots, salt, key, trace_id)
            _widen(target, int(ts), int(ts))
        target.setdefault("events", []).append(_event(int(ts), event))

    resource_attributes = {"service.name": service_name, "dspex.store": salt, "telemetry.sdk.name": "dspex_lab"}
    resource = {"attributes": _attributes(resource_attributes)}
    scope = {"name": "dspex_lab", "version": __version__}
    request = {
        "resourceSpans": [
            {
                "resource": resource,
                "scopeSpans": [{"scope": scope, "spans": [*roots.values(), *otlp_spans.values()]}],
            }
        ]
    }
    if path is not None:
        target_path = Path(path)
        target_path.parent.mkdir(parents=True, exist_ok=True)
        target_path.write_text(json.dumps(request, ensure_ascii=False), encoding="utf-8")
    return request


def _missing(value: Any) -> bool:
    import pandas as pd

    return value is None or bool(pd.isna(value))


def _hex(salt: str, *parts: Any, size: int) -> str:
    text = "\x1f".join(str(part) for part in (salt, *parts))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:size]


def _span_hex(span_id: int) -> str:
    return f"{span_id & 0xFFFF_FFFF_FFFF_FFFF:016x}"


def _end_ns(row: pd.Series) -> int:
    return int(row["end"]) if not _missing(row["end"]) else int(row["start"])


def _root(roots: dict[str, dict[str, Any]], salt: str, key: str, trace_id: str) -> dict[str, Any]:
    """The synthetic root span of a run (or of events outside runs), made on first use."""
    found = roots.get(key)
    if found is None:
        found = {
            "traceId": trace_id,
            "spanId": _hex(salt, "root", key, size=16),
            "name": f"run {key}" if not key.startswith("events:") else key,
            "kind": SPAN_KIND_INTERNAL,
            "startTimeUnixNano": None,
            "endTimeUnixNano": None,
            "attributes": _attributes({"openinference.span.kind": "CHAIN", "dspex.run_id": key}),
            "status": {"code": STATUS_UNSET},
        }
        roots[key] = found
    return found


def _widen(root: dict[str, Any], start: int, end: int) -> None:
    lo, hi = root["startTimeUnixNano"], root["endTimeUnixNano"]
    root["startTimeUnixNano"] = str(start if lo is None else min(int(lo), start))
    root["endTimeUnixNano"] = str(end if hi is None else max(int(hi), end))


"""OpenInference span kinds of dspex_lab span kinds (LM spans are LLM, the rest CHAIN)."""


def _span(row: pd.Series, span_id: int, trace_id: str, parent_hex: str | None) -> dict[str, Any]:
    kind = str(row["kind"])
    start_payload = row["start_payload"] or {}
    end_payload = row["end_payload"] or {}
    attributes: dict[str, Any] = {
        "dspex.kind": kind,
        "dspex.component": str(row["component"]),
        "dspex.run_id": None if _missing(row["run_id"]) else str(row["run_id"]),
        "dspex.task": str(row["task"]),
        "dspex.correlation_id": row["correlation_id"],
        "dspex.status": row["status"],
        "dspex.duration_ms": None if _missing(row["duration_ms"]) else float(row["duration_ms"]),
    }
    if kind.startswith(LM_PREFIX):
        attributes.update(_llm_attributes(str(row["component"]), start_payload, end_payload))
    else:
        attributes["openinference.span.kind"] = (
            "EVALUATOR" if kind.startswith(EVALUATE_PREFIX) else "TOOL" if kind.startswith(TOOL_PREFIX) else "CHAIN"
        )
        if kind.startswith(TOOL_PREFIX):
            attributes["tool.name"] = str(row["component"]).removeprefix("tool:")
        inputs = start_payload.get(Key.inputs, start_payload)
        outputs = end_payload.get(Key.outputs, {k: v for k, v in end_payload.items() if k not in _BOOKKEEPING})
        if inputs:
            attributes["input.value"] = _json(inputs)
            attributes["input.mime_type"] = "application/json"
        if outputs:
            attributes["output.value"] = _json(outputs)
            attributes["output.mime_type"] = "application/json"
    status = row["status"]
    code = {"ok": STATUS_OK, "error": STATUS_ERROR}.get(status, STATUS_UNSET)
    span: dict[str, Any] = {
        "traceId": trace_id,
        "spanId": _span_hex(span_id),
        "name": str(row["component"]),
        "kind": SPAN_KIND_CLIENT if kind.startswith(LM_PREFIX) else SPAN_KIND_INTERNAL,
        "startTimeUnixNano": str(int(row["start"])),
        "endTimeUnixNano": str(_end_ns(row)),
        "attributes": _attributes(attributes),
        "status": {"code": code, **({"message": str(row["error"])} if code == STATUS_ERROR and row["error"] else {})},
    }
    if parent_hex is not None:
        span["parentSpanId"] = parent_hex
    return span


def _llm_attributes(component: str, start: dict[str, Any], end: dict[str, Any]) -> dict[str, Any]:
    model = component.split(":", 1)[1] if ":" in component else component
    provider, _, name = model.partition("/")
    attributes: dict[str, Any] = {
        "openinference.span.kind": "LLM",
        "llm.system": provider if name else None,
        "llm.provider": provider if name else None,
        "llm.model_name": name or model,
    }
    request, reply = LMRequest.of(start), LMResponse.of(end)
    params = request.params
    if params:
        attributes["llm.invocation_parameters"] = _json(params)
    messages = request.messages or []
    if messages:
        attributes["input.value"] = _json(messages)
        attributes["input.mime_type"] = "application/json"
    for index, message in enumerate(messages if isinstance(messages, list) else []):
        if isinstance(message, dict):
            attributes[f"llm.input_messages.{index}.message.role"] = message.get("role")
            content = message.get("content")
            attributes[f"llm.input_messages.{index}.message.content"] = (
                content if isinstance(content, str) else _json(content)
            )
    text = reply.text
    if isinstance(text, str):
        attributes["output.value"] = text
        attributes["output.mime_type"] = "text/plain"
        attributes["llm.output_messages.0.message.role"] = "assistant"
        attributes["llm.output_messages.0.message.content"] = text
    prompt, completion = reply.prompt_tokens, reply.completion_tokens
    attributes["llm.token_count.prompt"] = prompt
    attributes["llm.token_count.completion"] = completion
    if isinstance(prompt, int) and isinstance(completion, int):
        attributes["llm.token_count.total"] = prompt + completion
    attributes["dspex.cost"] = reply.cost
    attributes["dspex.cache_hit"] = reply.cache_hit
    attributes["dspex.finish_reason"] = reply.finish_reason
    return attributes


def _event(ts: int, event: pd.Series) -> dict[str, Any]:
    attributes: dict[str, Any] = {"dspex.component": str(event["component"])}
    for key, value in (event["payload"] or {}).items():
        attributes[f"dspex.payload.{key}"] = value
    return {"timeUnixNano": str(ts), "name": str(event["kind"]), "attributes": _attributes(attributes)}


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=repr)


def _attributes(values: dict[str, Any]) -> list[dict[str, Any]]:
    """OTLP KeyValues; None values are left out."""
    return [{"key": key, "value": _any_value(value)} for key, value in values.items() if value is not None]


def _any_value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        # Protobuf's JSON mapping spells non-finite doubles as strings.
        if math.isfinite(value):
            return {"doubleValue": value}
        return {"doubleValue": "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, list | tuple) and all(isinstance(item, str | bool | int | float) for item in value):
        return {"arrayValue": {"values": [_any_value(item) for item in value]}}
    return {"stringValue": _json(value)}
