"""The order in which an optimizer tries training examples and lays out demos: by label in turn, whatever the
order of the trainset.

DSPy's BootstrapFewShot tries examples in trainset order and keeps the first
that pass. With a weak teacher, the ones that pass are those whose label is the
teacher's favourite answer, and a trainset grouped by label hands it a run of
one label: the compiled program sees one label in every demo and answers it to
everything. `balanced_order` deals the examples out label by label instead (one
of each label, then the next of each, ...), each label's examples in a seeded
order computed from their content, so the same examples in any order give the
same sequence, and the first examples tried cover the labels evenly.

The order of the demos in the prompt matters as much to a small model: it
tends to answer the label it favours anyway, and the label of the demo nearest
the question (Zhao et al., 2021, "Calibrate Before Use": majority-label and
recency bias). With 8 positive and 8 negative sentiment demos, SmolLM2-135M
answers "positive" to every review when the last demo is positive, and scores
94% on the same demos when it is negative. `against_bias` deals the demos out
label by label so that the demo nearest the question carries the label the
teacher answered least often relative to the truth, and the one before it the
next such label: the model's measured favourite is kept farthest from the
question.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence

from dspex_lab.example import Example
from dspex_lab.fields import jsonable


def label_key(example: Example) -> str:
    """An example's labels (its non-input fields), as comparable text: case and outer spaces ignored."""
    return values_key(example.labels())


def values_key(values: Mapping[str, object]) -> str:
    """Field values as comparable text (as `label_key` writes an example's labels)."""
    kept = {name: values[name] for name in sorted(values) if name != "augmented"}
    return json.dumps(jsonable(kept), sort_keys=True, ensure_ascii=False, default=str).strip().lower()


def _digest(seed: int, text: str) -> str:
    return hashlib.sha256(f"{seed}\0{text}".encode()).hexdigest()


def balanced_order(trainset: Sequence[Example], seed: int) -> list[int]:
    """Indices into `trainset`: one example of each label in turn, in an order set by `seed` and content only."""
    groups: dict[str, list[int]] = {}
    for index, example in enumerate(trainset):
        groups.setdefault(label_key(example), []).append(index)

    def content(index: int) -> str:
        example = trainset[index]
        return _digest(seed, json.dumps(jsonable(dict(example)), sort_keys=True, ensure_ascii=False, default=str))

    queues = [sorted(members, key=lambda i: (content(i), i)) for members in groups.values()]
    queues.sort(key=lambda queue: _digest(seed, label_key(trainset[queue[0]])))
    order: list[int] = []
    depth = 0
    while len(order) < len(trainset):
        order.extend(queue[depth] for queue in queues if depth < len(queue))
        depth += 1
    return order


def against_bias(keys: Sequence[str], excess: Mapping[str, int], seed: int) -> list[int]:
    """Indices into `keys` (item i has label `keys[i]`), dealt out label by label, ending with the least favoured.

    `excess[label]` is how much more often the teacher answered `label` than the
    truth called for (negative: less often). Labels are ranked from the most
    favoured to the least (ties in an order set by `seed`); the items are dealt
    in turns of that ranking, aligned on the end, so the last item has the least
    favoured label, the one before it the next, and so on. Each label's items
    keep their order.
    """
    groups: dict[str, list[int]] = {}
    for index, key in enumerate(keys):
        groups.setdefault(key, []).append(index)
    ranked = sorted(groups, key=lambda key: (-excess.get(key, 0), _digest(seed, key)))
    # Deal backwards from the end: least favoured label first, each label's items from its last.
    queues = [groups[key][::-1] for key in reversed(ranked)]
    dealt: list[int] = []
    depth = 0
    while len(dealt) < len(keys):
        dealt.extend(queue[depth] for queue in queues if depth < len(queue))
        depth += 1
    return dealt[::-1]
