"""Module: the base class of programs.

A program is a Module whose `forward(**inputs)` calls predictors and other
modules held in its attributes. Every call is a traced span named by the
module's dotted path in the root program (`qa`, `qa.generate`, `qa.steps[1]`),
and the Prediction it returns carries the usage of every LM call made inside.

A call's path is worked out when the call starts, from where the calling
module holds the callee right then, so it follows every change to the
program's structure (an attribute set, a predictor appended to a list) with
nothing cached to go stale; a root call looks nothing up.
"""

from __future__ import annotations

import copy
import json
import re
import warnings
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

from dspex_lab.errors import InputError
from dspex_lab.lm.usage import track_usage
from dspex_lab.loop import run_in_worker
from dspex_lab.prediction import Prediction
from dspex_lab.trace import events, schema

if TYPE_CHECKING:
    from dspex_lab.modules.predict import Predict

M = TypeVar("M", bound="Module")

SAVE_FORMAT = "dspex_lab.program"
SAVE_VERSION = 1

# (dotted path of the running module, the module)
_running: ContextVar[tuple[str, Module] | None] = ContextVar("dspex_component", default=None)


def running_component() -> str | None:
    """The dotted path of the module running in this context (None outside any program call)."""
    current = _running.get()
    return current[0] if current is not None else None


