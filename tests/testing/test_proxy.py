"""The loopback HTTP proxy: CONNECT tunnels, absolute-form requests, proxy auth, and a log of what passed."""

from __future__ import annotations

import base64
import socket

import pytest

from dspex_lab.testing import ProviderServer, ProxyServer


@pytest.fixture
def server():
    with ProviderServer() as running:
        yield running


def exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        reply = b""
        while b"\r\n\r\n" not in reply:
            reply += sock.recv(65536)
        return reply


def test_connect_opens_a_tunnel_to_the_target(server):
    with ProxyServer() as proxy, socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.sendall(f"CONNECT 127.0.0.1:{server.port} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        body = b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}'
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        assert proxy.requests() == [{"method": "CONNECT", "target": f"127.0.0.1:{server.port}", "status": 200}]


def test_a_request_in_absolute_form_is_passed_on(server):
    with ProxyServer() as proxy:
        url = f"{server.url}/v1/chat/completions"
        reply = exchange(proxy.port, f"POST {url} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{{}}".encode())
        assert reply.startswith(b"HTTP/1.1 400")  # the provider server's own answer to an empty body
        assert proxy.requests() == [{"method": "POST", "target": url, "status": 200}]


def test_credentials_are_required_when_set():
    with ProxyServer(auth="user:pass") as proxy:
        assert exchange(proxy.port, b"CONNECT 127.0.0.1:9 HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 407")
        token = base64.b64encode(b"user:pass").decode()
        reply = exchange(
            proxy.port, f"CONNECT 127.0.0.1:9 HTTP/1.1\r\nProxy-Authorization: Basic {token}\r\n\r\n".encode()
        )
        assert reply.startswith(b"HTTP/1.1 502")  # through, but nothing listens on port 9
        assert [r["status"] for r in proxy.requests()] == [407, 502]
