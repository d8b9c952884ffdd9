"""The exact ChatAdapter prompt, pinned: DSPy's `[[ ## field ## ]]` protocol byte for byte."""

import dspex_lab as dx


class Rate(dx.Signature):
    """Rate how well the passage answers the question."""

    question: str = dx.InputField(desc="a user question")
    passage: str = dx.InputField()
    verdict: str = dx.OutputField(desc="one sentence")
    score: float = dx.OutputField(desc="between 0 and 1")


SYSTEM = """Your input fields are:
1. `question` (str): a user question
2. `passage` (str):
Your output fields are:
1. `verdict` (str): one sentence
2. `score` (float): between 0 and 1
All interactions will be structured in the following way, with the appropriate values filled in.

[[ ## question ## ]]
{question}

[[ ## passage ## ]]
{passage}

[[ ## verdict ## ]]
{verdict}

[[ ## score ## ]]
{score}        # note: the value you produce must be a single float value

[[ ## completed ## ]]
In adhering to this structure, your objective is: 
        Rate how well the passage answers the question."""  # noqa: W291 - DSPy's trailing spaces

INCOMPLETE_USER = """This is an example of the task, though some input or output fields are not supplied.

[[ ## question ## ]]
How tall is K2?"""

INCOMPLETE_ASSISTANT = """[[ ## verdict ## ]]
Not supplied for this particular example. 

[[ ## score ## ]]
0.1

[[ ## completed ## ]]
"""  # noqa: W291

COMPLETE_USER = """[[ ## question ## ]]
Who wrote Hamlet?

[[ ## passage ## ]]
Hamlet is a tragedy by Shakespeare."""

COMPLETE_ASSISTANT = """[[ ## verdict ## ]]
It names the author.

[[ ## score ## ]]
0.9

[[ ## completed ## ]]
"""

FINAL_USER = """[[ ## question ## ]]
What is the capital of Peru?

[[ ## passage ## ]]
Lima is the capital of Peru.
It lies on the coast.

Respond with the corresponding output fields, starting with the field `[[ ## verdict ## ]]`, then \
`[[ ## score ## ]]` (must be formatted as a valid Python float), and then ending with the marker for \
`[[ ## completed ## ]]`."""


def test_chat_adapter_messages_are_pinned_exactly():
    complete = dx.Example(
        question="Who wrote Hamlet?",
        passage="Hamlet is a tragedy by Shakespeare.",
        verdict="It names the author.",
        score=0.9,
    )
    incomplete = dx.Example(question="How tall is K2?", score=0.1)
    inputs = {
        "question": "What is the capital of Peru?",
        "passage": "Lima is the capital of Peru.\nIt lies on the coast.",
    }

    messages = dx.ChatAdapter().format(Rate, [complete, incomplete], inputs)

    assert messages == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": INCOMPLETE_USER},
        {"role": "assistant", "content": INCOMPLETE_ASSISTANT},
        {"role": "user", "content": COMPLETE_USER},
        {"role": "assistant", "content": COMPLETE_ASSISTANT},
        {"role": "user", "content": FINAL_USER},
    ]


def test_a_demo_without_any_output_field_is_left_out():
    only_inputs = dx.Example(question="Who?", passage="Nobody.")
    messages = dx.ChatAdapter().format(Rate, [only_inputs], {"question": "q", "passage": "p"})
    assert [m["role"] for m in messages] == ["system", "user"]
