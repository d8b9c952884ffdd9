"""Signatures: the declared inputs and outputs of a task, with instructions.

Two ways to write one:

    class QA(dx.Signature):
        \"\"\"Answer the question with a short fact.\"\"\"
        question: str = dx.InputField()
        answer: str = dx.OutputField(desc="a few words")

    QA = dx.Signature.parse("question -> answer")

A signature is a class and is immutable: `with_instructions`, `append`,
`prepend`, `insert` and `delete` return new signatures.
"""

from __future__ import annotations

import ast
import datetime
import enum
import keyword
import pathlib
import re
import sys
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from dspex_lab.errors import SignatureError

FieldKind = Literal["input", "output"]

RESERVED_NAMES = frozenset(
    {
        # the chat protocol's end marker
        "completed",
        # attributes of programs, examples and predictions
        "instructions",
        "demos",
        "signature",
        "inputs",
        "labels",
        "keys",
        "values",
        "items",
        "get",
        "copy",
        "without",
        "with_inputs",
        "to_dict",
        "to_json",
        "raw",
        "usage",
        # per-call options of predictors
        "config",
        "lm",
    }
)

_TYPE_NAMES: dict[str, Any] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "list": list,
    "dict": dict,
    "tuple": tuple,
    "set": set,
    "Any": Any,
    "Optional": typing.Optional,
    "Union": typing.Union,
    "Literal": Literal,
    "List": list,
    "Dict": dict,
    "Tuple": tuple,
    "None": type(None),
    "datetime": datetime.datetime,
    "date": datetime.date,
    "time": datetime.time,
    "Path": pathlib.Path,
}
_GENERIC_ORIGINS = {list: list, dict: dict, tuple: tuple, set: set}


class _Missing:
    """The marker of a field declared without a default."""

    def __repr__(self) -> str:
        return "MISSING"

    def __reduce__(self) -> str:
        # Unpickled as this module's one marker, so a shipped field without a default still has none.
        return "MISSING"


MISSING: Any = _Missing()
_PLAIN_TYPES = (
    str,
    int,
    float,
    bool,
    list,
    dict,
    tuple,
    set,
    Any,
    type(None),
    datetime.datetime,
    datetime.date,
    datetime.time,
    pathlib.Path,
)


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """What `InputField()` / `OutputField()` return inside a class signature."""

    kind: FieldKind
    desc: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    default: Any = MISSING


def InputField(*, desc: str = "", default: Any = MISSING, **extra: Any) -> Any:
    """Declare an input field of a class signature; with `default=` the caller may leave it out."""
    return FieldSpec("input", desc, extra, default)


def OutputField(*, desc: str = "", default: Any = MISSING, **extra: Any) -> Any:
    """Declare an output field; with `default=` (or an Optional type) a reply may leave it out."""
    return FieldSpec("output", desc, extra, default)


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """A field of a signature: its name, direction, type, description and default."""

    name: str
    kind: FieldKind
    annotation: Any = str
    desc: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    default: Any = field(default=MISSING, hash=False)

    @property
    def type_name(self) -> str:
        return annotation_name(self.annotation)

    @property
    def required(self) -> bool:
        """True unless the field has a default or its type admits None (as DSPy decides)."""
        return self.default is MISSING and not allows_none(self.annotation)


def allows_none(annotation: Any) -> bool:
    """Whether a type admits None: `str | None`, `Optional[int]`, `None`."""
    if annotation is None or annotation is type(None):
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(allows_none(arg) for arg in typing.get_args(annotation))
    return False


