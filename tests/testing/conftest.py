"""A raw HTTP client for talking to the loopback server without the LM clients."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest

from dspex_lab.testing import ProviderServer


class RawClient:
    """Posts JSON to the server and returns (status, headers, parsed body or raw bytes)."""

    def __init__(self, port: int) -> None:
        self.port = port

    def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            connection.request("POST", path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
            response = connection.getresponse()
            raw = response.read()
            head = {name.lower(): value for name, value in response.getheaders()}
        finally:
            connection.close()
        try:
            return response.status, head, json.loads(raw)
        except ValueError:
            return response.status, head, raw


@pytest.fixture
def server() -> Iterator[ProviderServer]:
    with ProviderServer() as running:
        yield running


@pytest.fixture
def client(server: ProviderServer) -> RawClient:
    return RawClient(server.port)


@pytest.fixture
def client_for() -> type[RawClient]:
    """Build a raw client for a server started inside the test: `client_for(server.port)`."""
    return RawClient
