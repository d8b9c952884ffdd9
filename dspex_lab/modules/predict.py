"""Predict: one LM call that maps a signature's inputs to its typed outputs.

The call is written once, as a generator of LM requests (format, ask, parse,
and on a parse failure of an unconstrained reply ask once more through the
fallback adapter), and driven
either synchronously (`predict(...)`) or asynchronously (`await predict.acall(...)`).
"""

from __future__ import annotations

import secrets
import warnings
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from dspex_lab import settings
from dspex_lab.adapters.base import Adapter, special_fields, takes_native_tools, tool_specs
from dspex_lab.errors import AdapterParseError, InputError
from dspex_lab.fields import jsonable
from dspex_lab.lm.base import BaseLM, LMResponse
from dspex_lab.lm.usage import Usage
from dspex_lab.lm.usage import record as record_usage
from dspex_lab.modules.capture import note_call, visible_demos
from dspex_lab.modules.image import has_images
from dspex_lab.modules.inputs import check_inputs
from dspex_lab.modules.module import SAMPLING_KEYS, Module, path_in_running_program, running_component
from dspex_lab.modules.state import DemoList, as_demo, demo_to_dict, record, record_init
from dspex_lab.prediction import Prediction
from dspex_lab.signature import FieldInfo, Signature, ensure_signature, make_signature
from dspex_lab.trace import events, schema


@dataclass(slots=True)
class LMRequest:
    """What the call needs from the LM next."""

    messages: list[dict[str, Any]]
    kwargs: dict[str, Any]


Steps = Generator[LMRequest, LMResponse, Prediction]
PredictorState = tuple[type[Signature], list[Any], dict[str, Any], BaseLM | None]
"""A predictor's saved state, checked and built: signature, demos, LM parameters, LM."""


