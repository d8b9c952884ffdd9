"""Metrics judged by an LM, as DSPy ships them: `SemanticF1` and `CompleteAndGrounded`.

    metric = dx.SemanticF1()                     # example.response vs pred.response
    dx.evaluate(program, devset, metric=metric)  # the judge uses the configured LM (or lm=)

Each returns a score in [0, 1]; called with a trace (while an optimizer
bootstraps) it returns whether the score reaches `threshold`, as in DSPy. The
judge's calls are ordinary program spans and LM requests in the trace.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

from dspex_lab.lm.base import BaseLM
from dspex_lab.modules.chain_of_thought import ChainOfThought
from dspex_lab.prediction import Prediction
from dspex_lab.settings import context
from dspex_lab.signature import InputField, OutputField, Signature


class SemanticRecallPrecision(Signature):
    """
    Compare a system's response to the ground truth to compute its recall and precision.
    If asked to reason, enumerate key ideas in each response, and whether they are present in the other response.
    """

    question: str = InputField()
    ground_truth: str = InputField()
    system_response: str = InputField()
    recall: float = OutputField(desc="fraction (out of 1.0) of ground truth covered by the system response")
    precision: float = OutputField(desc="fraction (out of 1.0) of system response covered by the ground truth")


class DecompositionalSemanticRecallPrecision(Signature):
    """
    Compare a system's response to the ground truth to compute recall and precision of key ideas.
    You will first enumerate key ideas in each response, discuss their overlap, and then report recall and precision.
    """

    question: str = InputField()
    ground_truth: str = InputField()
    system_response: str = InputField()
    ground_truth_key_ideas: str = OutputField(desc="enumeration of key ideas in the ground truth")
    system_response_key_ideas: str = OutputField(desc="enumeration of key ideas in the system response")
    discussion: str = OutputField(desc="discussion of the overlap between ground truth and system response")
    recall: float = OutputField(desc="fraction (out of 1.0) of ground truth covered by the system response")
    precision: float = OutputField(desc="fraction (out of 1.0) of system response covered by the ground truth")


class AnswerCompleteness(Signature):
    """
    Estimate the completeness of a system's responses, against the ground truth.
    You will first enumerate key ideas in each response, discuss their overlap, and then report completeness.
    """

    question: str = InputField()
    ground_truth: str = InputField()
    system_response: str = InputField()
    ground_truth_key_ideas: str = OutputField(desc="enumeration of key ideas in the ground truth")
    system_response_key_ideas: str = OutputField(desc="enumeration of key ideas in the system response")
    discussion: str = OutputField(desc="discussion of the overlap between ground truth and system response")
    completeness: float = OutputField(desc="fraction (out of 1.0) of ground truth covered by the system response")


class AnswerGroundedness(Signature):
    """
    Estimate the groundedness of a system's responses, against real retrieved documents written by people.
    You will first enumerate whatever non-trivial or check-worthy claims are made in the system response, and then
    discuss the extent to which some or all of them can be deduced from the retrieved context and basic commonsense.
    """

    question: str = InputField()
    retrieved_context: str = InputField()
    system_response: str = InputField()
    system_response_claims: str = OutputField(
        desc="enumeration of non-trivial or check-worthy claims in the system response"
    )
    discussion: str = OutputField(desc="discussion of how supported the claims are by the retrieved context")
    groundedness: float = OutputField(
        desc="fraction (out of 1.0) of system response supported by the retrieved context"
    )


def f1_of(precision: float, recall: float) -> float:
    """F1 of a precision and a recall, each clamped to [0, 1]."""
    precision, recall = max(0.0, min(1.0, precision)), max(0.0, min(1.0, recall))
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


class _Judge:
    """A metric whose score an LM gives: `judge(example, pred, trace=None)`."""

    def __init__(self, threshold: float, lm: BaseLM | None) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be between 0 and 1, got {threshold!r}")
        self.threshold = threshold
        self.lm = lm

    def __call__(self, example: Any, pred: Any, trace: Any = None) -> Prediction:
        with context(lm=self.lm) if self.lm is not None else nullcontext():
            score = self.score(example, pred)
        return Prediction(score=score if trace is None else score >= self.threshold)

    async def acall(self, example: Any, pred: Any, trace: Any = None) -> Prediction:
        """The async form, which `dx.evaluate` uses."""
        with context(lm=self.lm) if self.lm is not None else nullcontext():
            score = await self.ascore(example, pred)
        return Prediction(score=score if trace is None else score >= self.threshold)

    def score(self, example: Any, pred: Any) -> float:
        raise NotImplementedError

    async def ascore(self, example: Any, pred: Any) -> float:
        raise NotImplementedError


class SemanticF1(_Judge):
    """F1 of the key ideas of `pred.response` against `example.response`, as an LM judges them (DSPy's metric).

    `decompositional=True` has the judge list and discuss the key ideas first.
    """

    def __init__(self, threshold: float = 0.66, decompositional: bool = False, *, lm: BaseLM | None = None) -> None:
        super().__init__(threshold, lm)
        self.module = ChainOfThought(
            DecompositionalSemanticRecallPrecision if decompositional else SemanticRecallPrecision
        )

    def score(self, example: Any, pred: Any) -> float:
        scores = self.module(question=example.question, ground_truth=example.response, system_response=pred.response)
        return f1_of(scores.precision, scores.recall)

    async def ascore(self, example: Any, pred: Any) -> float:
        scores = await self.module.acall(
            question=example.question, ground_truth=example.response, system_response=pred.response
        )
        return f1_of(scores.precision, scores.recall)


class CompleteAndGrounded(_Judge):
    """F1 of completeness (against `example.response`) and groundedness (in `pred.context`), as an LM judges them."""

    def __init__(self, threshold: float = 0.66, *, lm: BaseLM | None = None) -> None:
        super().__init__(threshold, lm)
        self.completeness_module = ChainOfThought(AnswerCompleteness)
        self.groundedness_module = ChainOfThought(AnswerGroundedness)

    def score(self, example: Any, pred: Any) -> float:
        completeness = self.completeness_module(
            question=example.question, ground_truth=example.response, system_response=pred.response
        )
        groundedness = self.groundedness_module(
            question=example.question, retrieved_context=pred.context, system_response=pred.response
        )
        return f1_of(groundedness.groundedness, completeness.completeness)

    async def ascore(self, example: Any, pred: Any) -> float:
        completeness = await self.completeness_module.acall(
            question=example.question, ground_truth=example.response, system_response=pred.response
        )
        groundedness = await self.groundedness_module.acall(
            question=example.question, retrieved_context=pred.context, system_response=pred.response
        )
        return f1_of(groundedness.groundedness, completeness.completeness)
