"""The order in which an optimizer tries training examples: by label in turn, independent of the trainset's order.

DSPy's BootstrapFewShot tries examples in trainset order and keeps the first
that pass. With a weak teacher, the ones that pass are those whose label is the
teacher's favourite answer, and a trainset grouped by label hands it a run of
one label: the compiled program sees one label in every demo and answers it to
everything. `balanced_order` deals the examples out label by label instead (one
of each label, then the next of each, ...), each label's examples in a seeded
order computed from their content, so the same examples in any order give the
same sequence, and the first examples tried cover the labels evenly.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from dspex_lab.example import Example
from dspex_lab.fields import jsonable


def label_key(example: Example) -> str:
    """An example's labels (its non-input fields), as comparable text: case and outer spaces ignored."""
    labels = example.labels()
    values = {name: labels[name] for name in sorted(labels) if name != "augmented"}
    return json.dumps(jsonable(values), sort_keys=True, ensure_ascii=False, default=str).strip().lower()


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
