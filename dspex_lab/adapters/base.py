"""What every adapter shares: the system message, demos as turns, and the user turn.

An adapter turns (signature, demos, inputs) into chat messages and an LM reply
back into typed output fields. Subclasses decide how output fields are laid out
(`[[ ## field ## ]]` sections or a JSON object) and how replies are parsed.
"""

from __future__ import annotations

import functools
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from dspex_lab.adapters.values import format_value, parse_value, requirement, type_note
from dspex_lab.errors import AdapterParseError
from dspex_lab.signature import FieldInfo, Signature

Message = dict[str, Any]

INCOMPLETE_DEMO_PREFIX = "This is an example of the task, though some input or output fields are not supplied."
MISSING_IN_INCOMPLETE_DEMO = "Not supplied for this particular example. "
MISSING_IN_COMPLETE_DEMO = "Not supplied for this conversation history message. "


def field_section(name: str, text: str) -> str:
    return f"[[ ## {name} ## ]]\n{text}"


def describe_fields(fields: Mapping[str, FieldInfo]) -> str:
    """`1. `question` (str): the question` lines, as in DSPy's system message."""
    lines = []
    for index, (name, info) in enumerate(fields.items(), start=1):
        lines.append(f"{index}. `{name}` ({info.type_name}): {info.desc}")
    return "\n".join(lines).strip()


class Adapter:
    """Base class: formats prompts in DSPy's protocol; subclasses parse replies."""

    name = "Adapter"

    @property
    def fallback(self) -> Adapter | None:
        """An adapter to retry with once when parsing fails (None for no retry)."""
        return None

    def lm_kwargs(self, signature: type[Signature], supports_structured_output: bool) -> dict[str, Any]:
        """Extra LM parameters this adapter needs (for instance a response format)."""
        return {}

    def constraint(self, signature: type[Signature], lm: Any) -> dict[str, Any] | None:
        """LM parameters that hold `lm`'s reply to this adapter's format, or None when it cannot be held.

        A constrained reply parses on the first try, so the predictor makes no fallback call.
        """
        return None

    # --- the prompt ---------------------------------------------------------------------------
    def format(
        self, signature: type[Signature], demos: Sequence[Mapping[str, Any]], inputs: Mapping[str, Any]
    ) -> list[Message]:
        """System message, demos as user/assistant turns, then the user turn with the inputs."""
        messages: list[Message] = [{"role": "system", "content": self.system_message(signature)}]
        messages.extend(self.format_demos(signature, demos))
        messages.append({"role": "user", "content": self.user_content(signature, inputs, main_request=True)})
        return messages

    def system_message(self, signature: type[Signature]) -> str:
        return _system_message(self, signature)

    def _build_system_message(self, signature: type[Signature]) -> str:
        description = (
            f"Your input fields are:\n{describe_fields(signature.input_fields)}\n"
            f"Your output fields are:\n{describe_fields(signature.output_fields)}"
        )
        instructions = textwrap.dedent(signature.instructions)
        objective = ("\n" + " " * 8).join(["", *instructions.splitlines()])
        task = f"In adhering to this structure, your objective is: {objective}"
        return f"{description}\n{self.field_structure(signature)}\n{task}"

    def field_structure(self, signature: type[Signature]) -> str:
        raise NotImplementedError

    def format_demos(self, signature: type[Signature], demos: Sequence[Mapping[str, Any]]) -> list[Message]:
        """Incomplete demos first (marked as such), then complete ones, as DSPy orders them."""
        complete, incomplete = [], []
        fields = signature.fields
        for demo in demos:
            if all(demo.get(name) is not None for name in fields):
                complete.append(demo)
            elif any(name in demo for name in signature.input_fields) and any(
                name in demo for name in signature.output_fields
            ):
                incomplete.append(demo)
        messages: list[Message] = []
        for demo in incomplete:
            messages.append(
                {"role": "user", "content": self.user_content(signature, demo, prefix=INCOMPLETE_DEMO_PREFIX)}
            )
            messages.append(
                {"role": "assistant", "content": self.assistant_content(signature, demo, MISSING_IN_INCOMPLETE_DEMO)}
            )
        for demo in complete:
            messages.append({"role": "user", "content": self.user_content(signature, demo)})
            messages.append(
                {"role": "assistant", "content": self.assistant_content(signature, demo, MISSING_IN_COMPLETE_DEMO)}
            )
        return messages

    def user_content(
        self, signature: type[Signature], values: Mapping[str, Any], prefix: str = "", main_request: bool = False
    ) -> str:
        parts = [prefix]
        for name, info in signature.input_fields.items():
            if name in values:
                parts.append(field_section(name, format_value(info, values[name])))
        if main_request:
            parts.append(self.output_requirements(signature))
        return "\n\n".join(parts).strip()

    def output_requirements(self, signature: type[Signature]) -> str:
        raise NotImplementedError

    def assistant_content(
        self, signature: type[Signature], outputs: Mapping[str, Any], missing: str | None = None
    ) -> str:
        """The assistant turn that carries `outputs` (used for demos and scripted replies)."""
        raise NotImplementedError

    def format_reply(self, signature: type[Signature], outputs: Mapping[str, Any]) -> str:
        """A well-formed reply holding `outputs`, as an LM following the protocol would write it."""
        return self.assistant_content(signature, outputs)

    # --- the reply ----------------------------------------------------------------------------
    def parse(self, signature: type[Signature], text: str) -> dict[str, Any]:
        """Typed output fields from the reply text; AdapterParseError when that is impossible."""
        raise NotImplementedError

    def typed_fields(
        self, signature: type[Signature], found: Iterable[tuple[str | None, Any]], text: str
    ) -> dict[str, Any]:
        """The first value found for each output field, coerced to its type; every field must be there."""
        outputs = signature.output_fields
        fields: dict[str, Any] = {}
        for name, value in found:
            if name is not None and name in outputs and name not in fields:
                try:
                    fields[name] = parse_value(value, outputs[name].annotation)
                except ValueError as exc:
                    raise self.parse_error(f"field {name!r}: {exc}", signature, text, fields) from None
        missing = [name for name in outputs if name not in fields]
        if missing:
            raise self.parse_error(f"missing output field(s) {missing}", signature, text, fields)
        return fields

    def parse_error(
        self, message: str, signature: type[Signature], text: str, found: dict[str, Any]
    ) -> AdapterParseError:
        return AdapterParseError(
            message, adapter=self.name, raw=text, expected=list(signature.output_fields), found=found
        )


def type_placeholder(name: str, info: FieldInfo) -> str:
    """`{answer}` plus the type note, the placeholder shown in the structure section."""
    return "{" + name + "}" + type_note(info)


def requirement_list(signature: type[Signature], quote: str) -> str:
    return ", then ".join(f"{quote.format(name)}{requirement(info)}" for name, info in signature.output_fields.items())


@functools.lru_cache(maxsize=512)
def _system_message(adapter: Adapter, signature: type[Signature]) -> str:
    # Keyed by the adapter's type and the signature's structure: both are immutable.
    return adapter._build_system_message(signature)