class Predict(Module):
    """`dx.Predict("question -> answer", temperature=0.0)`; call it with the input fields as keywords.

    `lm=` and `adapter=` pin this predictor to a client or adapter; otherwise the
    ones from `dx.configure` / `dx.context` are used. Other keywords are LM
    parameters. `demos` holds the examples shown to the LM before the inputs.
    """

    is_predictor: ClassVar[bool] = True
    _signature: type[Signature]
    _demos: DemoList
    uid: str
    """Tells this predictor from its copies; its state changes are traced as `predict:<uid>`."""
    lm: BaseLM | None
    adapter: Adapter | None
    lm_kwargs: dict[str, Any]

    def __init__(
        self,
        signature: str | type[Signature],
        *,
        lm: BaseLM | None = None,
        adapter: Adapter | None = None,
        **lm_kwargs: Any,
    ) -> None:
        self._signature = ensure_signature(signature)
        self.uid = secrets.token_hex(4)
        self._demos = DemoList(self)
        self.lm = lm
        self.adapter = adapter
        self.lm_kwargs = lm_kwargs
        record_init(self, origin=None)

    # --- state ---------------------------------------------------------------------------------
    @property
    def signature(self) -> type[Signature]:
        return self._signature

    @signature.setter
    def signature(self, value: str | type[Signature]) -> None:
        self._signature = ensure_signature(value)
        record(self, "set", "signature", self._signature.signature)
        record(self, "set", "instructions", self._signature.instructions)

    @property
    def instructions(self) -> str:
        return self._signature.instructions

    @instructions.setter
    def instructions(self, text: str) -> None:
        self._signature = self._signature.with_instructions(text)
        record(self, "set", "instructions", text)

    @property
    def demos(self) -> DemoList:
        return self._demos

    @demos.setter
    def demos(self, items: Iterable[Any]) -> None:
        self._demos = DemoList(self, items)
        record(self, "set", "demos", [demo_to_dict(d) for d in self._demos])

    @property
    def state_component(self) -> str:
        """This predictor's component in `state.change` events."""
        return "predict:" + self.uid

    @property
    def state_path(self) -> str | None:
        """This predictor's dotted path in the program running now (None outside a program call)."""
        return path_in_running_program(self)

    def state_snapshot(self) -> dict[str, Any]:
        return {
            "demos": [demo_to_dict(d) for d in self._demos],
            "instructions": self.instructions,
            "signature": self._signature.signature,
        }

    def named_predictors(self) -> list[tuple[str, Predict]]:
        own = super().named_predictors()
        return own if own else [("self", self)]

    def __deepcopy__(self, memo: dict[int, Any]) -> Predict:
        new = Predict.__new__(type(self))
        memo[id(self)] = new
        new._signature = self._signature
        new.uid = secrets.token_hex(4)
        new._demos = DemoList(new, self._demos)
        for key, value in vars(self).items():
            if key not in ("_signature", "uid", "_demos", "_dx_path"):
                setattr(new, key, value if key in ("lm", "adapter") else _copy(value, memo))
        record_init(new, origin=self.uid)
        return new

    def dump_predictor_state(self) -> dict[str, Any]:
        return {
            "signature": self._signature.signature,
            "instructions": self.instructions,
            "fields": [_field_dict(f) for f in self._signature.fields.values()],
            "demos": [demo_to_dict(d) for d in self._demos],
            "lm_kwargs": jsonable(self.lm_kwargs),
            "lm": _lm_state(self.lm),
        }

    def reset(self) -> None:
        """Drop the demos and the pinned LM, as DSPy's `Predict.reset()` does."""
        self.demos = []
        self.lm = None

    def read_predictor_state(
        self, state: dict[str, Any], source: str, *, allow_unsafe_lm_state: bool = False
    ) -> PredictorState:
        """Check and build what `state` holds, without changing this predictor (see `Module.load_state`)."""
        saved = [(f["name"], f["kind"]) for f in state.get("fields", [])]
        mine = [(f.name, f.kind) for f in self._signature.fields.values()]
        if saved != mine:
            raise ValueError(
                f"{source}: saved signature '{state.get('signature')}' does not match "
                f"this predictor's '{self._signature.signature}'"
            )
        descs = {f["name"]: f.get("desc", "") for f in state.get("fields", [])}
        fields = [
            FieldInfo(f.name, f.kind, f.annotation, descs.get(f.name, f.desc), f.extra)
            for f in self._signature.fields.values()
        ]
        signature = make_signature(fields, state.get("instructions"), self._signature.__name__)
        try:
            demos = [as_demo(d) for d in state.get("demos", [])]
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{source}: a saved demo cannot be read: {exc}") from exc
        lm_kwargs = state.get("lm_kwargs", {})
        if not isinstance(lm_kwargs, dict):
            raise ValueError(f"{source}: 'lm_kwargs' must be an object, got {type(lm_kwargs).__name__}")
        return signature, demos, dict(lm_kwargs), _saved_lm(state.get("lm"), source, allow_unsafe_lm_state, self.lm)

    def apply_predictor_state(self, ready: PredictorState) -> None:
        """Install what `read_predictor_state` built."""
        signature, demos, lm_kwargs, lm = ready
        object.__setattr__(self, "_signature", signature)
        self.demos = demos
        self.lm_kwargs = lm_kwargs
        self.lm = lm

    def __repr__(self) -> str:
        extra = f", demos={len(self._demos)}" if self._demos else ""
        return f"{type(self).__name__}({self._signature.signature!r}{extra})"

    # --- calls ---------------------------------------------------------------------------------
    def forward(self, *, config: dict[str, Any] | None = None, lm: BaseLM | None = None, **inputs: Any) -> Prediction:
        client = self._lm(lm)
        steps = self._steps(inputs, client, config)
        request = next(steps)
        while True:
            response = client(request.messages, **request.kwargs)
            try:
                request = steps.send(response)
            except StopIteration as done:
                return done.value

    async def aforward(
        self, *, config: dict[str, Any] | None = None, lm: BaseLM | None = None, **inputs: Any
    ) -> Prediction:
        client = self._lm(lm)
        steps = self._steps(inputs, client, config)
        request = next(steps)
        while True:
            response = await client.acall(request.messages, **request.kwargs)
            try:
                request = steps.send(response)
            except StopIteration as done:
                return done.value

    def _lm(self, override: BaseLM | None) -> BaseLM:
        return override or self.lm or settings.current_lm()

    def _steps(self, inputs: dict[str, Any], lm: BaseLM, config: dict[str, Any] | None) -> Steps:
        """One completion, or `n` of them: DSPy's `n=` (each its own sampled request, see `_samples`)."""
        inputs = check_inputs(self._signature, inputs)
        options = {**self.lm_kwargs, **(config or {})}
        n = options.pop("n", None)
        n = 1 if n is None else n
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a whole number >= 1, got {n!r}")
        usage = Usage()
        if n == 1:
            fields, raw, finish = yield from self._one(inputs, lm, options, usage)
            prediction = Prediction(fields, raw=raw, usage=usage, finish_reason=finish)
        else:
            completions = []
            for options_i in _samples(options, n):
                fields, raw, finish = yield from self._one(inputs, lm, options_i, usage)
                completions.append(fields)
            prediction = Prediction(completions[0], raw=raw, usage=usage, finish_reason=finish, completions=completions)
        note_call(self, inputs, prediction)
        return prediction

    def _one(
        self, inputs: dict[str, Any], lm: BaseLM, options: dict[str, Any], usage: Usage
    ) -> Generator[LMRequest, LMResponse, tuple[dict[str, Any], str, str | None]]:
        """Format, ask, parse; on a parse failure ask once more through the fallback adapter."""
        signature = self._signature
        adapter = self.adapter or settings.current_adapter(lm)
        demos = visible_demos(self._demos)
        component = running_component() or self.component_name
        first_error: AdapterParseError | None = None
        traced = events.tracing_active()
        kinds = special_fields(signature)
        native = bool(kinds) and takes_native_tools(signature, getattr(lm, "supports_tool_calls", False))
        may_hold_images = "image" in kinds or "history" in kinds
        while True:
            messages = adapter.format(signature, demos, inputs, native_tools=native)
            # Under native function calling the tools are the structure: no response format beside them.
            shaped = {} if native else adapter.lm_kwargs(signature, lm.supports_structured_output)
            constraint = None if native else adapter.constraint(signature, lm)
            kwargs = {**shaped, **(constraint or {}), **options}
            if native:
                kwargs["tools"] = tool_specs(signature, inputs)
            if may_hold_images and not getattr(lm, "supports_images", False) and has_images(messages):
                raise InputError(
                    f"{lm.model} takes text only, and an input of '{signature.signature}' is a dx.Image; "
                    "use a provider model that reads images (dx.LM('openai/gpt-4o-mini'), an Anthropic or Gemini model)"
                )
            if traced:
                events.emit(schema.AdapterFormat(adapter=adapter.name, messages=messages), component)
            response = yield LMRequest(messages, kwargs)
            usage.add(response.usage)
            try:
                fields = adapter.parse_reply(signature, response.text, response.tool_calls, native_tools=native)
            except AdapterParseError as error:
                if traced:
                    events.emit(
                        schema.AdapterParse(adapter=adapter.name, error=str(error), raw=response.text), component
                    )
                if response.finish_reason == "length":
                    error.add_note("the reply was cut off at max_tokens; raise max_tokens for this predictor")
                # A reply held to the adapter's format that still fails (cut off, say) is not asked again.
                fallback = adapter.fallback if constraint is None else None
                if first_error is None and fallback is not None:
                    first_error, adapter = error, fallback
                    continue
                if first_error is not None:
                    first_error.add_note(f"retried with {adapter.name}, which also failed: {error}")
                    raise first_error from None
                raise
            if traced:
                events.emit(schema.AdapterParse(adapter=adapter.name, fields=fields), component)
            if response.finish_reason == "length":
                # The answer came from a reply cut off at max_tokens: counted, so an evaluation can tell.
                cut = Usage(truncated=1)
                usage.add(cut)
                record_usage(cut)
            return fields, response.text, response.finish_reason