def annotation_name(annotation: Any) -> str:
    """A readable name for a type: `str`, `list[str]`, `Literal['a', 'b']`, `Optional[int]`."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any:
        return "Any"
    if origin is None:
        return getattr(annotation, "__name__", str(annotation))
    if origin is Literal:
        return "Literal[" + ", ".join(repr(a) for a in args) + "]"
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and len(args) == 2:
            return f"Optional[{annotation_name(rest[0])}]"
        return "Union[" + ", ".join(annotation_name(a) for a in args) + "]"
    return f"{getattr(origin, '__name__', str(origin))}[{', '.join(annotation_name(a) for a in args)}]"


def check_annotation(annotation: Any, where: str) -> None:
    """Raise SignatureError unless `annotation` is a type the adapters can format and parse."""
    if annotation in _PLAIN_TYPES:
        return
    origin = typing.get_origin(annotation)
    if origin is Literal:
        for value in typing.get_args(annotation):
            if not isinstance(value, str | int | float | bool) and value is not None:
                raise SignatureError(f"{where}: Literal values must be strings, numbers or booleans")
        return
    if origin is not None:
        for arg in typing.get_args(annotation):
            if arg is not Ellipsis:
                check_annotation(arg, where)
        return
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return
    if isinstance(annotation, type) and (_is_pydantic_model(annotation) or hasattr(annotation, "dx_kind")):
        return
    raise SignatureError(
        f"{where}: unsupported type {annotation!r}; use str, int, float, bool, datetime, Path, list[...], "
        "dict[...], Literal[...], an Enum, a pydantic model, or Optional[...] of these"
    )


def _is_pydantic_model(cls: type) -> bool:
    # Checked by duck type so pydantic is not imported just to declare a signature.
    return hasattr(cls, "model_json_schema") and hasattr(cls, "model_validate")


def _check_name(name: str, where: str, *, text: str | None = None, position: int | None = None) -> None:
    if not name.isidentifier() or keyword.iskeyword(name):
        raise SignatureError(
            f"{where}: {name!r} is not a valid field name; use a Python identifier such as 'my_field'",
            text=text,
            token=name,
            position=position,
        )
    if name.startswith("_"):
        raise SignatureError(
            f"{where}: field names may not start with '_' ({name!r})", text=text, token=name, position=position
        )
    if name in RESERVED_NAMES:
        raise SignatureError(
            f"{where}: {name!r} is a reserved name (it clashes with the prompt protocol or the "
            f"Example/Prediction API); rename the field, e.g. {name + '_value'!r}",
            text=text,
            token=name,
            position=position,
        )


def default_instructions(inputs: Iterable[str], outputs: Iterable[str]) -> str:
    """DSPy's default instructions for a signature with no docstring."""
    ins = ", ".join(f"`{name}`" for name in inputs)
    outs = ", ".join(f"`{name}`" for name in outputs)
    return f"Given the fields {ins}, produce the fields {outs}."


_DERIVED = ("_fields", "_inputs", "_outputs", "_instructions", "_hash")
"""What SignatureMeta computes for every signature class (from its fields and docstring)."""


