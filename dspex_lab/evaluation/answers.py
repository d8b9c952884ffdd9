"""DSPy's answer metrics: exact match and passage match, with its text normalisation.

    dx.evaluate(program, devset, metric=dx.answer_exact_match)

Text is normalised as DSPy (and SQuAD) do: Unicode NFD, lower case, punctuation
and the articles a/an/the removed, whitespace collapsed. `example.answer` may
be one answer or a list of acceptable ones.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from typing import Any

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_text(text: str) -> str:
    """`"The,  Eiffel  Tower!"` -> `"eiffel tower"`."""
    text = unicodedata.normalize("NFD", text).lower()
    text = "".join(char for char in text if char not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def em_score(prediction: str, answer: str) -> bool:
    """Exact match after normalisation."""
    return normalize_text(prediction) == normalize_text(answer)


def f1_score(prediction: str, answer: str) -> float:
    """Token-level F1 after normalisation (0 when no token is shared)."""
    predicted = normalize_text(prediction).split()
    expected = normalize_text(answer).split()
    same = sum((Counter(predicted) & Counter(expected)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(expected)
    return 2 * precision * recall / (precision + recall)


def _answers(example: Any) -> list[str]:
    answer = example.answer
    if isinstance(answer, str):
        return [answer]
    if isinstance(answer, list):
        return [str(item) for item in answer]
    raise ValueError(f"example.answer must be a string or a list of strings, got {type(answer).__name__}")


def answer_exact_match(example: Any, pred: Any, trace: Any = None, frac: float = 1.0) -> bool:
    """True when `pred.answer` matches `example.answer` (or one of a list of answers).

    Exactly after normalisation; with `frac` < 1, when the token F1 reaches `frac`.
    """
    answers = _answers(example)
    if frac >= 1.0:
        return any(em_score(pred.answer, answer) for answer in answers)
    return max(f1_score(pred.answer, answer) for answer in answers) >= frac


def answer_passage_match(example: Any, pred: Any, trace: Any = None) -> bool:
    """True when a passage of `pred.context` contains an answer, token for token (DPR's matching)."""
    wanted = [_tokens(normalize_text(answer)) for answer in _answers(example)]
    passages = pred.context if isinstance(pred.context, list) else [pred.context]
    for passage in passages:
        words = _tokens(normalize_text(str(passage)))
        for answer in wanted:
            if any(words[i : i + len(answer)] == answer for i in range(len(words) - len(answer) + 1)):
                return True
    return False


def _tokens(text: str) -> list[str]:
    """DPR's simple tokenizer: runs of letters, digits and marks, or any other single visible character; lower-cased."""
    tokens: list[str] = []
    word: list[str] = []
    for char in unicodedata.normalize("NFD", text):
        category = unicodedata.category(char)[0]
        if category in "LNM":
            word.append(char)
            continue
        if word:
            tokens.append("".join(word))
            word = []
        if category not in "ZC":
            tokens.append(char)
    if word:
        tokens.append("".join(word))
    return [token.lower() for token in tokens]
