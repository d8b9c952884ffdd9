"""Predict: one LM call that maps a signature's inputs to its typed outputs.

The call is written once, as a generator of LM requests (format, ask, parse,
and on a parse failure of an unconstrained reply ask once more through the
fallback adapter), and driven
either synchronously (`predict(...)`) or asynchronously (`await predict.acall(...)`).
"""

from __future__ import annotations

import secrets
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from dspex_lab import settings
from dspex_lab.adapters.base import Adapter
from dspex_lab.errors import AdapterParseError, InputError
from dspex_lab.fields import jsonable
from dspex_lab.lm.base import BaseLM, LMResponse
from dspex_lab.lm.usage import Usage
from dspex_lab.lm.usage import record as record_usage
from dspex_lab.modules.capture import note_call, visible_demos
from dspex_lab.modules.module import Module, path_in_running_program, running_component
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
            if key not in ("_signature", "uid", "_demos"):
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
        }

    def load_predictor_state(self, state: dict[str, Any], source: str) -> None:
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
        self._signature = make_signature(fields, state.get("instructions"), self._signature.__name__)
        self.demos = [as_demo(d) for d in state.get("demos", [])]
        self.lm_kwargs = dict(state.get("lm_kwargs", {}))

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
        signature = self._signature
        _check_inputs(signature, inputs)
        adapter = self.adapter or settings.current_adapter(lm)
        demos = visible_demos(self._demos)
        component = running_component() or self.component_name
        usage = Usage()
        first_error: AdapterParseError | None = None
        traced = events.tracing_active()
        while True:
            messages = adapter.format(signature, demos, inputs)
            constraint = adapter.constraint(signature, lm)
            kwargs = {
                **self.lm_kwargs,
                **adapter.lm_kwargs(signature, lm.supports_structured_output),
                **(constraint or {}),
                **(config or {}),
            }
            if traced:
                events.emit(schema.AdapterFormat(adapter=adapter.name, messages=messages), component)
            response = yield LMRequest(messages, kwargs)
            usage.add(response.usage)
            try:
                fields = adapter.parse(signature, response.text)
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
            prediction = Prediction(fields, raw=response.text, usage=usage, finish_reason=response.finish_reason)
            note_call(self, inputs, prediction)
            return prediction


def _check_inputs(signature: type[Signature], inputs: dict[str, Any]) -> None:
    expected = signature.input_fields
    missing = [name for name in expected if name not in inputs]
    if missing:
        raise InputError(
            f"missing input field(s) {missing} for signature '{signature.signature}'; "
            f"call it with {', '.join(f'{n}=...' for n in expected)}"
        )
    unknown = [name for name in inputs if name not in expected]
    if unknown:
        raise InputError(
            f"unexpected input field(s) {unknown} for signature '{signature.signature}'; "
            f"its inputs are {list(expected)} (pass example.inputs() rather than the whole example)"
        )


def _field_dict(info: FieldInfo) -> dict[str, Any]:
    return {"name": info.name, "kind": info.kind, "type": info.type_name, "desc": info.desc}


def _copy(value: Any, memo: dict[int, Any]) -> Any:
    import copy

    return copy.deepcopy(value, memo)