SAMPLING_TEMPERATURE = 0.7
"""The temperature of `n` > 1 completions when none (or a near-greedy one) is set, as in DSPy."""


def _samples(options: dict[str, Any], n: int) -> list[dict[str, Any]]:
    """The LM options of each of `n` completions: separate samples (each its own `rollout_id`,
    so each its own cache entry), at a sampling temperature unless one above 0.15 was set."""
    temperature = options.get("temperature")
    base = dict(options)
    if temperature is None or temperature <= 0.15:
        base["temperature"] = SAMPLING_TEMPERATURE
    return [{**base, "rollout_id": index} for index in range(n)]


def _lm_state(lm: BaseLM | None) -> dict[str, Any] | None:
    """A pinned LM as saved: its model name and sampling parameters (never keys or endpoints)."""
    if lm is None:
        return None
    return {"model": lm.model, "kwargs": jsonable({k: v for k, v in lm.kwargs.items() if k in SAMPLING_KEYS})}


def _saved_lm(saved: Any, where: str, allow_unsafe: bool, current: BaseLM | None) -> BaseLM | None:
    """The LM a saved state asks for: built only when allowed; otherwise the current one stays."""
    if saved is None:
        return current
    if not isinstance(saved, dict) or not isinstance(saved.get("model"), str):
        raise ValueError(f"{where}: 'lm' must be an object with a 'model' name, got {saved!r:.80}")
    kwargs = saved.get("kwargs") or {}
    if not isinstance(kwargs, dict):
        raise ValueError(f"{where}: 'lm.kwargs' must be an object, got {type(kwargs).__name__}")
    if not allow_unsafe:
        if current is None or current.model != saved["model"]:
            warnings.warn(
                f"{where}: the saved LM {saved['model']!r} was not loaded (a file may not choose the model "
                "it bills); pass allow_unsafe_lm_state=True to load it from a file you trust",
                UserWarning,
                stacklevel=5,
            )
        return current
    from dspex_lab.lm.factory import LM

    return LM(saved["model"], **{k: v for k, v in kwargs.items() if k in SAMPLING_KEYS})


def _field_dict(info: FieldInfo) -> dict[str, Any]:
    return {"name": info.name, "kind": info.kind, "type": info.type_name, "desc": info.desc}


def _copy(value: Any, memo: dict[int, Any]) -> Any:
    import copy

    return copy.deepcopy(value, memo)
