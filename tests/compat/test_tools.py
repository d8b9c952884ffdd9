"""Tools, tool calls and ReAct, as DSPy programs use them (dspy.Tool, dspy.ToolCalls, dspy.ReAct)."""

from __future__ import annotations

import json
from typing import Literal

import pydantic
import pytest

import dspex_lab as dx
from dspex_lab.testing import ProviderServer

from .planner import capital_of, planner, population_of

PROVIDERS = ["openai/gpt-x", "anthropic/claude-x", "gemini/gemini-x"]
QUESTION = "How many people live in the capital of France?"


def client(server: ProviderServer, model: str) -> dx.BaseLM:
    return dx.LM(model, api_base=server.url, api_key="test-key-1234", cache=False)


@pytest.fixture
def server():
    with ProviderServer(responder=planner) as running:
        yield running


# --- dx.Tool ---------------------------------------------------------------------------------------


def test_a_tool_takes_name_description_and_typed_args_from_the_function():
    """dspy.Tool(fn): name from __name__, desc from the docstring, args as JSON schemas with defaults."""

    def search(query: str, k: int = 3, mode: Literal["fast", "deep"] = "fast") -> list[str]:
        """Search the notes."""
        return [query] * k

    tool = dx.Tool(search)
    assert tool.name == "search"
    assert tool.desc == "Search the notes."
    assert tool.args == {
        "query": {"type": "string"},
        "k": {"type": "integer", "default": 3},
        "mode": {"enum": ["fast", "deep"], "type": "string", "default": "fast"},
    }
    assert str(tool) == (
        "search, whose description is <desc>Search the notes.</desc>. It takes arguments "
        "{'query': {'type': 'string'}, 'k': {'type': 'integer', 'default': 3}, "
        "'mode': {'enum': ['fast', 'deep'], 'type': 'string', 'default': 'fast'}}."
    )
    assert tool.spec()["function"]["parameters"]["required"] == ["query"]


def test_a_tool_coerces_arguments_to_the_annotated_types_and_names_a_bad_one():
    """dspy.Tool validates and parses arguments before calling the function."""

    class Point(pydantic.BaseModel):
        x: int
        y: int

    def norm(p: Point, scale: float = 1.0) -> float:
        return (p.x**2 + p.y**2) ** 0.5 * scale

    tool = dx.Tool(norm)
    assert tool(p={"x": 3, "y": 4}, scale="2") == 10.0
    assert "$defs" not in json.dumps(tool.args)
    with pytest.raises(ValueError, match=r"tool 'norm' has no argument\(s\) \['z'\]"):
        tool(p={"x": 1, "y": 1}, z=1)
    with pytest.raises(ValueError, match="tool 'norm', argument 'p'"):
        tool(p="not a point")


def test_tool_calls_accept_dspy_and_provider_shapes():
    """dspy.ToolCalls.from_dict_list and provider-shaped calls ({"function": {"name", "arguments"}})."""
    calls = dx.ToolCalls.from_dict_list([{"name": "search", "args": {"query": "cats"}}])
    assert [(c.name, c.args) for c in calls] == [("search", {"query": "cats"})]
    native = dx.ToolCalls.model_validate(
        [{"id": "c1", "type": "function", "function": {"name": "search", "arguments": '{"query": "dogs"}'}}]
    )
    assert (native.tool_calls[0].id, native.tool_calls[0].args) == ("c1", {"query": "dogs"})


def test_a_tool_run_is_a_tool_span_with_its_arguments_and_result(trace_store):
    dx.Tool(capital_of)(country="Japan")
    spans = dx.get_events(kind=["tool.start", "tool.end"], store=trace_store)
    assert list(spans["kind"]) == ["tool.start", "tool.end"]
    assert list(spans["component"]) == ["tool:capital_of", "tool:capital_of"]
    assert spans.iloc[0]["payload"]["args"] == {"country": "Japan"}
    assert spans.iloc[1]["payload"]["result"] == "Tokyo"


# --- native function calling at the LM level --------------------------------------------------------


@pytest.mark.parametrize("model", PROVIDERS)
def test_tool_calls_and_results_round_trip_in_each_wire_format(server, model):
    """OpenAI tools/tool_calls, Anthropic tool_use/tool_result, Gemini functionCall/functionResponse."""
    lm = client(server, model)
    tools = [dx.Tool(capital_of).spec(), dx.Tool(population_of).spec()]
    first = lm([{"role": "user", "content": QUESTION}], tools=tools)
    assert [(c["name"], c["args"]) for c in first.tool_calls] == [("capital_of", {"country": "France"})]

    from dspex_lab.lm.tool_wire import assistant_turn, tool_turn

    turns = [{"role": "user", "content": QUESTION}, assistant_turn("", first.tool_calls)]
    turns.append(tool_turn(first.tool_calls[0], "Paris"))
    second = lm(turns, tools=tools)
    assert [(c["name"], c["args"]) for c in second.tool_calls] == [("population_of", {"city": "Paris"})]
    seen = server.requests()[-1]["body"]
    wire = json.dumps(seen)
    marker = {"openai": '"role": "tool"', "anthropic": '"tool_result"', "gemini": '"functionResponse"'}
    assert marker[model.split("/")[0]] in wire