def path_in_running_program(module: Module) -> str | None:
    """`module`'s dotted path in the program running in this context (None when not inside it)."""
    current = _running.get()
    if current is None:
        return None
    path, running = current
    if running is module:
        return path
    return _child_path(running, path, module, fallback=False)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class Module:
    """Base class of programs; subclass it and define `forward` (and optionally `aforward`)."""

    name: str | None = None
    """The component name in traces when this module is the root (default: the class name in snake_case)."""
    is_predictor: ClassVar[bool] = False
    """True for `Predict` and its subclasses: the modules that hold demos and call an LM."""

    @property
    def component_name(self) -> str:
        return self.name or _snake(type(self).__name__)

    # --- structure ----------------------------------------------------------------------------
    def named_sub_modules(self) -> list[tuple[str, Module]]:
        """Every module below this one, as (dotted name, module), depth first, each once."""
        found: list[tuple[str, Module]] = []
        seen = {id(self)}

        def visit(prefix: str, value: Any) -> None:
            if isinstance(value, Module):
                if id(value) in seen:
                    return
                seen.add(id(value))
                found.append((prefix, value))
                for attr, child in _attributes(value):
                    visit(f"{prefix}.{attr}", child)
            elif isinstance(value, list | tuple):
                for index, item in enumerate(value):
                    visit(f"{prefix}[{index}]", item)
            elif isinstance(value, dict):
                for key, item in value.items():
                    visit(f"{prefix}[{key!r}]", item)

        for attr, child in _attributes(self):
            visit(attr, child)
        return found

    def named_predictors(self) -> list[tuple[str, Predict]]:
        """The predictors of this program, as (dotted name, predictor)."""
        found = [(name, module) for name, module in self.named_sub_modules() if module.is_predictor]
        return cast("list[tuple[str, Predict]]", found)

    def predictors(self) -> list[Predict]:
        return [predictor for _, predictor in self.named_predictors()]

    @property
    def demos(self) -> dict[str, list[Any]] | list[Any]:
        """Each predictor's demos by name: what an optimizer installed, at a glance."""
        return {name: list(predictor.demos) for name, predictor in self.named_predictors()}

    @property
    def history(self) -> list[dict[str, Any]]:
        """The LM calls made inside this module's most recent component path, oldest first, from the trace
        (DSPy's per-module history): each with `messages`, `params`, `text`, `model`, `usage` and `span_id`."""
        from dspex_lab.modules.calls import lm_calls

        path = self.__dict__.get("_dx_path")
        return lm_calls(path) if path is not None else []

    # --- copies --------------------------------------------------------------------------------
    def deepcopy(self: M) -> M:
        """An independent copy: sub-modules and demos are copied; LMs and adapters are shared."""
        return copy.deepcopy(self)

    def __deepcopy__(self: M, memo: dict[int, Any]) -> M:
        new = copy.copy(self)
        memo[id(self)] = new
        for key, value in list(vars(self).items()):
            if key != "_dx_path":
                setattr(new, key, _copy_value(value, memo))
        return new

    def reset_demos(self) -> None:
        """Remove every predictor's demos, in place (their LMs stay)."""
        for predictor in self.predictors():
            predictor.demos = []

    def reset(self) -> None:
        """Reset every predictor, in place: `Predict.reset()` drops its demos and its pinned LM, as in DSPy."""
        for predictor in self.predictors():
            predictor.reset()

    # --- calls ---------------------------------------------------------------------------------
    def forward(self, **inputs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward(self, **inputs)")

    async def aforward(self, **inputs: Any) -> Any:
        """Async form of `forward`; by default runs `forward` in a worker thread."""
        return await run_in_worker(self.forward, **inputs)

    def __call__(self, *args: Any, **inputs: Any) -> Any:
        """Run the program: `program(question=...)` returns a Prediction."""
        _no_positional(self, args)
        path = _enter(self)
        token = _running.set((path, self))
        try:
            with track_usage() as usage, _span(self, path, inputs) as span:
                result = self.forward(**inputs)
                _finish(span, result, usage)
        finally:
            _running.reset(token)
        return result

    async def acall(self, *args: Any, **inputs: Any) -> Any:
        """The async form: `await program.acall(question=...)`."""
        _no_positional(self, args)
        path = _enter(self)
        token = _running.set((path, self))
        try:
            with track_usage() as usage, _span(self, path, inputs) as span:
                result = await self.aforward(**inputs)
                _finish(span, result, usage)
        finally:
            _running.reset(token)
        return result

    # --- persistence ---------------------------------------------------------------------------
    def dump_state(self) -> dict[str, Any]:
        """The learnable state (each predictor's signature, instructions and demos) as plain data."""
        return {
            "format": SAVE_FORMAT,
            "version": SAVE_VERSION,
            "program": type(self).__name__,
            "predictors": {name: predictor.dump_predictor_state() for name, predictor in self._state_items()},
        }

    def load_state(self: M, state: dict[str, Any], source: str = "state", *, allow_unsafe_lm_state: bool = False) -> M:
        """Load what `dump_state` produced into this program, in place, and return it.

        All or nothing: every predictor's state is checked and built before any is changed.
        Saved `lm_kwargs` keep only sampling parameters (temperature, max_tokens,
        stop, ...): a file cannot switch the billed model, the endpoint, the
        credentials or the request's shape unless `allow_unsafe_lm_state=True`;
        ignored keys are named in a warning. A saved LM (model name and sampling
        parameters, never keys or endpoints) replaces a predictor's LM under the
        same rule; otherwise it is ignored with a warning.
        """
        if not isinstance(state, dict) or state.get("format") != SAVE_FORMAT:
            raise ValueError(f"{source} is not a saved dspex_lab program (no 'format': '{SAVE_FORMAT}')")
        if state.get("version") != SAVE_VERSION:
            raise ValueError(f"{source} has format version {state.get('version')}; this dspex_lab reads {SAVE_VERSION}")
        saved = state.get("predictors", {})
        if not isinstance(saved, dict):
            raise ValueError(f"{source}: 'predictors' must be an object of name -> predictor state, got {saved!r:.80}")
        mine = dict(self._state_items())
        if set(saved) != set(mine):
            raise ValueError(
                f"{source} does not fit {type(self).__name__}: it has predictors {sorted(saved)}, "
                f"the program has {sorted(mine)}"
            )
        loaded = []
        for name, predictor in mine.items():
            context = f"{source}, predictor {name!r}"
            entry = check_saved_predictor(saved[name], context)
            entry["lm_kwargs"] = safe_lm_kwargs(entry.get("lm_kwargs") or {}, context, allow_unsafe_lm_state)
            try:
                ready = predictor.read_predictor_state(
                    entry, source=context, allow_unsafe_lm_state=allow_unsafe_lm_state
                )
            except (AttributeError, TypeError, KeyError) as exc:
                raise ValueError(f"{context} holds a value of the wrong type ({type(exc).__name__}: {exc})") from None
            loaded.append((predictor, ready))
        for predictor, ready in loaded:
            predictor.apply_predictor_state(ready)
        return self

    def save(self, path: str | Path) -> Path:
        """Write the program's state to a JSON file (never pickle: loading it runs no code)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(json.dumps(self.dump_state(), indent=2, ensure_ascii=False), encoding="utf-8")
        tmp.replace(target)
        return target

    def _state_items(self) -> list[tuple[str, Predict]]:
        return self.named_predictors()

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}("]
        for name, predictor in self.named_predictors():
            lines.append(f"  {name} = {predictor!r}")
        lines.append(")")
        return "\n".join(lines) if len(lines) > 2 else f"{type(self).__name__}()"


def load(path: str | Path, into: Module | type[Module], *, allow_unsafe_lm_state: bool = False) -> Module:
    """Read a program saved with `save()` into a fresh copy of `into` (an instance or a class).

    `into` itself is left untouched; the file must match its predictors and
    signatures. See `Module.load_state` for `allow_unsafe_lm_state`.
    """
    source = Path(path)
    hint = "was it written by program.save()? Save the program again to replace it"
    try:
        state = json.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"no saved program at {source}") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{source} is not UTF-8 text (byte {exc.start} cannot be decoded); {hint}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{source} is not valid JSON ({exc}); {hint}") from None
    except RecursionError:
        raise ValueError(f"{source} nests its JSON deeper than Python can read; {hint}") from None
    program = into() if isinstance(into, type) else into.deepcopy()
    program.load_state(state, source=str(source), allow_unsafe_lm_state=allow_unsafe_lm_state)
    return program


# --- helpers ----------------------------------------------------------------------------------

SAMPLING_KEYS = frozenset(
    {
        "temperature",
        "top_p",
        "top_k",
        "min_p",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "repeat_penalty",
        "logit_bias",
        "reasoning_effort",
    }
)
"""The `lm_kwargs` a saved program may set; anything else (model, endpoint, keys, headers,
messages, tools, extra bodies) shapes the request or the bill and needs allow_unsafe_lm_state."""

_PREDICTOR_FIELDS = {"signature": str, "instructions": str, "fields": list, "demos": list, "lm_kwargs": dict}


def check_saved_predictor(entry: Any, where: str) -> dict[str, Any]:
    """A saved predictor's state, with each field's type checked (a ValueError names the field)."""
    if not isinstance(entry, dict):
        raise ValueError(f"{where} must be an object, got {type(entry).__name__}")
    for key, kind in _PREDICTOR_FIELDS.items():
        value = entry.get(key)
        if value is not None and not isinstance(value, kind):
            raise ValueError(f"{where}: field {key!r} must be a {kind.__name__}, got {type(value).__name__}")
    for index, field in enumerate(entry.get("fields") or []):
        if not isinstance(field, dict) or not isinstance(field.get("name"), str):
            raise ValueError(f"{where}: fields[{index}] must be an object with a 'name', got {field!r:.80}")
    for index, demo in enumerate(entry.get("demos") or []):
        if not isinstance(demo, dict):
            raise ValueError(f"{where}: demos[{index}] must be an object of fields, got {type(demo).__name__}")
    return dict(entry)


def safe_lm_kwargs(saved: dict[str, Any], where: str, allow_unsafe: bool) -> dict[str, Any]:
    """`saved` without keys outside `SAMPLING_KEYS` (warned about), unless `allow_unsafe`."""
    if allow_unsafe:
        return dict(saved)
    ignored = sorted(key for key in saved if key not in SAMPLING_KEYS)
    if ignored:
        warnings.warn(
            f"{where}: ignored saved lm_kwargs {ignored}: a saved program may set sampling parameters "
            f"only ({', '.join(sorted(SAMPLING_KEYS))}); pass allow_unsafe_lm_state=True to load them "
            "from a file you trust",
            UserWarning,
            stacklevel=4,
        )
    return {key: value for key, value in saved.items() if key in SAMPLING_KEYS}


def _attributes(module: Module) -> Iterator[tuple[str, Any]]:
    for key, value in vars(module).items():
        if not key.startswith("_"):
            yield key, value


def _copy_value(value: Any, memo: dict[int, Any]) -> Any:
    if isinstance(value, Module):
        return copy.deepcopy(value, memo)
    if isinstance(value, list):
        return [_copy_value(item, memo) for item in value]
    if isinstance(value, tuple):
        return tuple(_copy_value(item, memo) for item in value)
    if isinstance(value, dict):
        return {key: _copy_value(item, memo) for key, item in value.items()}
    if _shared(value):
        return value
    try:
        return copy.deepcopy(value, memo)
    except Exception:
        # Clients, connections and other uncopyable resources are shared, as in DSPy.
        return value


def _shared(value: Any) -> bool:
    from dspex_lab.adapters.base import Adapter
    from dspex_lab.lm.base import BaseLM

    return isinstance(value, BaseLM | Adapter | type)


def _no_positional(module: Module, args: tuple[Any, ...]) -> None:
    if args:
        raise InputError(
            f"{type(module).__name__} takes its inputs as keywords, e.g. {_call_example(module)}; "
            f"got {len(args)} positional argument(s)"
        )


def _call_example(module: Module) -> str:
    """`program(question=..., context=...)` with the real input names where they are known."""
    names: list[str] = []
    signature = getattr(module, "signature", None)
    if signature is not None and hasattr(signature, "input_fields"):
        names = list(signature.input_fields)
    else:
        import inspect

        try:
            parameters = inspect.signature(module.forward).parameters.values()
        except (TypeError, ValueError):
            parameters = []  # type: ignore[assignment]
        names = [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        if not names:
            predictors = module.predictors()
            names = list(predictors[0].signature.input_fields) if predictors else []
    shown = ", ".join(f"{name}=..." for name in names) if names else "question=..."
    return f"program({shown})"


def _enter(module: Module) -> str:
    """The dotted path of a call of `module` starting now."""
    current = _running.get()
    if current is None:
        path = module.component_name
    elif current[1] is module:
        path = current[0]
    else:
        path = _child_path(current[1], current[0], module, fallback=True) or current[0]
    module.__dict__["_dx_path"] = path  # where `history` finds this module's LM calls
    return path


def _child_path(parent: Module, path: str, child: Module, *, fallback: bool) -> str | None:
    """Where `parent` (at `path`) holds `child`: its own attributes and their lists and dicts first,
    then anywhere below; else `path.<child's component name>` with `fallback` (a module made on the fly)."""
    for attr, value in _attributes(parent):
        if value is child:
            return f"{path}.{attr}"
        if isinstance(value, list | tuple):
            for index, item in enumerate(value):
                if item is child:
                    return f"{path}.{attr}[{index}]"
        elif isinstance(value, dict):
            for key, item in value.items():
                if item is child:
                    return f"{path}.{attr}[{key!r}]"
    for name, module in parent.named_sub_modules():
        if module is child:
            return f"{path}.{name}"
    return f"{path}.{child.component_name}" if fallback else None


def _span(module: Module, component: str, inputs: dict[str, Any]) -> events.Span:
    return events.span(schema.ProgramStart(module=type(module).__name__, inputs=inputs), component)


def _finish(span: events.Span, result: Any, usage: Any) -> None:
    if isinstance(result, Prediction):
        result.usage = usage
        if span.span_id is not None:
            span.set(
                outputs=result._fields, prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens
            )
