"""Fault plans: queued faults come first, standing rules fire on every n-th request."""

from __future__ import annotations

import pytest

from dspex_lab.testing.faults import Fault, FaultPlan


def test_queued_faults_apply_to_the_next_requests_in_order():
    plan = FaultPlan()
    plan.inject(429, count=2, retry_after=1)
    plan.inject("500")
    kinds = [fault.kind if fault else None for fault in (plan.next_fault() for _ in range(4))]
    assert kinds == ["429", "429", "500", None]
    assert plan.pending() == 0


def test_standing_rule_fires_on_every_nth_request_until_cleared():
    plan = FaultPlan()
    plan.every(503, 3)
    hits = [plan.next_fault() is not None for _ in range(6)]
    assert hits == [False, False, True, False, False, True]
    plan.clear()
    assert all(plan.next_fault() is None for _ in range(6))


def test_bad_fault_specs_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="known kinds"):
        Fault.make("418")
    with pytest.raises(ValueError, match="delay="):
        Fault.make("slow")
    with pytest.raises(TypeError, match="retry_after="):
        Fault.make("429", wait=1)
    with pytest.raises(ValueError, match="count"):
        FaultPlan().inject("500", count=0)
