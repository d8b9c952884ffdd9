"""What every transport gives back: a reply with case-insensitive headers, or a TransportError."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class Headers(dict[str, str]):
    """Reply headers: names are stored lower-case and looked up in any case."""

    __slots__ = ()

    def __getitem__(self, name: str) -> str:
        return dict.__getitem__(self, name.lower())

    def __contains__(self, name: object) -> bool:
        return dict.__contains__(self, name.lower() if isinstance(name, str) else name)

    def get(self, name: str, default: Any = None) -> Any:
        return dict.get(self, name.lower(), default)


@dataclass(slots=True)
class HTTPReply:
    """A complete HTTP reply; `headers` is a case-insensitive mapping."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class TransportError(Exception):
    """The request got no complete reply. `kind` is "timeout", "connection", "truncated" or "too_large"."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(message)
