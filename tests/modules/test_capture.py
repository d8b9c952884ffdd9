"""What optimizers need: captured predictor calls, and an example kept out of its own demos."""

import asyncio

import dspex_lab as dx
from dspex_lab.modules.capture import capture_calls, excluding_demo


def test_every_predictor_call_in_a_multi_step_program_is_captured_with_intermediate_fields():
    class TwoStep(dx.Module):
        def __init__(self):
            self.first = dx.Predict("question -> hint")
            self.second = dx.ChainOfThought("question, hint -> answer")

        def forward(self, question):
            return self.second(question=question, hint=self.first(question=question).hint)

    program = TwoStep()
    lm = dx.ScriptedLM([{"hint": "add"}, {"reasoning": "2+2=4", "answer": "4"}])
    with dx.context(lm=lm), capture_calls() as calls:
        program(question="2+2?")
    assert [call.predictor for call in calls] == [program.first, program.second.predict]
    assert calls[1].inputs == {"question": "2+2?", "hint": "add"}
    assert dict(calls[1].prediction) == {"reasoning": "2+2=4", "answer": "4"}


def test_failed_calls_are_not_captured():
    lm = dx.ScriptedLM(["junk", "junk"])
    with dx.context(lm=lm), capture_calls() as calls:
        try:
            dx.Predict("question -> answer")(question="q")
        except dx.AdapterParseError:
            pass
    assert calls == []


def test_an_excluded_example_is_left_out_of_the_demos_only_inside_the_block():
    first = dx.Example(question="1+1?", answer="2").with_inputs("question")
    second = dx.Example(question="2+2?", answer="4").with_inputs("question")
    lm = dx.ScriptedLM(lambda messages: {"answer": str(len(messages))})
    predict = dx.Predict("question -> answer", lm=lm)
    predict.demos = [first, second]
    with excluding_demo(first):
        inside = predict(question="3+3?").answer
    outside = predict(question="3+3?").answer
    assert (inside, outside) == ("4", "6")


def test_exclusion_is_local_to_each_concurrent_task():
    examples = [dx.Example(question=f"{i}?", answer=str(i)).with_inputs("question") for i in range(4)]
    lm = dx.ScriptedLM(lambda messages: {"answer": str((len(messages) - 2) // 2)})
    predict = dx.Predict("question -> answer", lm=lm)
    predict.demos = examples

    async def run(example):
        with excluding_demo(example):
            await asyncio.sleep(0)
            return (await predict.acall(question="x")).answer

    async def main():
        return await asyncio.gather(*(run(example) for example in examples))

    assert asyncio.run(main()) == ["3", "3", "3", "3"]
