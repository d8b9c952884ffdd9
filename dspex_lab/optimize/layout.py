"""Which label the demo nearest the question carries, chosen by scoring each choice on training examples.

A small model tends to answer the label of the demo it saw last. On the same 16
sentiment demos (8 of each label), SmolLM2-135M answers "positive" to every
review when the last demo is positive, and scores 94% when it is negative; which
label is the harmful one depends on the demos, and the teacher's own answers do
not tell reliably. So, for a classification task, BootstrapFewShot lays its
demos out label by label once per label (that label nearest the question, the
others before it in turns), scores each layout on up to `PER_LABEL` training
examples of each label, and keeps the best. Examples that are not demos are
scored first; a demo's own example is scored with that demo left out of the
prompt (as the teacher's runs leave theirs out). The demos themselves (which, and how many) are
not changed, only their order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dspex_lab.evaluation.evaluator import aevaluate
from dspex_lab.evaluation.executor import Executor
from dspex_lab.example import Example
from dspex_lab.modules.capture import excluding
from dspex_lab.modules.module import Module
from dspex_lab.optimize.base import DemoOrigin
from dspex_lab.optimize.order import deal, label_key, rank_labels
from dspex_lab.trace import events, schema

Demos = dict[str, list[tuple[Example, DemoOrigin]]]
"""Predictor name -> its demos and where each came from."""

MAX_CLASSES = 8
"""More distinct labels than this among the demos: not classes; no layout is scored."""

PER_LABEL = 2
"""Training examples scored per label, at most."""


async def lay_out(
    program: Module,
    chosen: Demos,
    trainset: Sequence[tuple[int, Example]],
    excess: Mapping[str, int],
    metric: Callable[..., Any] | None,
    seed: int,
    *,
    component: str,
    concurrency: int,
    executor: Executor | None = None,
) -> Demos:
    """`chosen` in the order that scores best, each label's demos dealt in turns.

    `trainset` holds (position, example) in the order examples were tried;
    `excess` says which labels the teacher favoured (see `rank_labels`): the
    least favoured is nearest the question when scores tie, or when there is no
    metric or fewer than two examples to score on. Demos whose labels are not
    classes keep their order: one label, more than `MAX_CLASSES`, or more than
    half as many labels as demos (free-text answers, which rarely repeat).
    """
    at: dict[int | None, Example] = dict(trainset)
    if any(origin.train_index not in at for pairs in chosen.values() for _, origin in pairs):
        return chosen
    keys = {name: [label_key(at[origin.train_index]) for _, origin in pairs] for name, pairs in chosen.items()}
    labels = rank_labels([key for named in keys.values() for key in named], excess, seed)

    def nearest(last: str) -> Demos:
        ranking = [label for label in labels if label != last] + [last]
        return {name: [pairs[i] for i in deal(keys[name], ranking)] for name, pairs in chosen.items()}

    demos = sum(len(pairs) for pairs in chosen.values())
    if not 2 <= len(labels) <= min(MAX_CLASSES, demos // 2):  # free-text answers: labels rarely repeat
        return chosen
    scored_on = _per_label(trainset, {origin.train_index for pairs in chosen.values() for _, origin in pairs})
    if metric is None or len(scored_on) < 2:
        return nearest(labels[-1])
    best: tuple[float, Demos] | None = None
    phase = schema.OptimizePhaseStart(phase="layout", examples=len(scored_on))
    with events.span(phase, component):
        for last in reversed(labels):  # the least favoured first: it wins a tie
            layout = nearest(last)
            trial = program.deepcopy()
            predictors = dict(trial.named_predictors())
            for name, pairs in layout.items():
                predictors[name].demos = [demo for demo, _ in pairs]
            result = await aevaluate(
                LayoutTrial(trial), scored_on, metric, concurrency=concurrency, progress=False, executor=executor
            )
            if result.status != "completed":
                break
            if best is None or result.score > best[0]:
                best = (result.score, layout)
    return best[1] if best is not None else nearest(labels[-1])


def _per_label(trainset: Sequence[tuple[int, Example]], demos: set[int | None]) -> list[Example]:
    """Up to `PER_LABEL` examples of each label, those that are not demos first, each group in trainset order."""
    groups: dict[str, list[Example]] = {}
    for _, example in sorted(trainset, key=lambda item: item[0] in demos):  # stable: non-demos first
        group = groups.setdefault(label_key(example), [])
        if len(group) < PER_LABEL:
            group.append(example)
    return [example for group in groups.values() for example in group]


class LayoutTrial(Module):
    """`program`, each call with the demos made from the same inputs left out of its prompt."""

    def __init__(self, program: Module) -> None:
        self.program = program

    async def aforward(self, **inputs: Any) -> Any:
        with excluding(lambda demo: _same_inputs(demo, inputs)):
            return await self.program.acall(**inputs)


def _same_inputs(demo: Any, inputs: Mapping[str, Any]) -> bool:
    return all(name in demo and demo[name] == value for name, value in inputs.items())
