"""ReAct: an agent that thinks, calls tools, reads what they return, and answers.

    def search(query: str) -> str: ...
    def calculate(expression: str) -> float: ...

    agent = dx.ReAct("question -> answer", tools=[search, calculate], max_iters=5)
    pred = agent(question="...")
    pred.trajectory      # thought_0, tool_name_0, tool_args_0, observation_0, ...

Each step asks the `react` predictor for a thought and the next tool calls, runs
them, and appends the results to the trajectory, until the LM calls `finish`
(or calls nothing) or `max_iters` steps have run; then the `extract` predictor
(a ChainOfThought) produces the signature's outputs from the trajectory, as in
DSPy. When the provider says the prompt overflows its context window, the
oldest step is dropped and the call tried again (up to three times), as DSPy
truncates. A client with native function calling gets the tools as `tools=` and the
trajectory as assistant tool-call turns and tool results; the embedded model gets
DSPy's text protocol. Every step is a `program` span named `<agent>.step`, every
tool run a `tool` span inside it, every LM call the usual `lm.request` span.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from dspex_lab.adapters.base import field_section
from dspex_lab.errors import AdapterParseError, LMError, SignatureError
from dspex_lab.fields import jsonable
from dspex_lab.lm.tool_wire import assistant_turn, tool_turn
from dspex_lab.modules.chain_of_thought import ChainOfThought
from dspex_lab.modules.module import Module, running_component
from dspex_lab.modules.predict import Predict
from dspex_lab.modules.tool import FINISH, Tool, ToolCall, ToolCalls, as_tools
from dspex_lab.prediction import Prediction
from dspex_lab.signature import FieldInfo, Signature, ensure_signature, make_signature
from dspex_lab.trace import events, schema


@dataclass(frozen=True, slots=True)
class Step:
    """One step of an agent: its thought, the calls it made, and what each returned."""

    thought: str
    calls: tuple[ToolCall, ...]
    observations: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Trajectory:
    """The steps so far; immutable, so each LM call's recorded inputs stay as they were."""

    steps: tuple[Step, ...] = field(default_factory=tuple)

    dx_kind = "trajectory"

    def plus(self, step: Step) -> Trajectory:
        return Trajectory((*self.steps, step))

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)

    def to_dict(self) -> dict[str, Any]:
        """DSPy's flat form: `thought_0`, `tool_name_0`, `tool_args_0`, `observation_0`, ...

        A step with several calls numbers them `tool_name_0_1`, ... after the first.
        """
        flat: dict[str, Any] = {}
        for index, step in enumerate(self.steps):
            flat[f"thought_{index}"] = step.thought
            for order, (call, observation) in enumerate(zip(step.calls, step.observations, strict=True)):
                suffix = f"{index}" if order == 0 else f"{index}_{order}"
                flat[f"tool_name_{suffix}"] = call.name
                flat[f"tool_args_{suffix}"] = call.args
                flat[f"observation_{suffix}"] = observation
        return flat

    def prompt_text(self) -> str:
        """The trajectory in the text protocol: DSPy's `[[ ## thought_0 ## ]]` sections."""
        return "\n\n".join(field_section(key, _text(value)) for key, value in self.to_dict().items())

    def __str__(self) -> str:
        return self.prompt_text()

    def turns(self) -> list[dict[str, Any]]:
        """The trajectory under native function calling: an assistant tool-call turn and the results, per step."""
        messages: list[dict[str, Any]] = []
        for index, step in enumerate(self.steps):
            calls = [
                {"id": call.id or f"call_{index}_{order}", "name": call.name, "args": call.args}
                for order, call in enumerate(step.calls)
            ]
            messages.append(assistant_turn(step.thought, calls))
            messages.extend(
                tool_turn(call, _text(result)) for call, result in zip(calls, step.observations, strict=True)
            )
        return messages


def _text(value: Any) -> str:
    data = jsonable(value)
    return json.dumps(data, ensure_ascii=False) if isinstance(data, dict | list) else str(data)


def _finish() -> str:
    return "Completed."


