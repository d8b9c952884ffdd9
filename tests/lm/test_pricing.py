"""Prices: listed models (and their dated versions) get a cost; unknown ones get None."""

from __future__ import annotations

import pytest

from dspex_lab.lm.pricing import cost, price_of


def test_exact_and_dated_model_names_find_their_price():
    assert price_of("openai/gpt-4o-mini") == (0.15, 0.60)
    assert price_of("openai/gpt-4o-mini-2024-07-18") == (0.15, 0.60)
    assert price_of("openai/gpt-4o-2024-08-06") == (2.50, 10.00)
    assert price_of("local/smollm2-135m") == (0.0, 0.0)
    assert price_of("openai/my-finetune") is None


def test_cost_is_per_million_tokens():
    assert cost((1.0, 2.0), 1_000_000, 500_000) == pytest.approx(2.0)
    assert cost(None, 10, 10) is None