class SignatureMeta(type):
    """Builds signature classes, makes them immutable, and gives them their read API."""

    _fields: Mapping[str, FieldInfo]
    _inputs: Mapping[str, FieldInfo]
    _outputs: Mapping[str, FieldInfo]
    _instructions: str
    _hash: int

    def __new__(
        mcs, name: str, bases: tuple[type, ...], namespace: dict[str, Any], checked: bool = True, **kw: Any
    ) -> SignatureMeta:
        fields: dict[str, FieldInfo] = {}
        for base in reversed(bases):
            fields.update(getattr(base, "_fields", {}))
        annotations = namespace.get("__annotations__", {})
        specs = {key: value for key, value in namespace.items() if isinstance(value, FieldSpec)}
        for attr in list(specs):
            namespace.pop(attr)
        # Declaration order is the order of the values in the class body; an annotation
        # without a value is only there to be reported.
        own = list(specs) + [key for key in annotations if key not in specs]
        for attr in own:
            if attr not in specs:
                if attr.startswith("_"):
                    continue
                raise SignatureError(
                    f"signature {name}: field {attr!r} needs a value: "
                    f"`{attr}: ... = dx.InputField()` or `= dx.OutputField()`"
                )
            annotation = _resolve_annotation(annotations.get(attr, str), namespace, name, attr)
            where = f"signature {name}, field {attr!r}"
            _check_name(attr, where)
            check_annotation(annotation, where)
            spec = specs[attr]
            fields.pop(attr, None)
            fields[attr] = FieldInfo(attr, spec.kind, annotation, spec.desc, dict(spec.extra), spec.default)
        # Everything derived is computed once here: signatures are immutable and read on every call.
        inputs = {n: f for n, f in fields.items() if f.kind == "input"}
        outputs = {n: f for n, f in fields.items() if f.kind == "output"}
        doc = namespace.get("__doc__")
        instructions = _clean_doc(doc) if doc else default_instructions(inputs, outputs)
        namespace["_fields"] = MappingProxyType(fields)
        namespace["_inputs"] = MappingProxyType(inputs)
        namespace["_outputs"] = MappingProxyType(outputs)
        namespace["_instructions"] = instructions
        namespace["_hash"] = hash((tuple(fields.values()), instructions))
        # cloudpickle rebuilds a class defined in __main__ or a notebook as an empty class named
        # like it, then sets its attributes one by one: that class stays open until they are all set.
        rebuilding = "__qualname__" not in namespace and "__annotations__" not in namespace
        namespace.setdefault("__annotations__", {})
        cls = super().__new__(mcs, name, bases, namespace, **kw)
        if rebuilding:
            type.__setattr__(cls, "_rebuilding", set(_DERIVED))
        if bases and fields and checked:
            _check_sides(cls)
        return cls

    def __init__(cls, name: str, bases: tuple[type, ...], namespace: dict[str, Any], **kw: Any) -> None:
        super().__init__(name, bases, namespace)

    def __call__(cls, text: Any = None, instructions: str | None = None, **kwargs: Any) -> Any:
        if isinstance(text, Mapping):
            return from_dict(text, instructions=instructions, **kwargs)
        if text is not None:
            return parse(text, instructions=instructions, **kwargs)
        raise TypeError(
            "signatures are declarations, not objects to instantiate: use the class itself, "
            "or dx.Signature('question -> answer') to parse a string"
        )

    def __setattr__(cls, name: str, value: Any) -> None:
        own = cls.__dict__
        if name.startswith("__") or not isinstance(cls, SignatureMeta) or "_fields" not in own:
            super().__setattr__(name, value)
            return
        waiting = own.get("_rebuilding")
        if waiting is not None:
            super().__setattr__(name, value)
            waiting.discard(name)
            if not waiting:
                type.__delattr__(cls, "_rebuilding")
                # The shipped hash was made with another process's string hashing: make this one's.
                type.__setattr__(cls, "_hash", hash((tuple(cls._fields.values()), cls._instructions)))
            return
        if name == "_hash" or (name in own and own[name] == value):
            return  # unpickling a class this process already has: nothing changes
        raise AttributeError(
            f"signatures are immutable; use {cls.__name__}.with_instructions(...), .append(...), "
            ".prepend(...) or .delete(...) to get a changed copy"
        )

    @property
    def fields(cls) -> Mapping[str, FieldInfo]:
        """All fields, inputs first, in declaration order (read-only)."""
        return cls._fields

    @property
    def input_fields(cls) -> Mapping[str, FieldInfo]:
        return cls._inputs

    @property
    def output_fields(cls) -> Mapping[str, FieldInfo]:
        return cls._outputs

    @property
    def instructions(cls) -> str:
        return cls._instructions

    @property
    def signature(cls) -> str:
        """The string form, e.g. `question, k: int -> answer`."""

        def side(fields: Mapping[str, FieldInfo]) -> str:
            return ", ".join(n if f.annotation is str else f"{n}: {f.type_name}" for n, f in fields.items())

        return f"{side(cls.input_fields)} -> {side(cls.output_fields)}"

    def __repr__(cls) -> str:
        if "_fields" not in cls.__dict__ or not cls._fields:
            return f"<signature base {cls.__name__}>"
        return f"{cls.__name__}({cls.signature}; instructions={cls.instructions!r})"

    def __eq__(cls, other: object) -> bool:
        if not isinstance(other, SignatureMeta):
            return NotImplemented
        return list(cls._fields.values()) == list(other._fields.values()) and cls.instructions == other.instructions

    def __hash__(cls) -> int:
        return cls._hash


def _clean_doc(doc: str) -> str:
    import inspect

    return inspect.cleandoc(doc).strip()


def _resolve_annotation(annotation: Any, namespace: dict[str, Any], cls_name: str, attr: str) -> Any:
    if not isinstance(annotation, str):
        return annotation
    # `from __future__ import annotations` leaves strings: evaluate them with the
    # module's globals, where the user's own types (Enums, models) live.
    # A type local to the function that declares the class is found in that function's frame.
    module = sys.modules.get(namespace.get("__module__", ""), None)
    scope = {**_TYPE_NAMES, **(vars(module) if module else {}), **namespace}
    try:
        return eval(annotation, scope)
    except NameError:
        frame = caller_frame()
        if frame is None:
            raise SignatureError(f"signature {cls_name}, field {attr!r}: cannot resolve type {annotation!r}") from None
        scope = {**_TYPE_NAMES, **frame.f_globals, **frame.f_locals, **namespace}
    try:
        return eval(annotation, scope)
    except Exception as exc:
        raise SignatureError(
            f"signature {cls_name}, field {attr!r}: cannot resolve type {annotation!r}: {exc}"
        ) from exc


