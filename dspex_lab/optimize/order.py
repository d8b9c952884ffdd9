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
tends to answer the label of the demo nearest the question (Zhao et al., 2021,
"Calibrate Before Use": majority-label and recency bias). `deal` lays demos out
label by label with a chosen label nearest the question; `layout` picks that
label.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence

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
    return _in_turns(queues)


def _in_turns(queues: list[list[int]]) -> list[int]:
    """The first of each queue in turn, then the second of each, and so on until all are used."""
    total = sum(map(len, queues))
    dealt: list[int] = []
    depth = 0
    while len(dealt) < total:
        dealt.extend(queue[depth] for queue in queues if depth < len(queue))
        depth += 1
    return dealt


def rank_labels(labels: Iterable[str], excess: Mapping[str, int], seed: int) -> list[str]:
    """`labels` from the teacher's most favoured to its least: `excess[label]` is how many more of its runs
    answered `label` than had it as their truth (ties in an order set by `seed`)."""
    return sorted(set(labels), key=lambda key: (-excess.get(key, 0), _digest(seed, key)))


def deal(keys: Sequence[str], ranking: Sequence[str]) -> list[int]:
    """Indices into `keys` (item i has label `keys[i]`), dealt in turns of `ranking` and aligned on the end.

    The last item has the label `ranking[-1]`, the one before it `ranking[-2]`,
    and so on back to the start; each label's items keep their order.
    """
    groups: dict[str, list[int]] = {key: [] for key in ranking}
    for index, key in enumerate(keys):
        groups.setdefault(key, []).append(index)
    # Deal backwards from the end: the last label first, each label's items from its last.
    return _in_turns([groups[key][::-1] for key in reversed(list(groups))])[::-1]
