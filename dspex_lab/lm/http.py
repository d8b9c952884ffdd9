"""What every HTTP provider shares: keys, the request, status handling, and readable errors.

A provider subclass says how to build its payload and URL, how to read its
reply and its error bodies; this class sends the bytes through the transport
and turns every failure into an `LMError` that names the provider, the status,
the provider's own message and what to do, marked retryable or not.
"""

from __future__ import annotations

import email.utils
import json
import os
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from dspex_lab.errors import ConfigurationError, LMError
from dspex_lab.lm import http_stream, network, transport
from dspex_lab.lm.base import BaseLM, LMResponse, Message
from dspex_lab.lm.http_reply import HTTPReply, TransportError
from dspex_lab.lm.retry import RETRYABLE_STATUSES
from dspex_lab.lm.secret import Secret, redact_key, redact_text, resolve_key
from dspex_lab.lm.stream import StreamState, TextSink
from dspex_lab.loop import on_private_loop, run_in_worker
from dspex_lab.options import check_number

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

DEFAULT_MAX_REPLY_BYTES = 4 * 1024 * 1024
"""The largest reply body read (4 MiB: a chat reply is a few KB; more means a wrong endpoint or a runaway)."""

_HINTS = {
    401: "check the API key (api_key= or ${env})",
    403: "check that the API key may use this model",
    404: "check the model name and api_base",
}