def _check_sides(cls: SignatureMeta) -> None:
    if not cls.input_fields:
        raise SignatureError(f"signature {cls.__name__} has no input fields; declare at least one dx.InputField()")
    if not cls.output_fields:
        raise SignatureError(f"signature {cls.__name__} has no output fields; declare at least one dx.OutputField()")


class Signature(metaclass=SignatureMeta):
    """Base class of signatures; see the module docstring."""

    @classmethod
    def parse(
        cls, text: str, instructions: str | None = None, custom_types: dict[str, Any] | None = None
    ) -> type[Signature]:
        """Parse `"question, context: list[str] -> answer, confidence: float"` into a signature."""
        return parse(text, instructions=instructions, custom_types=custom_types)

    @classmethod
    def with_instructions(cls, instructions: str) -> type[Signature]:
        """A copy with new instructions."""
        return make_signature(list(cls._fields.values()), instructions, name=cls.__name__)

    @classmethod
    def append_instructions(cls, instructions: str) -> type[Signature]:
        """A copy whose instructions are these ones followed by `instructions`, a blank line between."""
        return cls.with_instructions(f"{cls.instructions}\n\n{instructions}")

    @classmethod
    def with_updated_fields(cls, name: str, type_: Any = None, **changes: Any) -> type[Signature]:
        """A copy with field `name` changed: a new type, `desc=`, `default=` or other extra keys.

        `Sig.with_updated_fields("answer", desc="one word")`
        """
        if name not in cls._fields:
            raise SignatureError(f"signature {cls.__name__} has no field {name!r}; its fields are {list(cls._fields)}")
        old = cls._fields[name]
        annotation = old.annotation if type_ is None else type_
        if type_ is not None:
            check_annotation(annotation, f"signature {cls.__name__}, field {name!r}")
        desc = changes.pop("desc", old.desc)
        default = changes.pop("default", old.default)
        new = FieldInfo(name, old.kind, annotation, desc, {**old.extra, **changes}, default)
        fields = [new if key == name else info for key, info in cls._fields.items()]
        return make_signature(fields, cls.instructions, name=cls.__name__)

    @classmethod
    def append(cls, name: str, field_spec: Any, type_: Any = str) -> type[Signature]:
        """A copy with a field added after the others of its kind (input or output)."""
        return cls.insert(-1, name, field_spec, type_)

    @classmethod
    def prepend(cls, name: str, field_spec: Any, type_: Any = str) -> type[Signature]:
        """A copy with a field added before the others of its kind (input or output)."""
        return cls.insert(0, name, field_spec, type_)

    @classmethod
    def insert(cls, index: int, name: str, field_spec: Any, type_: Any = str) -> type[Signature]:
        """A copy with a field inserted at `index` among the fields of its kind (-1 = last).

        The instructions are kept as they were, defaults included (as DSPy does).
        """
        if not isinstance(field_spec, FieldSpec):
            raise SignatureError(
                f"insert {name!r}: the field must be dx.InputField(...) or dx.OutputField(...), got {field_spec!r}"
            )
        where = f"signature {cls.__name__}, new field {name!r}"
        _check_name(name, where)
        check_annotation(type_, where)
        if name in cls._fields:
            raise SignatureError(f"{where}: a field named {name!r} already exists")
        new = FieldInfo(name, field_spec.kind, type_, field_spec.desc, dict(field_spec.extra), field_spec.default)
        inputs = list(cls.input_fields.values())
        outputs = list(cls.output_fields.values())
        side = inputs if new.kind == "input" else outputs
        side.insert(len(side) if index == -1 else index, new)
        return make_signature(inputs + outputs, cls.instructions, name=cls.__name__)

    @classmethod
    def delete(cls, name: str) -> type[Signature]:
        """A copy without the field `name`."""
        if name not in cls._fields:
            raise SignatureError(f"signature {cls.__name__} has no field {name!r}; its fields are {list(cls._fields)}")
        return make_signature([f for n, f in cls._fields.items() if n != name], cls.instructions, name=cls.__name__)