@pytest.mark.parametrize("model", PROVIDERS)
def test_a_toolcalls_output_is_filled_from_native_function_calls(server, model):
    """DSPy's `tools: list[dspy.Tool]` input and `dspy.ToolCalls` output: the calls come from the provider."""

    class Plan(dx.Signature):
        question: str = dx.InputField()
        tools: list[dx.Tool] = dx.InputField()
        outputs: dx.ToolCalls = dx.OutputField()

    tools = [dx.Tool(capital_of), dx.Tool(population_of)]
    pred = dx.Predict(Plan, lm=client(server, model))(question=QUESTION, tools=tools)
    (call,) = pred.outputs.tool_calls
    assert (call.name, call.args) == ("capital_of", {"country": "France"})
    assert call.execute(tools) == "Paris"
    body = json.dumps(server.requests()[-1]["body"])
    assert "[[ ## outputs ## ]]" not in body


def test_the_text_protocol_asks_for_tool_calls_as_dspy_words_it():
    class Plan(dx.Signature):
        question: str = dx.InputField()
        tools: list[dx.Tool] = dx.InputField()
        outputs: dx.ToolCalls = dx.OutputField()

    prompt = dx.ChatAdapter().format(Plan, [], {"question": "q", "tools": [dx.Tool(capital_of)]})[-1]["content"]
    assert prompt.endswith(
        'starting with the field `[[ ## outputs ## ]]` (must be a JSON object like {"tool_calls": '
        '[{"name": "...", "args": {...}}]}), and then ending with the marker for `[[ ## completed ## ]]`.'
    )


# --- ReAct -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", PROVIDERS)
def test_react_with_two_tools_answers_a_multi_step_question_natively(server, model):
    """dspy.ReAct: thought, tool, observation until finish, then extract the outputs from the trajectory."""
    agent = dx.ReAct("question -> answer: int", tools=[capital_of, population_of], max_iters=5)
    with dx.context(lm=client(server, model)):
        pred = agent(question=QUESTION)
    assert pred.answer == 2_100_000
    assert [pred.trajectory[f"tool_name_{i}"] for i in range(3)] == ["capital_of", "population_of", "finish"]
    assert pred.trajectory["observation_0"] == "Paris"
    assert pred.trajectory["tool_args_1"] == {"city": "Paris"}
    bodies = [request["body"] for request in server.requests()]
    assert sum("tools" in body for body in bodies) == 3  # three steps offered the tools natively


def test_react_runs_async_with_async_tools(server):
    """`await agent.acall(...)`: coroutine tools are awaited, plain ones run in a worker thread."""
    import asyncio

    async def capital_of(country: str) -> str:
        """The capital city of a country."""
        await asyncio.sleep(0)
        return {"France": "Paris"}[country]

    agent = dx.ReAct("question -> answer: int", tools=[capital_of, population_of])

    async def main() -> dx.Prediction:
        with dx.context(lm=client(server, "gemini/gemini-x")):
            return await agent.acall(question=QUESTION)

    pred = asyncio.run(main())
    assert pred.answer == 2_100_000
    assert pred.trajectory["observation_0"] == "Paris"


def test_react_falls_back_to_the_text_protocol_when_the_lm_has_no_function_calling(server):
    """The adapters' text protocol carries next_tool_calls as JSON (the embedded model's path)."""
    lm = client(server, "openai/gpt-x")
    lm.supports_tool_calls = False
    agent = dx.ReAct("question -> answer: int", tools=[capital_of, population_of])
    with dx.context(lm=lm):
        pred = agent(question="How many people live in the capital of Japan?")
    assert pred.answer == 14_000_000
    assert all("tools" not in request["body"] for request in server.requests())
    prompt = server.requests()[1]["body"]["messages"][-1]["content"]
    assert "[[ ## observation_0 ## ]]\nTokyo" in prompt


def test_react_steps_are_module_spans_holding_the_lm_request_and_the_tool_span(server, trace_store):
    agent = dx.ReAct("question -> answer: int", tools=[capital_of, population_of])
    with dx.context(lm=client(server, "anthropic/claude-x")):
        agent(question=QUESTION)
    frame = dx.get_events(store=trace_store)
    steps = frame[(frame["kind"] == "program.start") & (frame["component"] == "re_act.step")]
    assert len(steps) == 3
    first_step = steps.iloc[0]["span_id"]
    inside = frame[frame["parent_id"] == first_step]
    assert "program.start" in set(inside["kind"])  # the react predictor's call
    tools = frame[(frame["kind"] == "tool.start") & (frame["component"] == "tool:capital_of")]
    assert tools.iloc[0]["parent_id"] == first_step
    replies = frame[frame["kind"] == "lm.response"]
    assert any(payload.get("tool_calls") for payload in replies["payload"])


