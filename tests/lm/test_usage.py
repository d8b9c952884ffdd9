"""Usage: tokens, cost and cache hits add up per call, per LM and per tracked block."""

from __future__ import annotations

import dspex_lab as dx
from dspex_lab.lm.usage import Usage, record


def test_usage_adds_tokens_calls_hits_and_known_costs():
    total = Usage(10, 5, 0.5, calls=1) + Usage(3, 2, None, calls=1, cache_hits=1, truncated=1)
    assert total.to_dict() == {
        "prompt_tokens": 13,
        "completion_tokens": 7,
        "total_tokens": 20,
        "cost": 0.5,
        "calls": 2,
        "cache_hits": 1,
        "truncated": 1,
    }
    assert Usage().cost is None


def test_nested_blocks_roll_up_into_the_outer_one():
    with dx.track_usage() as outer:
        record(Usage(1, 1, calls=1))
        with dx.track_usage() as inner:
            record(Usage(2, 2, calls=1))
    assert inner.calls == 1
    assert outer.calls == 2
    assert outer.prompt_tokens == 3


def test_calls_outside_a_block_are_not_counted_anywhere_else():
    record(Usage(1, 1, calls=1))
    with dx.track_usage() as block:
        pass
    assert block.calls == 0