TRUNCATION_TRIES = 3
_OVERFLOW = re.compile(
    r"context_length_exceeded|maximum context length|context window|prompt is too long"
    r"|exceeds the maximum number of tokens|too many tokens",
    re.IGNORECASE,
)


class ContextOverflow(LMError):
    """The prompt does not fit the LM's context window, even with the trajectory cut down."""


def _shorter(trajectory: Trajectory, error: LMError) -> Trajectory:
    """The trajectory without its oldest step, when `error` says the prompt overflowed the context;
    otherwise (or with one step left) the error goes on."""
    if not _OVERFLOW.search(str(error)):
        raise error
    if len(trajectory) <= 1:
        raise ContextOverflow(
            f"the prompt overflows the context window and the trajectory has one step left: {error}"
        ) from error
    return Trajectory(trajectory.steps[1:])


class ReAct(Module):
    """`dx.ReAct(signature, tools=[...], max_iters=20)`; see the module docstring."""

    def __init__(
        self, signature: str | type[Signature], tools: Sequence[Callable[..., Any] | Tool], max_iters: int = 20
    ) -> None:
        base = ensure_signature(signature)
        for name in ("trajectory", "tools"):
            if name in base.fields:
                raise SignatureError(
                    f"ReAct adds a {name!r} input itself; rename the field {name!r} of {base.signature}"
                )
        if isinstance(max_iters, bool) or not isinstance(max_iters, int) or max_iters < 1:
            raise ValueError(f"max_iters must be a whole number >= 1, got {max_iters!r}")
        made = as_tools(tools)
        if any(tool.name == FINISH for tool in made):
            raise ValueError(f"{FINISH!r} is ReAct's own tool (it ends the trajectory); rename your tool")
        outputs = ", ".join(f"`{name}`" for name in base.output_fields)
        finish = Tool(
            _finish,
            name=FINISH,
            desc=(
                "Marks the task as complete. That is, signals that all information for producing the outputs, "
                f"i.e. {outputs}, are now available to be extracted."
            ),
            args={},
        )
        self.signature = base
        self.max_iters = max_iters
        self.tools: dict[str, Tool] = {tool.name: tool for tool in [*made, finish]}
        inputs = list(base.input_fields.values())
        self.react = Predict(
            make_signature(
                [
                    *inputs,
                    FieldInfo("trajectory", "input", Trajectory),
                    FieldInfo("tools", "input", list[Tool]),
                    FieldInfo("next_thought", "output", str, default=""),
                    FieldInfo("next_tool_calls", "output", ToolCalls),
                ],
                _instructions(base, self.tools),
                name="ReActStep",
            )
        )
        extract = make_signature(
            [*inputs, FieldInfo("trajectory", "input", Trajectory), *base.output_fields.values()],
            base.instructions,
            name=base.__name__,
        )
        self.extract = ChainOfThought(extract)

    def forward(self, **inputs: Any) -> Prediction:
        max_iters = inputs.pop("max_iters", self.max_iters)
        trajectory = Trajectory()
        tools = list(self.tools.values())
        for index in range(max_iters):
            with self._step_span(index):
                try:
                    pred, trajectory = self._fitted(self.react, inputs, trajectory, tools=tools)
                except (AdapterParseError, ContextOverflow):
                    break  # as DSPy: an unreadable choice of tool, or no room left, ends the trajectory
                calls = tuple(pred.next_tool_calls)
                observations = tuple(self._run(call) for call in calls)
            trajectory = trajectory.plus(Step(pred.next_thought, calls, observations))
            if not calls or any(call.name == FINISH for call in calls):
                break
        extracted, trajectory = self._fitted(self.extract, inputs, trajectory)
        return self._answer(extracted, trajectory)

    async def aforward(self, **inputs: Any) -> Prediction:
        max_iters = inputs.pop("max_iters", self.max_iters)
        trajectory = Trajectory()
        tools = list(self.tools.values())
        for index in range(max_iters):
            with self._step_span(index):
                try:
                    pred, trajectory = await self._afitted(self.react, inputs, trajectory, tools=tools)
                except (AdapterParseError, ContextOverflow):
                    break
                calls = tuple(pred.next_tool_calls)
                observations = tuple([await self._arun(call) for call in calls])
            trajectory = trajectory.plus(Step(pred.next_thought, calls, observations))
            if not calls or any(call.name == FINISH for call in calls):
                break
        extracted, trajectory = await self._afitted(self.extract, inputs, trajectory)
        return self._answer(extracted, trajectory)

    def _fitted(
        self, module: Module, inputs: dict[str, Any], trajectory: Trajectory, **extra: Any
    ) -> tuple[Prediction, Trajectory]:
        """Call `module` with the trajectory, dropping its oldest step while the prompt overflows the
        LM's context window (DSPy's truncation: up to three tries, never below one step)."""
        for _ in range(TRUNCATION_TRIES):
            try:
                return module(**inputs, trajectory=trajectory, **extra), trajectory
            except LMError as error:
                trajectory = _shorter(trajectory, error)
        raise ContextOverflow(f"the prompt still overflows the context window after {TRUNCATION_TRIES} truncations")

    async def _afitted(
        self, module: Module, inputs: dict[str, Any], trajectory: Trajectory, **extra: Any
    ) -> tuple[Prediction, Trajectory]:
        for _ in range(TRUNCATION_TRIES):
            try:
                return await module.acall(**inputs, trajectory=trajectory, **extra), trajectory
            except LMError as error:
                trajectory = _shorter(trajectory, error)
        raise ContextOverflow(f"the prompt still overflows the context window after {TRUNCATION_TRIES} truncations")

    def _step_span(self, index: int) -> events.Span:
        component = (running_component() or self.component_name) + ".step"
        return events.span(schema.ProgramStart(module="ReActStep", inputs={"step": index}), component)

    def _run(self, call: ToolCall) -> Any:
        tool = self.tools.get(call.name)
        if tool is None:
            return f"Execution error: no tool named {call.name!r}; the tools are {sorted(self.tools)}"
        try:
            return tool(**call.args)
        except Exception as error:  # the agent reads the error and may try again, as in DSPy
            return f"Execution error in {call.name}: {type(error).__name__}: {error}"

    async def _arun(self, call: ToolCall) -> Any:
        tool = self.tools.get(call.name)
        if tool is None:
            return f"Execution error: no tool named {call.name!r}; the tools are {sorted(self.tools)}"
        try:
            return await tool.acall(**call.args)
        except Exception as error:
            return f"Execution error in {call.name}: {type(error).__name__}: {error}"

    @staticmethod
    def _answer(extracted: Prediction, trajectory: Trajectory) -> Prediction:
        return Prediction({"trajectory": trajectory.to_dict(), **extracted}, raw=extracted.raw)

    def __repr__(self) -> str:
        return f"ReAct({self.signature.signature!r}, tools={list(self.tools)}, max_iters={self.max_iters})"


def _instructions(signature: type[Signature], tools: dict[str, Tool]) -> str:
    """DSPy's ReAct instructions, with the next step asked for as tool calls."""
    inputs = ", ".join(f"`{name}`" for name in signature.input_fields)
    outputs = ", ".join(f"`{name}`" for name in signature.output_fields)
    lines = [f"{signature.instructions}\n"] if signature.instructions else []
    lines += [
        f"You are an Agent. In each episode, you will be given the fields {inputs} as input. "
        "And you can see your past trajectory so far.",
        f"Your goal is to use one or more of the supplied tools to collect any necessary information "
        f"for producing {outputs}.\n",
        "To do this, you will interleave next_thought and next_tool_calls in each turn, "
        "and also when finishing the task.",
        "After each tool call, you receive a resulting observation, which gets appended to your trajectory.\n",
        "When writing next_thought, you may reason about the current situation and plan for future steps.",
        "When selecting the next tool calls, each tool must be one of:\n",
    ]
    lines += [f"({index}) {tool}" for index, tool in enumerate(tools.values(), start=1)]
    lines.append(
        "When providing `next_tool_calls`, the value must be in JSON format: "
        '{"tool_calls": [{"name": ..., "args": {...}}]}'
    )
    return "\n".join(lines)
