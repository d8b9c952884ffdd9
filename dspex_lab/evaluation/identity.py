"""What a run scores, as a fingerprint: the program, the LM behind it, and the metrics.

A run id resumed with another program (other signatures, instructions or
demos), another LM (model or sampling options) or other metrics would return
the first one's scores as if they were the second's; the run store compares
these fingerprints part by part and names the part that differs.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from dspex_lab import settings
from dspex_lab.evaluation.metrics import MetricSet

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def fingerprint(program: Any, metrics: MetricSet) -> dict[str, dict[str, str]]:
    """{"program" | "LM" | "metrics": {"hash": ..., "shown": a short description}}."""
    predictors = _predictors(program)
    state = [
        {
            "name": name,
            "signature": predictor.signature.signature,
            "instructions": predictor.instructions,
            "demos": [demo.to_dict() for demo in predictor.demos],
        }
        for name, predictor in predictors
    ]
    demos = sum(len(entry["demos"]) for entry in state)
    program_shown = f"{type(program).__name__} with {len(state)} predictor(s) and {demos} demo(s)"
    lms = [_lm_of(predictor) for _, predictor in predictors] or [_lm_of(None)]
    lm_shown = ", ".join(sorted({_describe(lm) for lm in lms}))
    metric_names = [f"{name}={_qualified(fn)}" for name, fn, _ in metrics._calls]
    return {
        "program": _part([type(program).__qualname__, state], program_shown),
        "LM": _part(lms, lm_shown),
        "metrics": _part(metric_names, str(metrics.names)),
    }


def _predictors(program: Any) -> list[tuple[str, Any]]:
    named = getattr(program, "named_predictors", None)
    return list(named()) if callable(named) else []


def _lm_of(predictor: Any) -> dict[str, Any]:
    lm = getattr(predictor, "lm", None) or settings.get("lm")
    if lm is None:
        return {"model": None}
    options = {**getattr(lm, "kwargs", {}), **(getattr(predictor, "lm_kwargs", None) or {})}
    return {"model": getattr(lm, "model", type(lm).__name__), "options": options}


def _describe(lm: dict[str, Any]) -> str:
    options = ", ".join(f"{key}={value!r}" for key, value in sorted((lm.get("options") or {}).items()))
    return f"{lm['model']}({options})"


def _qualified(fn: Any) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', type(fn).__qualname__)}"


def _stable_repr(value: Any) -> Any:
    """A JSON stand-in that reads the same in every process (no object addresses)."""
    return _ADDRESS.sub("", repr(value))


def _part(value: Any, shown: str) -> dict[str, str]:
    text = json.dumps(value, sort_keys=True, default=_stable_repr, ensure_ascii=False)
    return {"hash": hashlib.blake2b(text.encode("utf-8"), digest_size=12).hexdigest(), "shown": shown[:300]}
