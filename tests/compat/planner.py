"""A loopback "model" that plans a two-tool task, in native function calling and in the text protocol.

Task: "How many people live in the capital of <country>?" with tools
`capital_of(country)` and `population_of(city)`. The planner calls the first
tool, then the second with what the first returned, then `finish`; asked for
the final answer, it reads the last observation from the trajectory.
"""

from __future__ import annotations

import json
import re

from dspex_lab.testing import ProviderRequest, ToolUse

CAPITALS = {"France": "Paris", "Japan": "Tokyo"}
POPULATIONS = {"Paris": 2_100_000, "Tokyo": 14_000_000}


def capital_of(country: str) -> str:
    """The capital city of a country."""
    return CAPITALS[country]


def population_of(city: str) -> int:
    """How many people live in a city."""
    return POPULATIONS[city]


def _country(text: str) -> str:
    return re.search(r"capital of (\w+)", text).group(1)


def _observations(text: str) -> list[str]:
    return re.findall(r"\[\[ ## observation_\d+ ## \]\]\n(.*)", text)


def _next_call(observations: list[str], country: str) -> dict:
    if not observations:
        return {"name": "capital_of", "args": {"country": country}}
    if len(observations) == 1:
        return {"name": "population_of", "args": {"city": observations[0]}}
    return {"name": "finish", "args": {}}


def planner(request: ProviderRequest) -> str | ToolUse:
    last = request.last_user_message
    if request.tools:  # native: results come back as tool messages
        results = [m["content"] for m in request.messages if m["role"] == "tool"]
        call = _next_call(results, _country(last))
        thought = f"Step {len(results) + 1}: call {call['name']}."
        return ToolUse([call], text=f"[[ ## next_thought ## ]]\n{thought}\n\n[[ ## completed ## ]]")
    if "[[ ## next_tool_calls ## ]]" in last:  # the text protocol
        call = _next_call(_observations(last), _country(last))
        return (
            f"[[ ## next_thought ## ]]\nI will call {call['name']}.\n\n"
            f"[[ ## next_tool_calls ## ]]\n{json.dumps({'tool_calls': [call]})}\n\n[[ ## completed ## ]]"
        )
    answer = _observations(last)[-2]  # the population, before finish's "Completed."
    return f"[[ ## reasoning ## ]]\nThe tools found it.\n\n[[ ## answer ## ]]\n{answer}\n\n[[ ## completed ## ]]"
