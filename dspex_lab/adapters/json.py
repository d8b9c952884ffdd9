"""JSONAdapter: inputs as `[[ ## field ## ]]` sections, outputs as one JSON object.

When the LM supports structured output, the request carries a JSON schema of
the output fields (`response_format`); otherwise it asks for a JSON object.
Parsing takes the first balanced `{...}` in the reply and reads it leniently.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from dspex_lab.adapters.base import Adapter, field_section, requirement_list, type_placeholder
from dspex_lab.adapters.values import find_json_object, json_schema, loads_lenient
from dspex_lab.fields import jsonable
from dspex_lab.signature import Signature


class JSONAdapter(Adapter):
    """Outputs as a JSON object, using the provider's structured-output mode when it has one."""

    name = "JSONAdapter"

    def __repr__(self) -> str:
        return "JSONAdapter()"

    def lm_kwargs(self, signature: type[Signature], supports_structured_output: bool) -> dict[str, Any]:
        if not supports_structured_output:
            return {"response_format": {"type": "json_object"}}
        return {"response_format": response_format(signature)}

    def constraint(self, signature: type[Signature], lm: Any) -> dict[str, Any] | None:
        # The JSON schema of `lm_kwargs` is the constraint where the LM honours it.
        return {} if getattr(lm, "supports_structured_output", False) else None

    def field_structure(self, signature: type[Signature]) -> str:
        inputs = "\n\n".join(field_section(n, type_placeholder(n, f)) for n, f in signature.input_fields.items())
        outputs = json.dumps({n: type_placeholder(n, f) for n, f in signature.output_fields.items()}, indent=2)
        parts = [
            "All interactions will be structured in the following way, with the appropriate values filled in.",
            "Inputs will have the following structure:",
            inputs,
            "Outputs will be a JSON object with the following fields.",
            outputs,
        ]
        return "\n\n".join(parts).strip()

    def output_requirements(self, signature: type[Signature]) -> str:
        return (
            "Respond with a JSON object in the following order of fields: " + requirement_list(signature, "`{}`") + "."
        )

    def assistant_content(
        self, signature: type[Signature], outputs: Mapping[str, Any], missing: str | None = None
    ) -> str:
        data = {name: jsonable(outputs.get(name, missing)) for name in signature.output_fields}
        return json.dumps(data, indent=2, ensure_ascii=False)

    def parse(self, signature: type[Signature], text: str) -> dict[str, Any]:
        found = find_json_object(text)
        data = loads_lenient(found if found is not None else text)
        if not isinstance(data, dict):
            raise self.parse_error("the reply holds no JSON object", signature, text, {})
        return self.typed_fields(signature, data.items(), text)


def response_format(signature: type[Signature]) -> dict[str, Any]:
    """OpenAI's `response_format` for the signature's output fields (a strict JSON schema)."""
    properties = {name: json_schema(info.annotation) for name, info in signature.output_fields.items()}
    for name, info in signature.output_fields.items():
        if info.desc:
            properties[name] = {**properties[name], "description": info.desc}
    schema = {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
    return {"type": "json_schema", "json_schema": {"name": "outputs", "schema": schema, "strict": True}}


DEFAULT_JSON_ADAPTER = JSONAdapter()
