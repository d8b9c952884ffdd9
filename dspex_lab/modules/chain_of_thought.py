"""ChainOfThought: Predict with a `reasoning` output field before the others."""

from __future__ import annotations

from typing import Any

from dspex_lab.modules.module import Module
from dspex_lab.modules.predict import Predict
from dspex_lab.prediction import Prediction
from dspex_lab.signature import OutputField, Signature, ensure_signature


class ChainOfThought(Module):
    """Asks the LM to reason step by step before giving the outputs; the reasoning is kept.

    `prediction.reasoning` holds it, and optimizers keep it in demos.
    """

    def __init__(self, signature: str | type[Signature], *, reasoning_desc: str = "", **predict_kwargs: Any) -> None:
        base = ensure_signature(signature)
        extended = base.prepend("reasoning", OutputField(desc=reasoning_desc), str)
        self.predict = Predict(extended, **predict_kwargs)

    def forward(self, **inputs: Any) -> Prediction:
        return self.predict(**inputs)

    async def aforward(self, **inputs: Any) -> Prediction:
        return await self.predict.acall(**inputs)
