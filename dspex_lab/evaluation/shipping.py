"""Turning the work of a run into bytes for other processes, and saying precisely what cannot travel.

Work is pickled with cloudpickle, so functions and classes defined in a
notebook travel by value. When something cannot be pickled (a lock, an open
file or connection held by an LM, a metric closing over one), pickle's own
error names only a type; `dumps` then walks the object graph to the innermost
object that fails and names it by its path from the root ("program.qa.lm._db")
with what to do about it.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Any

from dspex_lab.errors import ShippingError

__all__ = ["ShippingError", "dumps"]

MAX_DEPTH = 40


def dumps(roots: dict[str, Any]) -> bytes:
    """`roots` (names -> objects) as one cloudpickle blob; ShippingError naming the culprit when one fails."""
    import cloudpickle

    try:
        return cloudpickle.dumps(roots, protocol=5)
    except Exception as exc:
        found = _culprit(roots)
        if found is None:
            raise ShippingError(f"the work cannot be sent to the workers: {type(exc).__name__}: {exc}") from exc
        raise ShippingError(_explain(*found)) from exc


def _explain(path: str, culprit: Any, function: str | None, owner: str | None, error: Exception) -> str:
    kind = type(culprit)
    what = f"{path} (a {kind.__module__}.{kind.__qualname__})"
    head = f"cannot send {what} to the workers: {type(error).__name__}: {error}."
    if function is not None:
        return (
            f"{head} The function {function} uses it and is sent along with the work: make the object "
            "inside the function (it then runs on the worker), or keep it in an importable module the "
            "workers have, and let the function close over plain values only."
        )
    holder = owner or kind.__qualname__
    return (
        f"{head} An object holding an open resource (a file, socket, lock or connection) cannot travel: "
        f"give {holder} __getstate__/__setstate__ that leave the resource out and open it again "
        "on first use (as dx.LM clients do with their connections), or create it on the workers."
    )


Found = tuple[str, Any, "str | None", "str | None", Exception]
"""(path, object, the function using it, the class holding it, its pickling error)."""


def _culprit(roots: dict[str, Any]) -> Found | None:
    """The innermost unpicklable object under `roots`."""
    seen: set[int] = set()
    frontier: list[tuple[str, Any, str | None, str | None]] = []
    for name, obj in roots.items():
        if isinstance(obj, types.FunctionType) and obj.__module__ != "__main__":
            # The work function itself (evaluate's, an optimizer's): what it uses is what the user gave.
            frontier.extend((edge.removeprefix(" -> "), child, None, None) for edge, child in _children(obj))
        else:
            frontier.append((name, obj, None, None))
    found: Found | None = None
    for _ in range(MAX_DEPTH):
        for path, obj, function, owner in frontier:
            error = _error(obj)
            if error is not None:
                found = (path, obj, function, owner, error)
                break
        else:
            return found
        path, obj, function, owner, _ = found
        seen.add(id(obj))
        if isinstance(obj, types.FunctionType):
            function, owner = obj.__qualname__, None
        elif not isinstance(obj, dict | list | tuple | set | frozenset):
            owner = type(obj).__qualname__
        frontier = [(path + edge, child, function, owner) for edge, child in _children(obj) if id(child) not in seen]
        if not frontier:
            return found
    return found


def _error(obj: Any) -> Exception | None:
    import cloudpickle

    try:
        cloudpickle.dumps(obj, protocol=5)
    except Exception as exc:
        return exc
    return None


def _children(obj: Any) -> Iterator[tuple[str, Any]]:
    """(path step, child) for what pickling `obj` also pickles."""
    if isinstance(obj, types.FunctionType):
        code = obj.__code__
        for name, cell in zip(code.co_freevars, obj.__closure__ or ()):
            try:
                yield f" -> {name}", cell.cell_contents
            except ValueError:  # an empty cell
                continue
        for name in code.co_names:
            if name in obj.__globals__:
                yield f" -> {name}", obj.__globals__[name]
        for index, default in enumerate(obj.__defaults__ or ()):
            yield f".__defaults__[{index}]", default
        return
    if isinstance(obj, types.MethodType):
        yield ".__self__", obj.__self__
        yield ".__func__", obj.__func__
        return
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield f"[{key!r}]", value
        return
    if isinstance(obj, list | tuple | set | frozenset):
        for index, value in enumerate(obj):
            yield f"[{index}]", value
        return
    # What pickle itself would save: the state __reduce_ex__ gives (which __getstate__ shapes).
    try:
        reduced = obj.__reduce_ex__(5)
    except Exception:
        return
    if not isinstance(reduced, tuple):
        return
    state = reduced[2] if len(reduced) > 2 else None
    if isinstance(state, tuple) and len(state) == 2:
        state = {**(state[0] or {}), **(state[1] or {})}
    if isinstance(state, dict):
        for key, value in state.items():
            yield f".{key}", value
    for index, arg in enumerate(reduced[1] if len(reduced) > 1 and isinstance(reduced[1], tuple) else ()):
        if not isinstance(arg, type):
            yield f"<argument {index}>", arg
