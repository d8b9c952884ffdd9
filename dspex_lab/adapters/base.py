"""What every adapter shares: the system message, demos as turns, and the user turn.

An adapter turns (signature, demos, inputs) into chat messages and an LM reply
back into typed output fields. Subclasses decide how output fields are laid out
(`[[ ## field ## ]]` sections or a JSON object) and how replies are parsed.
"""

from __future__ import annotations

import functools
import textwrap
import typing
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from dspex_lab.adapters.values import format_value, parse_value, requirement, type_note
from dspex_lab.errors import AdapterParseError
from dspex_lab.modules.image import START as IMAGE_START
from dspex_lab.modules.image import split_parts
from dspex_lab.signature import MISSING, FieldInfo, Signature, make_signature

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
        self,
        signature: type[Signature],
        demos: Sequence[Mapping[str, Any]],
        inputs: Mapping[str, Any],
        *,
        native_tools: bool = False,
    ) -> list[Message]:
        """System message, demos as user/assistant turns, the conversation so far, then the user turn.

        A `dx.History` input becomes earlier user/assistant turns, as DSPy formats it.
        With `native_tools`, the tools input and the `ToolCalls` output leave the prompt
        (the client sends the tools natively) and a trajectory input becomes assistant
        tool-call turns and tool results after the user turn.
        """
        kinds = special_fields(signature)
        turns_after: list[Message] = []
        if native_tools:
            for name in kinds.get("trajectory", ()):
                if name in inputs:
                    turns_after.extend(inputs[name].turns())
            signature = native_view(signature)
        messages: list[Message] = [{"role": "system", "content": self.system_message(signature)}]
        messages.extend(self.format_demos(signature, demos))
        current = signature
        for name in kinds.get("history", ()):
            current = without_fields(current, (name,))
            if inputs.get(name) is not None:
                messages.extend(self.format_history(current, inputs[name].messages))
        messages.append({"role": "user", "content": self.user_content(current, inputs, main_request=True)})
        messages.extend(turns_after)
        if "image" in kinds or "history" in kinds:
            return [_with_parts(message) for message in messages]
        return messages

    def format_history(self, signature: type[Signature], turns: Sequence[Mapping[str, Any]]) -> list[Message]:
        """Each earlier exchange of a `dx.History` as a user turn (its inputs) and an assistant turn (its outputs)."""
        messages: list[Message] = []
        for turn in turns:
            user = self.user_content(signature, turn)
            if user:
                messages.append({"role": "user", "content": user})
            if any(name in turn for name in signature.output_fields):
                messages.append({"role": "assistant", "content": self.assistant_content(signature, turn)})
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

    def parse_reply(
        self, signature: type[Signature], text: str, tool_calls: list[dict[str, Any]] | None, *, native_tools: bool
    ) -> dict[str, Any]:
        """The output fields of a reply: from its text, and with `native_tools` the `ToolCalls` from the provider."""
        if not native_tools:
            return self.parse(signature, text)
        shown = native_view(signature)
        found = self.parse(shown, text) if text.strip() else self.typed_fields(shown, [], text)
        from dspex_lab.modules.tool import ToolCalls

        calls = ToolCalls.from_dict_list(tool_calls or [])
        return {name: found.get(name, calls) for name in signature.output_fields}

    def typed_fields(
        self, signature: type[Signature], found: Iterable[tuple[str | None, Any]], text: str
    ) -> dict[str, Any]:
        """The first value found for each output field, coerced to its type.

        A field the reply leaves out takes its default, or None when its type allows
        None (as DSPy fills them); any other missing field is a parse error.
        """
        outputs = signature.output_fields
        fields: dict[str, Any] = {}
        for name, value in found:
            if name is not None and name in outputs and name not in fields:
                try:
                    fields[name] = parse_value(value, outputs[name].annotation)
                except ValueError as exc:
                    raise self.parse_error(f"field {name!r}: {exc}", signature, text, fields) from None
        if len(fields) == len(outputs):
            return fields
        missing = [name for name in outputs if name not in fields and outputs[name].required]
        if missing:
            raise self.parse_error(f"missing output field(s) {missing}", signature, text, fields)
        return {
            name: fields.get(name, None if info.default is MISSING else info.default) for name, info in outputs.items()
        }

    def parse_error(
        self, message: str, signature: type[Signature], text: str, found: dict[str, Any]
    ) -> AdapterParseError:
        return AdapterParseError(
            message, adapter=self.name, raw=text, expected=list(signature.output_fields), found=found
        )


