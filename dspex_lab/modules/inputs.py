"""Checking a call's inputs against its signature, as a predictor receives them.

A missing required input or an unknown one is an error (DSPy only warns: a
typo would otherwise reach the LM silently); a missing input with a default
takes it; a value that does not fit its declared type is a warning, as in DSPy
(the adapter can still format it, and some mismatches are deliberate).
"""

from __future__ import annotations

import enum
import functools
import types
import typing
import warnings
from typing import Any, Literal

from dspex_lab.errors import InputError
from dspex_lab.signature import MISSING, Signature, annotation_name


class InputTypeWarning(UserWarning):
    """An input's value does not match the type its signature declares."""


@functools.lru_cache(maxsize=512)
def _plan(signature: type[Signature]) -> tuple[frozenset[str], tuple[tuple[str, Any], ...]]:
    """The signature's input names, and the (name, type) of inputs whose values are type-checked."""
    fields = signature.input_fields
    typed = tuple((name, info.annotation) for name, info in fields.items() if info.annotation is not str)
    return frozenset(fields), typed


def check_inputs(signature: type[Signature], inputs: dict[str, Any]) -> dict[str, Any]:
    """The inputs with declared defaults filled in; an error for a missing required or unknown one."""
    names, typed = _plan(signature)
    for name, annotation in typed:
        value = inputs.get(name)
        if value is not None and not fits(value, annotation):
            warnings.warn(
                f"input {name!r} of signature '{signature.signature}' is declared {annotation_name(annotation)} "
                f"but got {type(value).__name__} {value!r:.80}",
                InputTypeWarning,
                stacklevel=5,
            )
    if inputs.keys() == names:
        return inputs  # every input given, none unknown: the common case
    expected = signature.input_fields
    missing = [name for name, info in expected.items() if name not in inputs and info.required]
    if missing:
        required = [name for name, info in expected.items() if info.required]
        optional = [name for name in expected if name not in required]
        hint = f" (optional: {optional})" if optional else ""
        raise InputError(
            f"missing input field(s) {missing} for signature '{signature.signature}'; "
            f"call it with {', '.join(f'{n}=...' for n in required)}{hint}"
        )
    unknown = [name for name in inputs if name not in expected]
    if unknown:
        raise InputError(
            f"unexpected input field(s) {unknown} for signature '{signature.signature}'; "
            f"its inputs are {list(expected)} (pass example.inputs() rather than the whole example)"
        )
    defaults = {
        name: info.default for name, info in expected.items() if name not in inputs and info.default is not MISSING
    }
    return {**inputs, **defaults} if defaults else inputs


def fits(value: Any, annotation: Any) -> bool:
    """Whether `value` matches `annotation` (DSPy's check: unions, Literal, containers, models, Enums)."""
    if annotation is Any:
        return True
    if annotation is str:
        return isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
    if annotation is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(fits(value, arg) for arg in args)
    if origin is Literal:
        return value in args
    if origin in (list, set, frozenset):
        return isinstance(value, origin) and (not args or all(fits(item, args[0]) for item in value))
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(fits(item, args[0]) for item in value)
        return not args or (len(args) == len(value) and all(fits(v, a) for v, a in zip(value, args, strict=True)))
    if origin is dict:
        return isinstance(value, dict) and (
            not args or all(fits(k, args[0]) and fits(v, args[1]) for k, v in value.items())
        )
    if annotation is type(None):
        return value is None
    if isinstance(annotation, type):
        if issubclass(annotation, enum.Enum):
            return isinstance(value, annotation) or value in {member.value for member in annotation}
        if hasattr(annotation, "model_validate") and isinstance(value, dict):
            return True  # a pydantic model given as its fields
        return isinstance(value, annotation)
    return True
