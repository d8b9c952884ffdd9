"""Real parts for tests, notebooks and benchmarks: the loopback provider server and proxy.

`ProviderServer` speaks the OpenAI, Anthropic and Gemini wire formats on
127.0.0.1 (plain or TLS, whole replies or server-sent events) and injects faults
on demand; see `dspex_lab.testing.provider_server`. `ProxyServer` is an HTTP
proxy (CONNECT and absolute-form) on 127.0.0.1; see `dspex_lab.testing.proxy`.
Names are imported on first use, so `python -m dspex_lab.testing.provider_server`
runs its module only once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dspex_lab.lazy import lazy_exports

_EXPORTS = {
    "Fault": "dspex_lab.testing.faults",
    "ProviderServer": "dspex_lab.testing.provider_server",
    "ProxyServer": "dspex_lab.testing.proxy",
    "RemoteProviderServer": "dspex_lab.testing.provider_server",
    "default_responder": "dspex_lab.testing.responders",
    "load_responder": "dspex_lab.testing.responders",
    "ProviderRequest": "dspex_lab.testing.wire",
    "ToolUse": "dspex_lab.testing.wire",
}

__all__ = [
    "Fault",
    "ProviderRequest",
    "ProviderServer",
    "ProxyServer",
    "RemoteProviderServer",
    "ToolUse",
    "default_responder",
    "load_responder",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


if TYPE_CHECKING:
    from dspex_lab.testing.faults import Fault
    from dspex_lab.testing.provider_server import ProviderServer, RemoteProviderServer
    from dspex_lab.testing.proxy import ProxyServer
    from dspex_lab.testing.responders import default_responder, load_responder
    from dspex_lab.testing.wire import ProviderRequest, ToolUse
