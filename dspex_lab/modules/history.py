"""`dx.History`: the earlier turns of a conversation, as an input field.

    class Chat(dx.Signature):
        question: str = dx.InputField()
        history: dx.History = dx.InputField()
        answer: str = dx.OutputField()

    first = chat(question="What is the capital of France?")
    history = dx.History(messages=[{"question": "What is the capital of France?", **first}])
    chat(question="And of Germany?", history=history)

Each message holds fields of the signature; the adapter shows each one as a user
turn (its inputs) followed by an assistant turn (its outputs), before the
current question, as DSPy does.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pydantic


class History(pydantic.BaseModel):
    """Earlier exchanges, oldest first: each a dict of the signature's field values."""

    dx_kind: ClassVar[str] = "history"

    messages: list[dict[str, Any]]

    model_config = pydantic.ConfigDict(frozen=True, str_strip_whitespace=True, extra="forbid")
