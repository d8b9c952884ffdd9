"""The event schema: every kind of event as a typed class, the one contract producers and consumers share.

An event is an envelope (`Event`: time, kind, run, span, parent, component,
task, correlation) around a payload. Each kind of payload is a class below:
producers construct one and hand it to `events.emit` (or, for a timed step,
`events.span`); consumers turn a stored payload back into one with `read`
(or `Cls.of(payload)`) and read its attributes. Kind strings and payload keys
are spelled here and nowhere else in the package: code that needs a key as a
string (a column of a frame, say) uses `Key`.

The classes are plain dataclasses: building one costs a few hundred
nanoseconds and its `__dict__` *is* the payload the store freezes, so typing
the events costs emitting almost nothing. They pickle (a Dask worker ships
them home), and `json_schema()` describes the whole union for readers in
other languages (the JupyterLab extension): run

    python -m dspex_lab.trace.schema > dspex_lab/trace/events.schema.json

to regenerate the committed copy (a test checks it is current).

`SCHEMA_VERSION` is written with every saved trace. Traces saved before the
version existed are version 1 (the kinds and keys are the same); a trace from
a newer version is refused with a message saying which version reads it.
Payload fields added later must have defaults, so older payloads still read.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final, NamedTuple, TypeVar, Union

__all__ = [
    "ALL",
    "FIELDS",
    "SCHEMA_VERSION",
    "AdapterFormat",
    "AdapterParse",
    "EvaluateEnd",
    "EvaluateExample",
    "EvaluateItemEnd",
    "EvaluateItemStart",
    "EvaluateStart",
    "EvaluateWait",
    "Event",
    "EventData",
    "Key",
    "LMCircuit",
    "LMRequest",
    "LMResponse",
    "LMRetry",
    "OptimizeAttempt",
    "OptimizeCandidate",
    "OptimizeDemos",
    "OptimizeEnd",
    "OptimizePhaseEnd",
    "OptimizePhaseStart",
    "OptimizeStart",
    "ProgramEnd",
    "ProgramStart",
    "RunEnd",
    "RunExample",
    "RunStart",
    "RunWait",
    "SpanEnd",
    "StateChange",
    "TeacherEnd",
    "TeacherExample",
    "TeacherItemEnd",
    "TeacherItemStart",
    "TeacherStart",
    "TeacherWait",
    "UnknownEvent",
    "check_version",
    "json_schema",
    "read",
    "span_name",
    "span_start_kind",
]

SCHEMA_VERSION = 1
"""The version of this schema; saved traces record it (see `check_version`)."""

D = TypeVar("D", bound="Record")


class Record:
    """A typed view of plain payload data: the dataclass fields are the keys."""

    _DEFAULTS: ClassVar[dict[str, Any]] = {}
    _FACTORIES: ClassVar[dict[str, Callable[[], Any]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._DEFAULTS, cls._FACTORIES = {}, {}

    @classmethod
    def of(cls: type[D], payload: Mapping[str, Any] | Record | None) -> D:
        """The record back from a stored payload: missing fields take their defaults, unknown ones are kept.

        A record nested in a payload reads back as a dict; `of` takes either.
        """
        if isinstance(payload, Record):
            payload = payload.__dict__
        if not cls._DEFAULTS and dataclasses.is_dataclass(cls):
            cls._DEFAULTS, cls._FACTORIES = _defaults(cls)
        event = cls.__new__(cls)
        values = event.__dict__
        values.update(cls._DEFAULTS)
        if payload:
            values.update(payload)
        for name, make in cls._FACTORIES.items():
            if name not in values:
                values[name] = make()
        return event

    def payload(self) -> dict[str, Any]:
        """The payload as stored: the fields by name (the instance's own dict, not a copy)."""
        return self.__dict__

    def to_dict(self) -> dict[str, Any]:
        """The fields as a new plain dict (how a record nested in a payload is stored)."""
        return dict(self.__dict__)


class EventData(Record):
    """Base of every event payload class: `KIND` names the kind, the dataclass fields are the payload.

    Subclass it (as a `@dataclass`) to emit events of your own kind; only the
    classes in `ALL` are part of the published schema.
    """

    KIND: ClassVar[str] = ""
    END: ClassVar[type[SpanEnd] | None] = None
    """For the start event of a span: the class of its end event."""


def _defaults(cls: type) -> tuple[dict[str, Any], dict[str, Callable[[], Any]]]:
    """A payload's missing fields read as their defaults, or None; factory fields are made afresh per record."""
    defaults: dict[str, Any] = {}
    factories: dict[str, Callable[[], Any]] = {}
    for item in dataclasses.fields(cls):
        if item.default is not dataclasses.MISSING:
            defaults[item.name] = item.default
        elif item.default_factory is not dataclasses.MISSING:
            factories[item.name] = item.default_factory
        else:
            defaults[item.name] = None
    return defaults, factories


# --- spans: what every end event carries ---------------------------------------------------------


@dataclass(eq=False)
class SpanEnd(EventData):
    """The end of a timed step (`events.span`).

    Args:
        status: "ok", "error" or "cancelled" (an optimizer's compile records its own outcome instead).
        duration_ms: wall time from the start event to this one.
        error: "ExceptionType: message" when the step raised.
    """

    status: str = "ok"
    duration_ms: float = 0.0
    error: str | None = None


# --- tools ---------------------------------------------------------------------------------------


@dataclass(eq=False)
class ToolEnd(SpanEnd):
    """A tool call ended.

    Args:
        result: what the tool returned.
    """

    KIND: ClassVar[str] = "tool.end"
    result: Any = None


@dataclass(eq=False)
class ToolStart(EventData):
    """A tool (`dx.Tool`) was called; the component is "tool:<name>".

    Args:
        args: the arguments it was called with.
    """

    KIND: ClassVar[str] = "tool.start"
    END: ClassVar[type[SpanEnd] | None] = ToolEnd
    args: dict[str, Any]


# --- programs and adapters -----------------------------------------------------------------------


@dataclass(eq=False)
class ProgramEnd(SpanEnd):
    """A program (module) call ended.

    Args:
        outputs: the prediction's fields.
        prompt_tokens: tokens sent by every LM call inside the program.
        completion_tokens: tokens received.
    """

    KIND: ClassVar[str] = "program.end"
    outputs: dict[str, Any] | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass(eq=False)
class ProgramStart(EventData):
    """A program (module) call started; the component is its name in the program ("qa.steps[1]").

    Args:
        module: the module's class name.
        inputs: the keyword inputs it was called with.
    """

    KIND: ClassVar[str] = "program.start"
    END: ClassVar[type[SpanEnd] | None] = ProgramEnd
    module: str
    inputs: dict[str, Any]


@dataclass(eq=False)
class AdapterFormat(EventData):
    """An adapter turned a signature, demos and inputs into messages.

    Args:
        adapter: the adapter's name ("ChatAdapter").
        messages: the chat messages sent to the LM.
    """

    KIND: ClassVar[str] = "adapter.format"
    adapter: str
    messages: list[dict[str, Any]]


@dataclass(eq=False)
class AdapterParse(EventData):
    """An adapter parsed an LM reply: `fields` when it could, else `error` and the `raw` reply.

    Args:
        adapter: the adapter's name.
        fields: the output fields parsed.
        error: why the reply could not be parsed.
        raw: the reply text that could not be parsed.
    """

    KIND: ClassVar[str] = "adapter.parse"
    adapter: str
    fields: dict[str, Any] | None = None
    error: str | None = None
    raw: str | None = None


# --- LM calls --------------------------------------------------------------------------------------


@dataclass(eq=False)
class LMResponse(SpanEnd):
    """An LM call ended (the end of the `lm.request` span; its correlation id pairs the two).

    Args:
        attempts: provider calls made (0 for a cache hit).
        text: the completion.
        prompt_tokens: tokens sent.
        completion_tokens: tokens received.
        cost: in US dollars, when the price is known.
        cache_hit: whether the reply came from the cache.
        finish_reason: "stop", "length", ...
        tool_calls: the calls a model made through native function calling ({"name", "args", "id"}).
    """

    KIND: ClassVar[str] = "lm.response"
    attempts: int | None = None
    text: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost: float | None = None
    cache_hit: bool | None = None
    finish_reason: str | None = None
    tool_calls: list[dict[str, Any]] | None = None


@dataclass(eq=False)
class LMRequest(EventData):
    """An LM call started; the component is the LM ("lm:openai/gpt-4o-mini").

    Args:
        messages: the chat messages.
        params: the sampling parameters (temperature, max_tokens, ...).
    """

    KIND: ClassVar[str] = "lm.request"
    END: ClassVar[type[SpanEnd] | None] = LMResponse
    messages: list[dict[str, Any]]
    params: dict[str, Any]


@dataclass(eq=False)
class LMRetry(EventData):
    """A provider call failed and will be tried again after `delay_s`.

    Args:
        attempt: the attempt that failed (1 for the first).
        delay_s: seconds waited before the next attempt.
        status: the HTTP status of the failure, when there was one.
        error: the error message.
    """

    KIND: ClassVar[str] = "lm.retry"
    attempt: int
    delay_s: float
    status: int | None
    error: str


@dataclass(eq=False)
class LMCircuit(EventData):
    """An LM's circuit breaker changed state.

    Args:
        state: "open", "half_open" or "closed".
        failures: consecutive failures counted.
    """

    KIND: ClassVar[str] = "lm.circuit"
    state: str
    failures: int


# --- predictor state -------------------------------------------------------------------------------


@dataclass(eq=False)
class StateChange(EventData):
    """A predictor's learnable state changed; the component is `predict:<uid>` (time travel replays these).

    Args:
        op: "init" (the whole state), "set", "append", ... (a list operation on `field`).
        field: the field changed ("demos", "instructions", "*" for init).
        value: the new value, or the operation's argument.
        origin: the predictor this one was copied from, when it was.
        path: the predictor's path in the program that owns it.
    """

    KIND: ClassVar[str] = "state.change"
    op: str
    field: str
    value: Any
    origin: str | None = None
    path: str | None = None


# --- runs over many examples: evaluations and optimizers' teacher runs -----------------------------


@dataclass(eq=False)
class RunStart(EventData):
    """A run over many examples started (fields shared by evaluations and teacher runs).

    Args:
        total: examples in the run.
        pending: examples still to run (fewer than total when resuming).
        resumed: examples restored from an earlier run.
        concurrency: examples in flight at once.
        timeout: seconds one example may take.
        max_errors: failures after which the run stops.
        circuit_wait: seconds an LM call waits for its open circuit breaker before the run stops.
        label: what the progress display calls the run.
        metrics: the metrics' names (evaluations).
        resumed_score_sum: the sum of the restored examples' scores.
    """

    total: int
    pending: int
    resumed: int = 0
    concurrency: int | None = None
    timeout: float | None = None
    max_errors: int | None = None
    circuit_wait: float | None = None
    label: str | None = None
    metrics: list[str] | None = None
    resumed_score_sum: float | None = None


@dataclass(eq=False)
class RunExample(EventData):
    """One example of a run finished.

    Args:
        index: its position in the dataset.
        score: the score shown in progress (the primary metric).
        error: what went wrong, when it failed.
        latency_ms: how long it took.
    """

    index: int
    score: float | None = None
    error: str | None = None
    latency_ms: float | None = None


@dataclass(eq=False)
class RunWait(EventData):
    """A run started or stopped waiting for an LM's open circuit breaker.

    Args:
        waiting: True while it waits.
        reason: what it waits for (the LM and how long), while it waits.
    """

    waiting: bool
    reason: str | None = None


@dataclass(eq=False)
class RunEnd(EventData):
    """A run ended.

    Args:
        status: "completed", "cancelled", "stopped" or "failed".
        reason: why, when not "completed".
        finished: examples finished in this run.
        errors: examples that failed.
        total: examples in the run.
        pending: examples left unrun.
        duration_ms: how long the run took.
    """

    status: str
    reason: str | None = None
    finished: int = 0
    errors: int = 0
    total: int = 0
    pending: int = 0
    duration_ms: float = 0.0


@dataclass(eq=False)
class EvaluateStart(RunStart):
    """An evaluation started (`dx.evaluate`, or an optimizer scoring a candidate)."""

    KIND: ClassVar[str] = "evaluate.start"


@dataclass(eq=False)
class EvaluateExample(RunExample):
    """One example of an evaluation finished."""

    KIND: ClassVar[str] = "evaluate.example"


@dataclass(eq=False)
class EvaluateWait(RunWait):
    """An evaluation started or stopped waiting for an open circuit breaker."""

    KIND: ClassVar[str] = "evaluate.wait"


@dataclass(eq=False)
class EvaluateEnd(RunEnd):
    """An evaluation ended."""

    KIND: ClassVar[str] = "evaluate.end"


@dataclass(eq=False)
class EvaluateItemEnd(SpanEnd):
    """The work on one example of an evaluation ended."""

    KIND: ClassVar[str] = "evaluate.item.end"


@dataclass(eq=False)
class EvaluateItemStart(EventData):
    """The work on one example of an evaluation started: the program's events nest under it.

    Args:
        index: the example's position in the dataset.
    """

    KIND: ClassVar[str] = "evaluate.item.start"
    END: ClassVar[type[SpanEnd] | None] = EvaluateItemEnd
    index: int


@dataclass(eq=False)
class TeacherStart(RunStart):
    """An optimizer started running its teacher over the training set."""

    KIND: ClassVar[str] = "teacher.start"


@dataclass(eq=False)
class TeacherExample(RunExample):
    """One teacher run finished (its score is 1 when it gave a demo)."""

    KIND: ClassVar[str] = "teacher.example"


@dataclass(eq=False)
class TeacherWait(RunWait):
    """The teacher runs started or stopped waiting for an open circuit breaker."""

    KIND: ClassVar[str] = "teacher.wait"


@dataclass(eq=False)
class TeacherEnd(RunEnd):
    """The teacher runs ended."""

    KIND: ClassVar[str] = "teacher.end"


@dataclass(eq=False)
class TeacherItemEnd(SpanEnd):
    """One teacher run ended."""

    KIND: ClassVar[str] = "teacher.item.end"


@dataclass(eq=False)
class TeacherItemStart(EventData):
    """One teacher run on a training example started.

    Args:
        index: the example's position in the training set.
    """

    KIND: ClassVar[str] = "teacher.item.start"
    END: ClassVar[type[SpanEnd] | None] = TeacherItemEnd
    index: int


# --- optimizers ------------------------------------------------------------------------------------


@dataclass(eq=False)
class DemoOrigin(Record):
    """Where one installed demo came from (an item of `OptimizeDemos.demos` and `OptimizeEnd.demos`).

    Args:
        origin: "bootstrapped" (a teacher run that passed the metric) or "labeled" (a training example as it is).
        train_index: its position in the trainset the compile was given.
    """

    BOOTSTRAPPED: ClassVar[str] = "bootstrapped"
    LABELED: ClassVar[str] = "labeled"
    origin: str
    train_index: int | None = None


@dataclass(eq=False)
class TraceStep(Record):
    """One predictor call of a teacher run (an item of `OptimizeAttempt.traces`).

    Args:
        predictor: the predictor's name in the program.
        inputs: its inputs.
        outputs: its prediction's fields.
    """

    predictor: str | None
    inputs: dict[str, Any]
    outputs: dict[str, Any]


@dataclass(eq=False)
class OptimizeEnd(SpanEnd):
    """A compile ended.

    Args:
        reason: why it did not complete, when it did not.
        demos: predictor name -> the origin of each installed demo ({"origin", "train_index"}).
    """

    KIND: ClassVar[str] = "optimize.end"
    reason: str | None = None
    demos: dict[str, list[DemoOrigin]] | None = None


@dataclass(eq=False)
class OptimizeStart(EventData):
    """A compile started; the component is the optimizer's name.

    Args:
        optimizer: the optimizer's class name.
        student: the student program's class name.
        predictors: the student's predictor names.
        trainset: training examples given.
        params: the optimizer's settings.
    """

    KIND: ClassVar[str] = "optimize.start"
    END: ClassVar[type[SpanEnd] | None] = OptimizeEnd
    optimizer: str
    student: str
    predictors: list[str]
    trainset: int
    params: dict[str, Any]


@dataclass(eq=False)
class OptimizePhaseEnd(SpanEnd):
    """A phase of a compile ended.

    Args:
        attempts: teacher runs made (bootstrap phase).
        failures: teacher runs that raised.
        stopped: why the phase stopped early ("enough", "errors"), when it did.
    """

    KIND: ClassVar[str] = "optimize.phase.end"
    attempts: int | None = None
    failures: int | None = None
    stopped: str | None = None


@dataclass(eq=False)
class OptimizePhaseStart(EventData):
    """A phase of a compile started.

    Args:
        phase: "labeled", "teacher", "bootstrap", "install", "layout" (scoring demo orders) or "candidate".
        k: demos per predictor (labeled and teacher phases).
        index: the candidate's number (candidate phase).
        candidate: how the candidate is made ("zero-shot", "labeled", "bootstrap", "random bootstrap").
        examples: training examples the phase works through.
        max_bootstrapped_demos: bootstrapped demos wanted.
    """

    KIND: ClassVar[str] = "optimize.phase.start"
    END: ClassVar[type[SpanEnd] | None] = OptimizePhaseEnd
    phase: str
    k: int | None = None
    index: int | None = None
    candidate: str | None = None
    examples: int | None = None
    max_bootstrapped_demos: int | None = None


@dataclass(eq=False)
class OptimizeAttempt(EventData):
    """One teacher run of a bootstrapping optimizer, and whether it passed the metric.

    Args:
        index: the training example's position in the trainset.
        round: the bootstrap round (0 first).
        inputs: the example's inputs.
        outputs: the teacher's prediction.
        score: the metric's score.
        passed: whether the run gives demos.
        error: what went wrong, when the run or the metric raised.
        traces: each predictor call: {"predictor", "inputs", "outputs"}.
        demos_from: the predictors that got a demo from this run.
    """

    KIND: ClassVar[str] = "optimize.attempt"
    index: int
    round: int
    inputs: dict[str, Any]
    outputs: Any = None
    score: float | None = None
    passed: bool = False
    error: str | None = None
    traces: list[TraceStep] = dataclasses.field(default_factory=list)
    demos_from: list[str] = dataclasses.field(default_factory=list)


@dataclass(eq=False)
class OptimizeCandidate(EventData):
    """A random-search candidate program was scored.

    Args:
        index: the candidate's number.
        candidate: how it was made (see `OptimizePhaseStart.candidate`).
        seed: the seed it was made with.
        score: its score on the validation set.
        best: whether it is the best so far.
        demos: predictor name -> demos installed.
        eval_run_id: the run id of its evaluation.
    """

    KIND: ClassVar[str] = "optimize.candidate"
    index: int
    candidate: str
    seed: int
    score: float
    best: bool
    demos: dict[str, int]
    eval_run_id: str


@dataclass(eq=False)
class OptimizeDemos(EventData):
    """An optimizer installed demos in one predictor.

    Args:
        predictor: the predictor's name in the program.
        uid: the predictor's uid (its `predict:<uid>` component in state changes).
        role: "student", or "teacher" for demos given to an internal teacher.
        count: demos installed.
        demos: the origin of each ({"origin": "bootstrapped" or "labeled", "train_index"}).
    """

    KIND: ClassVar[str] = "optimize.demos"
    predictor: str
    uid: str
    role: str
    count: int
    demos: list[DemoOrigin]


@dataclass(eq=False)
class UnknownEvent(EventData):
    """A payload of a kind this schema does not know (a user's own kind, or a newer trace)."""


ALL: tuple[type[EventData], ...] = (
    ProgramStart,
    ProgramEnd,
    AdapterFormat,
    AdapterParse,
    LMRequest,
    LMResponse,
    LMRetry,
    LMCircuit,
    ToolStart,
    ToolEnd,
    StateChange,
    EvaluateStart,
    EvaluateExample,
    EvaluateWait,
    EvaluateEnd,
    EvaluateItemStart,
    EvaluateItemEnd,
    TeacherStart,
    TeacherExample,
    TeacherWait,
    TeacherEnd,
    TeacherItemStart,
    TeacherItemEnd,
    OptimizeStart,
    OptimizeEnd,
    OptimizePhaseStart,
    OptimizePhaseEnd,
    OptimizeAttempt,
    OptimizeCandidate,
    OptimizeDemos,
)
"""Every kind of the published schema."""

RECORDS: tuple[type[Record], ...] = (DemoOrigin, TraceStep)
"""Structures nested in payloads."""

AnyEvent = Union[  # noqa: UP007 (a runtime Union: the JSON schema is made from it)
    ProgramStart,
    ProgramEnd,
    AdapterFormat,
    AdapterParse,
    LMRequest,
    LMResponse,
    LMRetry,
    LMCircuit,
    ToolStart,
    ToolEnd,
    StateChange,
    EvaluateStart,
    EvaluateExample,
    EvaluateWait,
    EvaluateEnd,
    EvaluateItemStart,
    EvaluateItemEnd,
    TeacherStart,
    TeacherExample,
    TeacherWait,
    TeacherEnd,
    TeacherItemStart,
    TeacherItemEnd,
    OptimizeStart,
    OptimizeEnd,
    OptimizePhaseStart,
    OptimizePhaseEnd,
    OptimizeAttempt,
    OptimizeCandidate,
    OptimizeDemos,
]
"""The union of every published payload class, told apart by the envelope's `kind`."""

BY_KIND: dict[str, type[EventData]] = {cls.KIND: cls for cls in ALL}

# Groups consumers test kinds against.
PROGRAM_SPAN = ProgramStart.KIND.removesuffix(".start")
"""The name of a program span ("program")."""
LM_PREFIX = LMRequest.KIND.split(".")[0] + "."
"""Every LM event's kind starts with this."""
OPTIMIZE_PREFIX = OptimizeStart.KIND.split(".")[0] + "."
"""Every optimizer event's kind starts with this."""
EVALUATE_PREFIX = EvaluateStart.KIND.split(".")[0] + "."
TOOL_PREFIX = ToolStart.KIND.split(".")[0] + "."
"""Every evaluation event's kind starts with this."""
RUN_STARTS = frozenset({EvaluateStart.KIND, TeacherStart.KIND})
RUN_EXAMPLES = frozenset({EvaluateExample.KIND, TeacherExample.KIND})
RUN_WAITS = frozenset({EvaluateWait.KIND, TeacherWait.KIND})
RUN_ENDS = frozenset({EvaluateEnd.KIND, TeacherEnd.KIND})
RUN_KINDS = RUN_STARTS | RUN_EXAMPLES | RUN_WAITS | RUN_ENDS
ITEM_STARTS = frozenset({EvaluateItemStart.KIND, TeacherItemStart.KIND})


class RunKinds(NamedTuple):
    """The event classes of one kind of run over many examples (see `evaluation.engine.run_each`)."""

    start: type[RunStart]
    example: type[RunExample]
    wait: type[RunWait]
    end: type[RunEnd]
    item: type[EvaluateItemStart] | type[TeacherItemStart]


EVALUATION = RunKinds(EvaluateStart, EvaluateExample, EvaluateWait, EvaluateEnd, EvaluateItemStart)
TEACHER = RunKinds(TeacherStart, TeacherExample, TeacherWait, TeacherEnd, TeacherItemStart)


class Key:
    """Every payload key of the schema, for code that needs one as a string (a frame column, a lookup)."""

    adapter: Final = "adapter"
    args: Final = "args"
    attempt: Final = "attempt"
    attempts: Final = "attempts"
    best: Final = "best"
    cache_hit: Final = "cache_hit"
    candidate: Final = "candidate"
    circuit_wait: Final = "circuit_wait"
    completion_tokens: Final = "completion_tokens"
    concurrency: Final = "concurrency"
    cost: Final = "cost"
    count: Final = "count"
    delay_s: Final = "delay_s"
    demos: Final = "demos"
    demos_from: Final = "demos_from"
    duration_ms: Final = "duration_ms"
    error: Final = "error"
    errors: Final = "errors"
    eval_run_id: Final = "eval_run_id"
    examples: Final = "examples"
    failures: Final = "failures"
    field: Final = "field"
    fields: Final = "fields"
    finish_reason: Final = "finish_reason"
    finished: Final = "finished"
    index: Final = "index"
    inputs: Final = "inputs"
    k: Final = "k"
    label: Final = "label"
    latency_ms: Final = "latency_ms"
    max_bootstrapped_demos: Final = "max_bootstrapped_demos"
    max_errors: Final = "max_errors"
    messages: Final = "messages"
    metrics: Final = "metrics"
    module: Final = "module"
    op: Final = "op"
    optimizer: Final = "optimizer"
    origin: Final = "origin"
    outputs: Final = "outputs"
    result: Final = "result"
    params: Final = "params"
    passed: Final = "passed"
    path: Final = "path"
    pending: Final = "pending"
    phase: Final = "phase"
    predictor: Final = "predictor"
    predictors: Final = "predictors"
    prompt_tokens: Final = "prompt_tokens"
    raw: Final = "raw"
    reason: Final = "reason"
    resumed: Final = "resumed"
    resumed_score_sum: Final = "resumed_score_sum"
    role: Final = "role"
    round: Final = "round"
    score: Final = "score"
    seed: Final = "seed"
    state: Final = "state"
    tool_calls: Final = "tool_calls"
    train_index: Final = "train_index"
    status: Final = "status"
    stopped: Final = "stopped"
    student: Final = "student"
    text: Final = "text"
    timeout: Final = "timeout"
    total: Final = "total"
    traces: Final = "traces"
    trainset: Final = "trainset"
    uid: Final = "uid"
    value: Final = "value"
    waiting: Final = "waiting"


class Event(NamedTuple):
    """One event: the envelope every kind shares, and its payload (cleaned of secrets, cut to size).

    Args:
        ts: epoch nanoseconds (never decreasing within a store).
        kind: which class the payload is (`EventData.KIND`).
        run_id: the run it belongs to (`events.run`), if any.
        span_id: the span it starts or ends, if it does.
        parent_id: the enclosing span.
        component: what emitted it ("qa.generate", "lm:openai/gpt-4o-mini", "predict:<uid>").
        task: the asyncio task or thread it was emitted in.
        correlation_id: pairs a request with its reply.
        payload: the payload's fields.
    """

    ts: int
    kind: str
    run_id: str | None
    span_id: int | None
    parent_id: int | None
    component: str
    task: str
    correlation_id: str | None
    payload: dict[str, Any] | None

    @property
    def data(self) -> EventData:
        """The payload as its typed class (`UnknownEvent` for a kind outside the schema)."""
        return read(self.kind, self.payload)


FIELDS: tuple[str, ...] = Event._fields
"""The envelope's field names, in the order the store keeps them."""


def span_name(kind: str) -> str:
    """A span's name from its start kind, as `query.spans` and the timeline show it ("program.start" -> "program")."""
    return kind.removesuffix(".start")


def span_start_kind(name: str) -> str:
    """The start kind of the span called `name` ("program" -> "program.start")."""
    return name + ".start"


def read(kind: str, payload: dict[str, Any] | None) -> EventData:
    """The typed event of `kind` from a stored payload (`UnknownEvent` when the kind is not in the schema)."""
    return BY_KIND.get(kind, UnknownEvent).of(payload)


def check_version(version: int | None, source: str) -> int:
    """The schema version of a saved trace, or a clear error when this version cannot read it.

    A trace with no version was saved before versions were recorded: it is version 1.
    """
    if version is None:
        return 1
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"{source} records event schema version {version!r}, which is not a version number")
    if version > SCHEMA_VERSION:
        raise ValueError(
            f"{source} was saved with event schema version {version}; this dspex_lab reads versions up to "
            f"{SCHEMA_VERSION}: upgrade dspex_lab to load it"
        )
    return version


