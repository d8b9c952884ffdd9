"""Where a request goes on the network: the proxy to use and the certificates to trust.

By default both come from the environment, the way curl, requests and httpx read it:

- `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` (either case) name the proxy for
  https:// and http:// URLs; `NO_PROXY` lists hosts reached directly
  (`localhost,.internal.example.com,10.0.0.1`, or `*` for all).
- `SSL_CERT_FILE` or `REQUESTS_CA_BUNDLE` name a CA bundle (PEM) to trust
  instead of the system's; `SSL_CERT_DIR` a directory of certificates.

An LM reads them when it is made (`dx.LM(...)`); `proxy=` and `verify=` on the
LM override them: `proxy="http://proxy.corp:3128"` (or `proxy=False` to go
direct), `verify="/path/to/ca.pem"`, an `ssl.SSLContext` (client certificates
for mTLS), or `verify=False` to skip verification.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any, Union

from dspex_lab.errors import ConfigurationError

if TYPE_CHECKING:
    import ssl

# ssl and urllib.request load on first use: importing an LM client stays quick.
Verify = Union[bool, str, "os.PathLike[str]", "ssl.SSLContext"]
ProxyOption = str | bool | None


class Route:
    """How to reach one origin: through `proxy` (a URL) or directly, and the TLS context for https.

    The context is made on first use (loading a CA store takes milliseconds).
    """

    __slots__ = ("_context", "_verify", "proxy", "tls")

    def __init__(self, proxy: str | None, verify: Verify = True, tls: bool = True) -> None:
        self.proxy = proxy
        self.tls = tls
        self._verify = verify
        self._context: ssl.SSLContext | None = None

    @property
    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context for an https origin (None for http)."""
        if not self.tls:
            return None
        if self._context is None:
            self._context = ssl_context(self._verify)
        return self._context

    def __repr__(self) -> str:
        return f"Route(proxy={self.proxy!r}, verify={self._verify!r})"


_contexts: dict[tuple[Any, ...], ssl.SSLContext] = {}
_contexts_lock = threading.Lock()


def ssl_context(verify: Verify = True) -> ssl.SSLContext:
    """The TLS context for `verify` (see the module docstring); contexts are made once and shared."""
    import ssl

    if isinstance(verify, ssl.SSLContext):
        return verify
    if verify is False:
        key: tuple[Any, ...] = ("insecure",)
    elif verify is True:
        cafile = os.environ.get("SSL_CERT_FILE") or os.environ.get("REQUESTS_CA_BUNDLE") or None
        key = ("env", cafile, os.environ.get("SSL_CERT_DIR") or None)
    else:
        path = os.fspath(verify)
        if not os.path.exists(path):
            raise ValueError(f"verify={path!r}: no CA bundle at that path; pass a PEM file, True or False")
        key = ("file", path)
    context = _contexts.get(key)
    if context is not None:
        return context
    with _contexts_lock:
        context = _contexts.get(key)
        if context is None:
            context = _make_context(key)
            _contexts[key] = context
        return context


def _make_context(key: tuple[Any, ...]) -> ssl.SSLContext:
    import ssl

    if key[0] == "insecure":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if key[0] == "file":
        path = key[1]
        return ssl.create_default_context(
            cafile=None if os.path.isdir(path) else path, capath=path if os.path.isdir(path) else None
        )
    _, cafile, capath = key
    if cafile is None and capath is None:
        return ssl.create_default_context()
    try:
        return ssl.create_default_context(cafile=cafile, capath=capath)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(
            f"the CA bundle named by SSL_CERT_FILE/REQUESTS_CA_BUNDLE ({cafile}) or SSL_CERT_DIR ({capath}) "
            f"cannot be read ({exc}); fix the variable or pass verify= to dx.LM"
        ) from None


def proxy_for(url: str, proxy: ProxyOption = None) -> str | None:
    """The proxy URL for `url`: `proxy` when given (False: none), else the environment's, minding NO_PROXY."""
    if proxy is False:
        return None
    if isinstance(proxy, str):
        return _check_proxy(proxy)
    import urllib.parse
    import urllib.request

    parts = urllib.parse.urlsplit(url)
    proxies = urllib.request.getproxies_environment()
    chosen = proxies.get(parts.scheme) or proxies.get("all")
    if not chosen:
        return None
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    if urllib.request.proxy_bypass_environment(host, proxies):  # type: ignore[attr-defined]
        return None
    return _check_proxy(chosen)


def untrusted(where: str, exc: BaseException) -> ConfigurationError:
    """The error for a server certificate that does not verify: not retried, and it says what to do."""
    return ConfigurationError(
        f"the TLS certificate of {where} is not trusted ({exc}); pass verify='/path/to/ca.pem' to dx.LM "
        "or set SSL_CERT_FILE to a CA bundle that has its issuer (verify=False skips the check)"
    )


def _check_proxy(proxy: str) -> str:
    if "://" not in proxy:
        proxy = "http://" + proxy
    if not proxy.startswith("http://"):
        raise ValueError(f"proxy {proxy!r}: only http:// proxies (HTTP CONNECT) are supported")
    return proxy


def route(url: str, proxy: ProxyOption = None, verify: Verify = True) -> Route:
    """The route to `url`, read from the environment once per LM, not on every request."""
    tls = url.startswith("https://")
    if tls:
        _check_ca_bundle(verify)
    return Route(proxy_for(url, proxy), verify, tls=tls)


def _check_ca_bundle(verify: Verify) -> None:
    """Name a CA bundle that does not exist now, rather than at the first request."""
    if verify is True:
        named = os.environ.get("SSL_CERT_FILE") or os.environ.get("REQUESTS_CA_BUNDLE")
        if named and not os.path.exists(named):
            raise ValueError(
                f"SSL_CERT_FILE/REQUESTS_CA_BUNDLE names {named!r}, which does not exist; "
                "fix the variable or pass verify='/path/to/ca.pem' to dx.LM"
            )
    elif isinstance(verify, str | os.PathLike) and not os.path.exists(os.fspath(verify)):
        raise ValueError(f"verify={os.fspath(verify)!r}: no CA bundle at that path; pass a PEM file, True or False")
