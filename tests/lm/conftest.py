"""Fixtures for the LM client tests: a loopback provider server and observable retry waits."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from dspex_lab.lm.base import BaseLM
from dspex_lab.testing import ProviderServer


@pytest.fixture
def server() -> Iterator[ProviderServer]:
    with ProviderServer() as running:
        yield running


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def record_waits() -> Callable[[BaseLM], list[float]]:
    """`waits = record_waits(lm)`: retries wait no real time, and each wait asked for is kept."""

    def install(lm: BaseLM) -> list[float]:
        waits: list[float] = []

        async def sleep(seconds: float) -> None:
            waits.append(seconds)

        lm.retry.sleep = sleep
        return waits

    return install
