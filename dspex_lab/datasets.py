"""The small tasks the project ships, as lists of Examples: `train, dev = dx.datasets.load("sentiment")`.

Each task is a JSONL file in the repository's `data/` folder (see its README for
how each was made). A line is one example: its fields, `"split"` ("train" or
"dev") and `"_inputs"` (the input field names, as `dx.Example.to_json` writes
them). `task(name)` adds what it takes to run the task: a signature and a metric.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dspex_lab.example import Example

DATA_ENV = "DSPEX_DATA_DIR"
"""Environment variable naming another folder to read task files from."""

SPLITS = ("train", "dev")


def data_dir() -> Path:
    """The folder the task files are read from: `$DSPEX_DATA_DIR`, else the repository's `data/`."""
    override = os.environ.get(DATA_ENV)
    if override:
        return Path(override)
    return Path(__file__).resolve().parent.parent / "data"


# --- metrics ----------------------------------------------------------------------------------


def normalize(text: Any) -> str:
    """Lower-case ASCII words: accents, punctuation and extra spaces removed ("Bogotá." -> "bogota")."""
    ascii_text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", ascii_text.lower()).split())


def answer_matches(field: str) -> Callable[..., bool]:
    """A metric: the prediction's `field` equals the example's (or one of its `aliases`) once normalized."""

    def metric(example: Example, prediction: Any, trace: Any = None) -> bool:
        predicted = prediction.get(field) if hasattr(prediction, "get") else getattr(prediction, field, None)
        if predicted is None:
            return False
        accepted = [example[field], *example.get("aliases", [])]
        return normalize(predicted) in {normalize(value) for value in accepted}

    metric.__name__ = f"{field}_matches"
    return metric


# --- tasks ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Task:
    """A shipped task: its examples' file, the signature to run it with, and its metric."""

    name: str
    description: str
    signature: str
    metric: Callable[..., bool]

    @property
    def path(self) -> Path:
        return data_dir() / f"{self.name}.jsonl"

    def load(self) -> tuple[list[Example], list[Example]]:
        """(train, dev) lists of Examples with their inputs marked."""
        return _read(self.path, self.name)


TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        Task(
            "sentiment",
            "one-sentence reviews of food, films, devices, hotels, books and services; positive or negative",
            "review -> sentiment",
            answer_matches("sentiment"),
        ),
        Task(
            "capitals",
            "'What is the capital of <country>?' for 128 countries with one undisputed capital",
            "question -> answer",
            answer_matches("answer"),
        ),
        Task(
            "topics",
            "the thing a one-sentence review is about ('The soup was cold.' -> 'soup'), of 30 kinds",
            "review -> topic",
            answer_matches("topic"),
        ),
        Task(
            "arithmetic",
            "'What is a + b?', 'a - b' and 'a times b' for one-digit a and b",
            "question -> answer",
            answer_matches("answer"),
        ),
        Task(
            "language",
            "the language a short sentence is written in: English, French, Spanish or German",
            "sentence -> language: Literal['English', 'French', 'Spanish', 'German']",
            answer_matches("language"),
        ),
        Task(
            "animals",
            "whether a sentence mentions an animal ('The dog slept in the barn.') or not ('The lamp ...')",
            "sentence -> mentions_animal: bool",
            answer_matches("mentions_animal"),
        ),
        Task(
            "entities",
            "the kind of thing a name refers to: a person, a city, a company or an animal",
            "name -> kind: Literal['person', 'city', 'company', 'animal']",
            answer_matches("kind"),
        ),
    )
}


def names() -> list[str]:
    """The shipped tasks' names."""
    return sorted(TASKS)


def task(name: str) -> Task:
    """The shipped task `name`, with its signature and metric."""
    found = TASKS.get(name)
    if found is None:
        raise KeyError(f"no shipped task {name!r}; the tasks are {names()} (or pass a path to a .jsonl file to load())")
    return found


def load(name: str | os.PathLike[str]) -> tuple[list[Example], list[Example]]:
    """(train, dev) Examples of a shipped task, or of any JSONL file written in the same format."""
    if isinstance(name, os.PathLike) or str(name).endswith(".jsonl"):
        path = Path(name)
        return _read(path, str(path))
    return task(str(name)).load()


def _read(path: Path, label: str) -> tuple[list[Example], list[Example]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(
            f"task {label!r}: no file at {path}; the shipped files are written by `python data/make_tasks.py`, "
            f"or set {DATA_ENV} to the folder that holds them"
        ) from None
    splits: dict[str, list[Example]] = {split: [] for split in SPLITS}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where}: not a JSON object ({exc})") from None
        if not isinstance(row, dict):
            raise ValueError(f"{where}: each line must be a JSON object, got {type(row).__name__}")
        split = row.pop("split", None)
        if split not in splits:
            raise ValueError(f"{where}: 'split' must be one of {list(SPLITS)}, got {split!r}")
        if not isinstance(row.get("_inputs"), list) or not row["_inputs"]:
            raise ValueError(f'{where}: \'_inputs\' must list the input field names, e.g. "_inputs": ["question"]')
        try:
            splits[split].append(Example.from_dict(row))
        except KeyError as exc:
            raise ValueError(f"{where}: {exc.args[0]}") from None
    return splits["train"], splits["dev"]