def json_schema() -> dict[str, Any]:
    """A JSON Schema (2020-12) of an event: the envelope with a payload told apart by `kind`."""
    from pydantic import TypeAdapter

    defs: dict[str, Any] = {}
    variants = []
    for cls in ALL:
        schema = TypeAdapter(cls).json_schema(ref_template="#/$defs/{model}")
        defs.update(schema.pop("$defs", {}))
        schema["description"] = " ".join((cls.__doc__ or "").split("Args:")[0].split())
        defs[cls.__name__] = schema
        variants.append(
            {
                "properties": {"kind": {"const": cls.KIND}, "payload": {"$ref": f"#/$defs/{cls.__name__}"}},
                "required": ["kind"],
            }
        )
    nullable_string = {"type": ["string", "null"]}
    nullable_int = {"type": ["integer", "null"]}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://dspex-lab/schemas/events/v{SCHEMA_VERSION}.json",
        "title": "dspex_lab trace event",
        "description": (__doc__ or "").split("\n\n")[0],
        "x-schema-version": SCHEMA_VERSION,
        "type": "object",
        "properties": {
            "ts": {"type": "integer", "description": "epoch nanoseconds"},
            "kind": {"type": "string", "enum": [cls.KIND for cls in ALL]},
            "run_id": nullable_string,
            "span_id": nullable_int,
            "parent_id": nullable_int,
            "component": {"type": "string"},
            "task": {"type": "string"},
            "correlation_id": nullable_string,
            "payload": {"type": ["object", "null"]},
        },
        "required": ["ts", "kind", "component"],
        "oneOf": variants,
        "$defs": defs,
    }


def main() -> None:
    """Print the JSON Schema (the committed copy is `dspex_lab/trace/events.schema.json`)."""
    json.dump(json_schema(), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