def make_signature(
    fields: list[FieldInfo], instructions: str | None, name: str = "StringSignature", *, checked: bool = True
) -> type[Signature]:
    """Build a signature class from field infos (`checked=False`: a view that may lack inputs or outputs)."""
    namespace: dict[str, Any] = {"__doc__": instructions, "__module__": __name__, "__annotations__": {}}
    for info in fields:
        namespace["__annotations__"][info.name] = info.annotation
        namespace[info.name] = FieldSpec(info.kind, info.desc, dict(info.extra), info.default)
    return typing.cast(type[Signature], SignatureMeta(name, (Signature,), namespace, checked=checked))


def from_dict(
    fields: Mapping[str, Any], instructions: str | None = None, name: str = "StringSignature"
) -> type[Signature]:
    """A signature from `{"question": dx.InputField(), "answer": (int, dx.OutputField())}`, in that order."""
    infos = []
    for key, value in fields.items():
        annotation, spec = value if isinstance(value, tuple) and len(value) == 2 else (str, value)
        if not isinstance(spec, FieldSpec):
            raise SignatureError(
                f"field {key!r}: expected dx.InputField()/dx.OutputField() or (type, field), got {value!r}"
            )
        where = f"signature {name}, field {key!r}"
        _check_name(key, where)
        check_annotation(annotation, where)
        infos.append(FieldInfo(key, spec.kind, annotation, spec.desc, dict(spec.extra), spec.default))
    return make_signature(infos, instructions, name=name)


def ensure_signature(signature: str | type[Signature]) -> type[Signature]:
    """Accept a signature class or its string form."""
    if isinstance(signature, str):
        return parse(signature)
    if isinstance(signature, SignatureMeta) and signature is not Signature:
        return signature
    raise SignatureError(
        f"expected a signature (a dx.Signature subclass or a string like 'question -> answer'), got {signature!r}"
    )


# --- the string form -------------------------------------------------------------------------------

_SPLIT = re.compile(r"->")


def parse(text: str, instructions: str | None = None, custom_types: dict[str, Any] | None = None) -> type[Signature]:
    """Parse the string form of a signature; errors point at the offending token."""
    if not isinstance(text, str):
        raise SignatureError(f"a string signature must be a str, got {type(text).__name__}")
    arrows = [m.start() for m in _SPLIT.finditer(text)]
    if not arrows:
        raise SignatureError(
            "missing '->' between inputs and outputs (write e.g. 'question -> answer')",
            text=text,
            token=text.strip() or " ",
            position=len(text) - len(text.lstrip()),
        )
    if len(arrows) > 1:
        raise SignatureError("more than one '->' in the signature", text=text, token="->", position=arrows[1])
    arrow = arrows[0]
    types_scope = {**_TYPE_NAMES, **(custom_types or {})}
    inputs = _parse_side(text, 0, arrow, "input", types_scope)
    outputs = _parse_side(text, arrow + 2, len(text), "output", types_scope)
    seen: dict[str, int] = {}
    for info, position in inputs + outputs:
        if info.name in seen:
            raise SignatureError(
                f"duplicate field name {info.name!r} (first at position {seen[info.name]})",
                text=text,
                token=info.name,
                position=position,
            )
        seen[info.name] = position
    return make_signature([info for info, _ in inputs + outputs], instructions)


def _parse_side(text: str, start: int, end: int, kind: FieldKind, scope: dict[str, Any]) -> list[tuple[FieldInfo, int]]:
    segment = text[start:end]
    if not segment.strip():
        side = "input fields before" if kind == "input" else "output fields after"
        raise SignatureError(f"no {side} '->'", text=text, token="->", position=start - 2 if kind == "output" else end)
    fields = []
    for piece, offset in _split_top_level(segment):
        position = start + offset + (len(piece) - len(piece.lstrip()))
        stripped = piece.strip()
        if not stripped:
            comma = start + offset - 1 if offset > 0 else start + len(piece)
            raise SignatureError("empty field name (a stray comma?)", text=text, token=",", position=comma)
        name, colon, type_text = stripped.partition(":")
        name = name.strip()
        _check_name(name, f"{kind} field", text=text, position=position)
        annotation: Any = str
        if colon:
            type_position = position + stripped.index(":") + 1
            type_position += len(type_text) - len(type_text.lstrip())
            annotation = _parse_type(type_text.strip(), scope, text, type_position, name)
        fields.append((FieldInfo(name, kind, annotation), position))
    return fields


def _split_top_level(segment: str) -> list[tuple[str, int]]:
    """Split on commas that are not inside brackets; keep each piece's offset."""
    pieces, depth, begin, quote = [], 0, 0, ""
    for i, char in enumerate(segment):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
        elif char == "," and depth == 0:
            pieces.append((segment[begin:i], begin))
            begin = i + 1
    pieces.append((segment[begin:], begin))
    return pieces