def test_a_failing_tool_becomes_an_observation_the_agent_can_read():
    """DSPy turns a tool's exception into 'Execution error in <tool>: ...' in the trajectory."""

    def broken(country: str) -> str:
        raise RuntimeError("service down")

    replies = iter(
        [
            {"next_thought": "try", "next_tool_calls": {"tool_calls": [{"name": "broken", "args": {"country": "x"}}]}},
            {"next_thought": "stop", "next_tool_calls": {"tool_calls": [{"name": "finish", "args": {}}]}},
            {"reasoning": "r", "answer": "unknown"},
        ]
    )
    agent = dx.ReAct("question -> answer", tools=[broken])
    with dx.context(lm=dx.ScriptedLM(lambda _messages: next(replies))):
        pred = agent(question="q")
    assert pred.trajectory["observation_0"] == "Execution error in broken: RuntimeError: service down"
    assert pred.answer == "unknown"


def test_tools_that_cannot_be_described_are_refused_clearly():
    class Opaque:
        pass

    def use(thing: Opaque) -> str:
        return ""

    with pytest.raises(TypeError, match=r"tool 'use', argument 'thing': .* has no JSON schema to show the LM"):
        dx.Tool(use)
    with pytest.raises(TypeError, match=r"tools must be a list of functions or dx\.Tool"):
        dx.ReAct("question -> answer", tools=capital_of)


def scripted_agent_lm(overflows) -> dx.ScriptedLM:
    """Plans capital_of, population_of, finish (text protocol); a step whose prompt `overflows(prompt)`
    fails as a provider does when the context window is exceeded."""

    def reply(messages):
        prompt = messages[-1]["content"]
        if "[[ ## next_tool_calls ## ]]" not in prompt:
            return {"reasoning": "r", "answer": "2100000"}
        if overflows(prompt):
            raise dx.LMError("This model's maximum context length is 8192 tokens (context_length_exceeded)", status=400)
        if "\npopulation_of\n" in prompt:
            name, args = "finish", {}
        elif "\ncapital_of\n" in prompt:
            name, args = "population_of", {"city": "Paris"}
        else:
            name, args = "capital_of", {"country": "France"}
        return {"next_thought": "next", "next_tool_calls": {"tool_calls": [{"name": name, "args": args}]}}

    return dx.ScriptedLM(reply)


def test_react_drops_the_oldest_step_when_the_prompt_overflows_the_context():
    """DSPy's ReAct truncates the trajectory (oldest tool call first) on a context-window error and goes on."""

    def overflows(prompt):
        return prompt.count("[[ ## thought_") >= 2

    agent = dx.ReAct("question -> answer: int", tools=[capital_of, population_of])
    with dx.context(lm=scripted_agent_lm(overflows)):
        pred = agent(question=QUESTION)
    assert pred.answer == 2_100_000
    assert [pred.trajectory[key] for key in pred.trajectory if key.startswith("tool_name")] == [
        "population_of",
        "finish",
    ]  # capital_of, the oldest step, was dropped to make room


def test_react_ends_the_trajectory_when_one_step_still_overflows():
    def overflows(prompt):
        return "[[ ## thought_0 ## ]]" in prompt

    agent = dx.ReAct("question -> answer: int", tools=[capital_of, population_of])
    with dx.context(lm=scripted_agent_lm(overflows)):
        pred = agent(question=QUESTION)
    assert [key for key in pred.trajectory if key.startswith("tool_name")] == ["tool_name_0"]
    assert pred.answer == 2_100_000


def test_other_lm_errors_are_not_taken_for_an_overflow():
    agent = dx.ReAct("question -> answer", tools=[capital_of])

    def refuse(messages):
        raise dx.LMError("invalid api key", status=401)

    with dx.context(lm=dx.ScriptedLM(refuse)), pytest.raises(dx.LMError, match="invalid api key"):
        agent(question=QUESTION)


def test_react_refuses_a_tool_named_finish_and_a_clashing_field():
    def finish() -> str:
        return ""

    with pytest.raises(ValueError, match="'finish' is ReAct's own tool"):
        dx.ReAct("question -> answer", tools=[finish])
    with pytest.raises(dx.SignatureError, match="ReAct adds a 'trajectory' input itself"):
        dx.ReAct("question, trajectory -> answer", tools=[capital_of])


@pytest.mark.slow
@pytest.mark.local_model
def test_the_embedded_model_runs_an_agent_through_the_text_protocol():
    """The embedded model has no native function calling: ReAct asks it in its adapter's text protocol
    (JSON, the embedded model's default adapter), the tool calls an output field like any other."""
    lm = dx.LM("local/smollm2-135m", cache=False, max_tokens=96)
    assert lm.supports_tool_calls is False
    agent = dx.ReAct("question -> answer", tools=[capital_of, population_of], max_iters=1)
    with dx.context(lm=lm):
        pred = agent(question=QUESTION)
    first = lm.history[0]
    assert "tools" not in first.params
    assert "`next_tool_calls`" in first.messages[-1]["content"]
    assert (
        "(1) capital_of, whose description is <desc>The capital city of a country.</desc>"
        in (first.messages[0]["content"])
    )
    assert isinstance(pred.answer, str)
    assert isinstance(pred.trajectory, dict)
