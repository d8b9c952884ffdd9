"""dspy.History as an input field: earlier exchanges become user/assistant turns before the question."""

from __future__ import annotations

import pytest

import dspex_lab as dx


class Chat(dx.Signature):
    question: str = dx.InputField()
    history: dx.History = dx.InputField()
    answer: str = dx.OutputField()


def test_history_messages_become_turns_between_the_demos_and_the_question():
    lm = dx.ScriptedLM(lambda messages: {"answer": "Berlin"})
    chat = dx.Predict(Chat, lm=lm)
    chat.demos = [dx.Example(question="1+1?", answer="2")]
    history = dx.History(messages=[{"question": "Capital of France?", "answer": "Paris"}])
    chat(question="And of Germany?", history=history)
    messages = lm.history[-1].messages
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert messages[3]["content"] == "[[ ## question ## ]]\nCapital of France?"
    assert messages[4]["content"] == "[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]\n"
    assert "[[ ## history ## ]]" not in messages[-1]["content"]
    assert messages[-1]["content"].startswith("[[ ## question ## ]]\nAnd of Germany?")
    assert "2. `history` (History)" in messages[0]["content"]  # the system message still lists it


def test_a_history_is_frozen_and_refuses_unknown_keys():
    history = dx.History(messages=[{"question": "q", "answer": "a"}])
    with pytest.raises(Exception, match="frozen"):
        history.messages = []  # type: ignore[misc]
    with pytest.raises(Exception, match="Extra inputs are not permitted"):
        dx.History(messages=[], turns=[])  # type: ignore[call-arg]