def _parse_type(type_text: str, scope: dict[str, Any], text: str, position: int, field_name: str) -> Any:
    if not type_text:
        raise SignatureError(
            f"missing type after ':' for field {field_name!r}", text=text, token=":", position=position - 1
        )
    try:
        tree = ast.parse(type_text, mode="eval").body
    except SyntaxError:
        raise SignatureError(
            f"cannot read the type of field {field_name!r}", text=text, token=type_text, position=position
        ) from None
    return _type_from_ast(tree, scope, text, position, field_name, type_text)


def _type_from_ast(node: ast.expr, scope: dict[str, Any], text: str, base: int, field_name: str, type_text: str) -> Any:
    def fail(message: str, bad: ast.AST) -> SignatureError:
        offset = getattr(bad, "col_offset", 0)
        token = ast.get_source_segment(type_text, bad) or type_text
        return SignatureError(message, text=text, token=token, position=base + offset)

    def convert(n: ast.expr) -> Any:
        if isinstance(n, ast.Name):
            if n.id not in scope:
                found = _from_caller(n.id)
                if found is not None:
                    return found
                known = ", ".join(sorted(k for k in scope if k[0].islower()))
                raise fail(
                    f"unknown type {n.id!r} for field {field_name!r}; known types: {known}, Literal[...], "
                    "Optional[...]; pass custom_types={...} for your own Enums or models",
                    n,
                )
            return scope[n.id]
        if isinstance(n, ast.Attribute):
            dotted = ast.get_source_segment(type_text, n) or ""
            if dotted in scope:
                return scope[dotted]
            head, *rest = dotted.split(".")
            found = scope.get(head) or _from_caller(head)
            for part in rest:
                found = getattr(found, part, None)
            if found is not None:
                return found
            raise fail(f"unknown type {dotted!r} for field {field_name!r}; pass it in custom_types={{...}}", n)
        if isinstance(n, ast.Constant) and n.value is None:
            return type(None)
        if isinstance(n, ast.Constant) and n.value is Ellipsis:
            return Ellipsis
        if isinstance(n, ast.BinOp) and isinstance(n.op, ast.BitOr):
            return typing.Union[convert(n.left), convert(n.right)]  # noqa: UP007 - built at run time
        if isinstance(n, ast.Subscript):
            origin = convert(n.value)
            items = n.slice.elts if isinstance(n.slice, ast.Tuple) else [n.slice]
            if origin is Literal:
                values = []
                for item in items:
                    if not isinstance(item, ast.Constant):
                        raise fail("Literal[...] takes only constants such as 'yes' or 3", item)
                    values.append(item.value)
                return Literal[tuple(values)]
            args = tuple(convert(item) for item in items)
            if origin is typing.Optional:
                if len(args) != 1:
                    raise fail("Optional[...] takes exactly one type", n)
                return typing.Optional[args[0]]  # noqa: UP045 - built at run time
            if origin is typing.Union:
                return typing.Union[args]  # noqa: UP007 - built at run time
            if Ellipsis in args and not (origin is tuple and len(args) == 2 and args[1] is Ellipsis):
                raise fail("'...' is only allowed as tuple[T, ...]", n)
            if origin in _GENERIC_ORIGINS:
                return origin[args if len(args) > 1 else args[0]]
            raise fail(f"type {ast.get_source_segment(type_text, n.value)!r} does not take parameters", n)
        raise fail(f"cannot read the type of field {field_name!r}", n)

    annotation = convert(node)
    check_annotation(annotation, f"field {field_name!r}")
    return annotation


def _from_caller(name: str) -> Any:
    """`name` as seen by the code that asked for the signature (its locals, then its module).

    DSPy resolves custom types in string signatures this way, so `"x: MyModel -> y"`
    works without `custom_types=` when `MyModel` is in scope where the string is written.
    """
    frame = caller_frame()
    if frame is None:
        return None
    if name in frame.f_locals:
        return frame.f_locals[name]
    return frame.f_globals.get(name)


def caller_frame() -> types.FrameType | None:
    """The innermost frame outside dspex_lab: the user's code that declared or asked for a signature."""
    frame: types.FrameType | None = sys._getframe(1)
    while frame is not None and str(frame.f_globals.get("__name__", "")).startswith("dspex_lab"):
        frame = frame.f_back
    return frame