def _with_parts(message: Message) -> Message:
    """A turn whose text carries images as content parts (OpenAI's shape; the clients convert it)."""
    content = message["content"]
    if isinstance(content, str) and IMAGE_START in content:
        return {**message, "content": split_parts(content)}
    return message


def field_kind(annotation: Any) -> str | None:
    """The special role of a field's type: "tool" (dx.Tool or a list of them), "tool_calls", "history",
    "trajectory", "image"; None for ordinary values. Read by duck type so nothing heavy is imported."""
    if typing.get_origin(annotation) is list:
        args = typing.get_args(annotation)
        annotation = args[0] if args else annotation
    return getattr(annotation, "dx_kind", None) if isinstance(annotation, type) else None


_SIDE = {"tool": "input", "tool_calls": "output"}


@functools.lru_cache(maxsize=512)
def special_fields(signature: type[Signature]) -> dict[str, tuple[str, ...]]:
    """The signature's fields by special kind (see `field_kind`); empty for most signatures.

    Inputs and outputs are told apart where it matters: "tool" is read on inputs
    only, "tool_calls" on outputs only. Cached: signatures are immutable.
    """
    found: dict[str, list[str]] = {}
    for name, info in signature.fields.items():
        kind = field_kind(info.annotation)
        if kind is not None and _SIDE.get(kind, info.kind) == info.kind:
            found.setdefault(kind, []).append(name)
    return {kind: tuple(names) for kind, names in found.items()}


def takes_native_tools(signature: type[Signature], supports_tool_calls: bool) -> bool:
    """True when the tools and the `ToolCalls` output go through the client's function calling."""
    if not supports_tool_calls:
        return False
    kinds = special_fields(signature)
    return "tool" in kinds and "tool_calls" in kinds


def tool_specs(signature: type[Signature], inputs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The `tools=` parameter: every tool of the signature's tools inputs, in OpenAI's shape."""
    specs: list[dict[str, Any]] = []
    for name in special_fields(signature).get("tool", ()):
        value = inputs.get(name) or []
        specs.extend(tool.spec() for tool in (value if isinstance(value, list | tuple) else [value]))
    return specs


def native_view(signature: type[Signature]) -> type[Signature]:
    """The signature as the prompt shows it under native function calling."""
    hidden = [name for name, info in signature.fields.items() if field_kind(info.annotation) in _NATIVE_KINDS]
    return without_fields(signature, tuple(hidden))


_NATIVE_KINDS = frozenset({"tool", "tool_calls", "trajectory"})


@functools.lru_cache(maxsize=256)
def without_fields(signature: type[Signature], names: tuple[str, ...]) -> type[Signature]:
    """`signature` minus some fields (it may end up with no outputs: a view for formatting only)."""
    if not names:
        return signature
    kept = [info for name, info in signature.fields.items() if name not in names]
    return make_signature(kept, signature.instructions, name=signature.__name__, checked=False)


def type_placeholder(name: str, info: FieldInfo) -> str:
    """`{answer}` plus the type note, the placeholder shown in the structure section."""
    return "{" + name + "}" + type_note(info)


def requirement_list(signature: type[Signature], quote: str) -> str:
    return ", then ".join(f"{quote.format(name)}{requirement(info)}" for name, info in signature.output_fields.items())


@functools.lru_cache(maxsize=512)
def _system_message(adapter: Adapter, signature: type[Signature]) -> str:
    # Keyed by the adapter's type and the signature's structure: both are immutable.
    return adapter._build_system_message(signature)
