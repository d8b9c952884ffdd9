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


TRANSPORTS = ["blocking", "aiohttp", "httpx.Client", "httpx.AsyncClient"]


@pytest.fixture(params=TRANSPORTS)
def each_transport(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run the test once per transport: LMs made in it without `http_client=` use that one.

    "blocking" and "aiohttp" are the default transport's synchronous and async paths (with
    "aiohttp", synchronous calls go through the private event loop); "httpx.Client" and
    "httpx.AsyncClient" are what `dx.LM(..., http_client=...)` makes of a user's client. The
    provider suites run over each, so every transport meets the same spec.
    """
    from dspex_lab.lm import transport

    if request.param == "blocking":
        yield request.param
        return
    if request.param == "aiohttp":
        monkeypatch.setattr(transport.DefaultTransport, "sync_in_thread", False)
        yield request.param
        return
    import httpx

    from dspex_lab.lm.httpx_transport import HTTPXTransport

    client = httpx.Client() if request.param == "httpx.Client" else httpx.AsyncClient()
    monkeypatch.setattr(transport, "_default", HTTPXTransport(client))
    yield request.param
    if isinstance(client, httpx.Client):
        client.close()
