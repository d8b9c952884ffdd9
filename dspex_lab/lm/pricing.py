"""Prices of some well-known models, to give each call a cost.

USD per million input and output tokens, the providers' published list prices
(2025). Prices change: pass `price=(input, output)` to `dx.LM` to set or
correct one. Models not listed (and not priced by the caller) get cost None.
"""

from __future__ import annotations

Price = tuple[float, float]

PRICES: dict[str, Price] = {
    "openai/gpt-4o-mini": (0.15, 0.60),
    "openai/gpt-4o": (2.50, 10.00),
    "openai/gpt-4.1-nano": (0.10, 0.40),
    "openai/gpt-4.1-mini": (0.40, 1.60),
    "openai/gpt-4.1": (2.00, 8.00),
    "anthropic/claude-3-5-haiku": (0.80, 4.00),
    "anthropic/claude-3-5-sonnet": (3.00, 15.00),
    "anthropic/claude-sonnet-4": (3.00, 15.00),
    "gemini/gemini-1.5-flash": (0.075, 0.30),
    "gemini/gemini-2.0-flash": (0.10, 0.40),
    "local/": (0.0, 0.0),
}


def price_of(model: str) -> Price | None:
    """The listed price of `model`: an exact entry, else the longest listed prefix (dated versions)."""
    price = PRICES.get(model)
    if price is not None:
        return price
    matches = [name for name in PRICES if model.startswith(name)]
    return PRICES[max(matches, key=len)] if matches else None


def cost(price: Price | None, prompt_tokens: int, completion_tokens: int) -> float | None:
    """The cost in USD of a call at `price`, or None when the price is unknown."""
    if price is None:
        return None
    return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1_000_000
