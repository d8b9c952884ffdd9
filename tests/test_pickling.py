"""What a user ships to another process pickles: examples, predictions, signatures, programs.

A signature class defined in a notebook (module `__main__`) is pickled by value
by cloudpickle and rebuilt in the other process; the checks run a fresh
interpreter so nothing is found by name there.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap

import cloudpickle
import pytest

import dspex_lab as dx
from dspex_lab.lm.usage import Usage


@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps], ids=["pickle", "cloudpickle"])
def test_an_example_round_trips_with_its_input_keys(dumps):
    example = dx.Example(question="2+2?", answer="4").with_inputs("question")
    back = pickle.loads(dumps(example))
    assert back == example
    assert back.input_keys == frozenset({"question"})
    with pytest.raises(AttributeError, match="immutable"):
        back.answer = "5"


@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps], ids=["pickle", "cloudpickle"])
def test_a_prediction_round_trips_with_its_raw_text_and_usage(dumps):
    prediction = dx.Prediction(answer="4", raw="[[ ## answer ## ]]\n4", usage=Usage(12, 3, calls=1))
    back = pickle.loads(dumps(prediction))
    assert back == prediction
    assert back.raw == prediction.raw
    assert back.usage == Usage(12, 3, calls=1)
    with pytest.raises(AttributeError, match="read-only"):
        back.answer = "5"


def test_a_string_signature_and_a_program_round_trip_with_cloudpickle():
    program = dx.Predict("question, k: int -> answer")
    back = cloudpickle.loads(cloudpickle.dumps(program))
    assert back.signature == program.signature
    assert back.signature.signature == "question, k: int -> answer"


NOTEBOOK_SIGNATURE = textwrap.dedent(
    '''
    import cloudpickle, sys
    import dspex_lab as dx

    class QA(dx.Signature):
        """Answer in one word."""
        question: str = dx.InputField()
        answer: str = dx.OutputField(desc="one word")

    sys.stdout.buffer.write(cloudpickle.dumps((QA, dx.Predict(QA))))
    '''
)

REBUILD = textwrap.dedent(
    """
    import pickle, sys
    import dspex_lab as dx

    QA, program = pickle.loads(sys.stdin.buffer.read())
    same = QA.append("x", dx.InputField()).delete("x")
    print(QA.__module__, QA.__name__, QA.instructions, list(QA.output_fields), QA.output_fields["answer"].desc)
    print(program.signature is QA, same == QA, hash(same) == hash(QA))
    try:
        QA.extra = dx.InputField()
    except AttributeError as exc:
        print("immutable:", "signatures are immutable" in str(exc))
    """
)


def test_a_signature_defined_in_main_is_rebuilt_in_another_process():
    made = subprocess.run([sys.executable, "-c", NOTEBOOK_SIGNATURE], capture_output=True, check=True, timeout=60)
    rebuilt = subprocess.run(
        [sys.executable, "-c", REBUILD], input=made.stdout, capture_output=True, check=True, timeout=60
    )
    lines = rebuilt.stdout.decode().splitlines()
    assert lines == [
        "__main__ QA Answer in one word. ['answer'] one word",
        "True True True",
        "immutable: True",
    ]


def test_unpickling_a_signature_this_process_already_has_changes_nothing():
    class Local(dx.Signature):
        """Instructions no other signature of this test run has."""

        question: str = dx.InputField()
        answer: str = dx.OutputField()

    assert cloudpickle.loads(cloudpickle.dumps(Local)) is Local
    assert Local.signature == "question -> answer"
