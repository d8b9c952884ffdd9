"""Proxies and certificates from the environment (or the LM's own options), through a loopback CONNECT proxy."""

from __future__ import annotations

import asyncio
import ssl

import pytest
import trustme

import dspex_lab as dx
from dspex_lab.errors import ConfigurationError, LMError
from dspex_lab.lm.network import proxy_for
from dspex_lab.testing import ProviderServer, ProxyServer

ENV = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy")
CERT_ENV = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "SSL_CERT_DIR")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in ENV + CERT_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(params=["sync", "async"])
def call(request):
    """`call(lm, prompt)` through the synchronous form (blocking pool) or the async one (aiohttp)."""
    if request.param == "sync":
        return lambda lm, prompt: lm(prompt)
    return lambda lm, prompt: asyncio.run(lm.acall(prompt))


@pytest.fixture
def proxy():
    with ProxyServer() as running:
        yield running


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.fixture
def ca_file(ca, tmp_path):
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def tls_server(ca):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    with ProviderServer(ssl_context=context) as running:
        yield running


def make_lm(server, **kwargs):
    return dx.LM("openai/m", api_base=server.url, api_key="sk-network-test-0000", cache=False, **kwargs)


def test_http_proxy_from_the_environment_carries_plain_http(server, proxy, call, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    assert call(make_lm(server), "hi").text.startswith("Reply ")
    assert [(r["method"], r["target"]) for r in proxy.requests()] == [("POST", server.url + "/chat/completions")]


def test_no_proxy_hosts_are_reached_directly(server, proxy, call, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    assert call(make_lm(server), "hi").text.startswith("Reply ")
    assert proxy.requests() == []


def test_https_goes_through_a_connect_tunnel_trusting_the_ca_bundle_from_the_environment(
    tls_server, proxy, ca_file, call, monkeypatch
):
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    assert call(make_lm(tls_server), "hi").text.startswith("Reply ")
    assert proxy.requests() == [{"method": "CONNECT", "target": f"127.0.0.1:{tls_server.port}", "status": 200}]
    assert tls_server.served == 1


def test_requests_ca_bundle_is_read_too(tls_server, ca_file, call, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca_file)
    assert call(make_lm(tls_server), "hi").text.startswith("Reply ")


def test_a_ca_bundle_can_be_passed_to_the_lm(tls_server, ca_file, call):
    assert call(make_lm(tls_server, verify=ca_file), "hi").text.startswith("Reply ")


def test_an_untrusted_certificate_is_refused_at_once_with_the_fix(tls_server, call):
    with pytest.raises(ConfigurationError, match=r"certificate of 127\.0\.0\.1:\d+ is not trusted.*pass verify="):
        call(make_lm(tls_server), "hi")
    assert tls_server.served == 0


def test_verify_false_skips_verification(tls_server, call):
    assert call(make_lm(tls_server, verify=False), "hi").text.startswith("Reply ")


def test_proxy_option_overrides_the_environment(server, proxy, call, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    assert call(make_lm(server, proxy=proxy.url), "hi").text.startswith("Reply ")
    assert len(proxy.requests()) == 1
    assert call(make_lm(server, proxy=False), "hi").text.startswith("Reply ")
    assert len(proxy.requests()) == 1


def test_proxy_credentials_in_the_url_are_sent_and_never_shown(server, call):
    with ProxyServer(auth="user:s3cret-pass") as guarded:
        assert call(make_lm(server, proxy=f"http://user:s3cret-pass@127.0.0.1:{guarded.port}"), "hi").text
        assert guarded.requests()[-1]["status"] == 200
        with pytest.raises(LMError) as info:
            call(make_lm(server, proxy=f"http://user:wrong-pass@127.0.0.1:{guarded.port}", num_retries=0), "hi")
        assert guarded.requests()[-1]["status"] == 407
        assert "wrong-pass" not in str(info.value)


def test_a_missing_ca_bundle_is_named_when_an_https_lm_is_made(server, tmp_path, monkeypatch):
    https = "https://llm.example.com/v1"
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    with pytest.raises(ValueError, match=r"SSL_CERT_FILE/REQUESTS_CA_BUNDLE names .*missing\.pem"):
        dx.LM("openai/m", api_base=https, api_key="k")
    with pytest.raises(ValueError, match=r"verify=.*nowhere\.pem.*no CA bundle"):
        dx.LM("openai/m", api_base=https, api_key="k", verify=str(tmp_path / "nowhere.pem"))
    assert make_lm(server).api_base == server.url  # plain http needs no certificates


def test_proxy_for_follows_the_curl_conventions(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "proxy.corp:3128")
    monkeypatch.setenv("NO_PROXY", ".internal.example.com")
    assert proxy_for("https://api.openai.com/v1") == "http://proxy.corp:3128"
    assert proxy_for("http://api.openai.com/v1") is None
    assert proxy_for("https://llm.internal.example.com/v1") is None
    assert proxy_for("https://api.openai.com/v1", proxy=False) is None
    with pytest.raises(ValueError, match="only http:// proxies"):
        proxy_for("https://api.openai.com/v1", proxy="socks5://127.0.0.1:1080")