class HTTPLM(BaseLM):
    """Base class of providers reached over HTTP (OpenAI, Anthropic, Gemini).

    `api_key` defaults to the provider's environment variable(s) (`env_keys`);
    `api_base` to the provider's public endpoint; `timeout` bounds each attempt,
    in seconds; `headers` are sent with every request; a reply body larger than
    `max_reply_bytes` (default 4 MiB) is refused with an LMError instead of
    being read into memory. `http_client=` an `httpx.Client` or
    `httpx.AsyncClient` carries the requests instead of the default transport;
    `proxy=` and `verify=` override the proxy and CA bundle read from the
    environment (see `dspex_lab.lm.network`).
    """

    env_keys: ClassVar[tuple[str, ...]] = ()
    default_api_base: ClassVar[str] = ""
    key_required: ClassVar[bool] = True
    static_headers: ClassVar[dict[str, str]] = {}

    def __init__(
        self,
        model: str,
        *,
        api_key: str | Secret | None = None,
        api_base: str | None = None,
        timeout: float = 120.0,
        headers: Mapping[str, str] | None = None,
        max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
        http_client: Any = None,
        proxy: network.ProxyOption = None,
        verify: network.Verify = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(model, **kwargs)
        self.max_reply_bytes = check_number("max_reply_bytes", max_reply_bytes, minimum=1, integer=True)
        self.model_name = model.split("/", 1)[1] if "/" in model else model
        self.api_base = (api_base or self.default_api_base).rstrip("/")
        if not self.api_base.startswith(("http://", "https://")):
            raise ConfigurationError(f"api_base {self.api_base!r} must start with http:// or https://")
        self.timeout = check_number("timeout", timeout, above=0, unit="seconds")
        self.extra_headers = dict(headers or {})
        self._api_key = resolve_key(api_key, self.env_keys)
        self._base_headers = {"Content-Type": "application/json", **self.static_headers, **self.extra_headers}
        self._transport = _transport_for(http_client)
        self._network = (proxy, verify)
        self._route: network.Route | None = network.route(self.api_base, proxy, verify)

    def __getstate__(self) -> dict[str, Any]:
        # A user's httpx client and a TLS context stay with this process; a copy elsewhere
        # uses the default transport and reads its route again.
        state = super().__getstate__()
        proxy, verify = self._network
        state["_network"] = (proxy, verify if isinstance(verify, bool | str | os.PathLike) else True)
        state["_transport"] = None
        state["_route"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._transport = transport.default_transport()
        self._route = network.route(self.api_base, *self._network)

    # -- what a provider defines ------------------------------------------------------------------

    def url(self) -> str:
        raise NotImplementedError

    def auth_headers(self, key: str) -> dict[str, str]:
        raise NotImplementedError

    def payload(self, messages: list[Message], params: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def read_reply(self, data: Any) -> LMResponse:
        """The response from a 200 body; KeyError/TypeError/IndexError mean an unexpected shape."""
        raise NotImplementedError

    def error_message(self, data: Any) -> str | None:
        """The provider's own message in an error body, if it has the provider's shape."""
        raise NotImplementedError

    def retry_after_in_body(self, data: Any) -> float | None:
        return None

    def stream_request(self, messages: list[Message], params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The URL and body that ask for the reply as server-sent events."""
        return self.url(), {**self.payload(messages, params), "stream": True}

    def read_event(self, event: str | None, data: str, state: StreamState) -> str:
        """Update `state` from one streamed event; the text it adds ("" if none)."""
        raise NotImplementedError

    def finish_stream(self, state: StreamState) -> LMResponse:
        """The response a complete stream adds up to, or the LMError it means."""
        raise NotImplementedError

    # -- the request --------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        # Built for each request: a stored copy would put the key in vars(lm) and in pickles.
        key = self._key()
        if key is None:
            return self._base_headers
        return {**self._base_headers, **self.auth_headers(key.reveal())}

    def check(self) -> None:
        """Raise ConfigurationError now if no request could be made (no API key), instead of at the first call."""
        self._key()

    def _key(self) -> Secret | None:
        if self._api_key is None:
            self._api_key = resolve_key(None, self.env_keys)
        if self._api_key is None and self.key_required and self.api_base == self.default_api_base:
            names = " or ".join(self.env_keys)
            raise ConfigurationError(f"no API key for {self.model}: pass api_key=... or set {names}")
        return self._api_key

    @property
    def transport(self) -> transport.Transport:
        """What carries this LM's requests (the default transport, or one around `http_client=`)."""
        return self._transport

    def _sync_path(self) -> bool:
        return self._transport.sync_in_thread

    async def agenerate(self, messages: list[Message], params: dict[str, Any]) -> LMResponse:
        body = _dumps(self.payload(messages, params)).encode("utf-8")
        url = self.url()
        try:
            reply = await self._transport.post(
                url, self._headers(), body, self.timeout, self._route, self.max_reply_bytes
            )
        except TransportError as exc:
            raise self._transport_error(url, exc) from None
        return self._read(url, reply)

    def _generate_sync(self, messages: list[Message], params: dict[str, Any]) -> LMResponse:
        body = _dumps(self.payload(messages, params)).encode("utf-8")
        url = self.url()
        try:
            reply = self._transport.post_sync(
                url, self._headers(), body, self.timeout, self._route, self.max_reply_bytes
            )
        except TransportError as exc:
            raise self._transport_error(url, exc) from None
        return self._read(url, reply)

    async def _agenerate_stream(self, messages: list[Message], params: dict[str, Any], sink: TextSink) -> LMResponse:
        if self._transport.private_loop_only:
            return await on_private_loop(http_stream.astream(self, messages, params, sink))
        if self._transport.blocking_only:
            return await run_in_worker(http_stream.stream_sync, self, messages, params, sink)
        return await http_stream.astream(self, messages, params, sink)

    def _generate_stream_sync(self, messages: list[Message], params: dict[str, Any], sink: TextSink) -> LMResponse:
        return http_stream.stream_sync(self, messages, params, sink)

    def _transport_error(self, url: str, exc: TransportError) -> LMError:
        if exc.kind == "too_large":
            return LMError(
                f"{self.provider} at {url} sent a reply larger than max_reply_bytes={self.max_reply_bytes:,} "
                f"({exc}); it was not read. Lower max_tokens, check api_base, or pass a larger "
                "max_reply_bytes= to dx.LM",
                provider=self.provider,
            )
        what = {"timeout": "timed out", "truncated": "sent a cut-off reply", "connection": "could not be reached"}
        return LMError(
            self._redact(f"{self.provider} at {url} {what[exc.kind]}: {exc}"),
            provider=self.provider,
            retryable=True,
        )

    def _read(self, url: str, reply: HTTPReply) -> LMResponse:
        """The response in a complete reply, or the LMError it means."""
        if reply.status != 200:
            raise self._status_error(reply)
        try:
            data = json.loads(reply.body)
        except ValueError:
            raise LMError(
                self._redact(
                    f"{self.provider} at {url} answered 200 with a body that is not JSON: {_snippet(reply.body)}; "
                    f"check that api_base points at a{'n' if self.provider[0] in 'aeiou' else ''} "
                    f"{self.provider}-compatible API"
                ),
                provider=self.provider,
                status=200,
            ) from None
        try:
            response = self.read_reply(data)
        except (KeyError, TypeError, IndexError, AttributeError, ValueError) as exc:
            raise LMError(
                self._redact(
                    f"{self.provider} at {url} answered 200 but the reply lacks {_missing(exc)} where the "
                    f"{self.provider} format has it: {_snippet(reply.body)}"
                ),
                provider=self.provider,
                status=200,
            ) from None
        # A proxy that echoes the request into the reply: the key never reaches a cache or a result.
        response.text = redact_key(response.text, self._api_key)
        return response

    def _status_error(self, reply: HTTPReply) -> LMError:
        status = reply.status
        try:
            data = json.loads(reply.body)
            message = self.error_message(data)
        except (ValueError, KeyError, TypeError, AttributeError, IndexError):
            data, message = None, None
        shown = message or _snippet(reply.body) or "(empty body)"
        retry_after = _retry_after(reply.headers)
        if retry_after is None and data is not None:
            retry_after = self.retry_after_in_body(data)
        text = f"{self.provider} returned HTTP {status} for {self.model}: {shown}"
        hint = _HINTS.get(status)
        if hint:
            text += "; " + hint.replace("${env}", " or ".join(self.env_keys) or "the provider's key variable")
        return LMError(
            self._redact(text),
            provider=self.provider,
            status=status,
            retryable=status in RETRYABLE_STATUSES or status >= 500,
            retry_after=retry_after,
        )

    def _redact(self, text: str) -> str:
        return redact_text(text, self._api_key)

    def content_filtered(self, detail: str) -> LMError:
        """The error for a reply stopped by the provider's content filter (not retried)."""
        return LMError(
            f"{self.provider} stopped the reply of {self.model} with its content filter ({detail}); "
            "rephrase the input or handle this example separately",
            provider=self.provider,
        )


def _missing(exc: Exception) -> str:
    """What a reply lacked, from the error `read_reply` raised on it."""
    if isinstance(exc, IndexError):
        return "an entry (an empty list, such as choices: [])"
    if isinstance(exc, KeyError):
        return f"the field {exc.args[0]!r}" if exc.args else "a field"
    return f"the expected shape ({type(exc).__name__}: {exc})"


def _snippet(body: bytes, limit: int = 300) -> str:
    text = body.decode("utf-8", errors="replace").strip()
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from `retry-after-ms` or `Retry-After` (seconds or an HTTP date); headers are case-insensitive."""
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _transport_for(http_client: Any) -> transport.Transport:
    """The transport for `http_client=`: an httpx client, a Transport, or None (the default)."""
    if http_client is None:
        return transport.default_transport()
    if isinstance(http_client, transport.Transport):
        return http_client
    from dspex_lab.lm.httpx_transport import HTTPXTransport

    return HTTPXTransport(http_client)
