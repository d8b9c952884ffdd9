"""`dx.Image`: a picture as an input field, sent to the provider in its own wire format.

    class Describe(dx.Signature):
        photo: dx.Image = dx.InputField()
        caption: str = dx.OutputField()

    dx.Predict(Describe)(photo=dx.Image("cat.png"))          # a local file
    dx.Predict(Describe)(photo=dx.Image("https://.../cat.png"))
    dx.Predict(Describe)(photo=dx.Image(png_bytes))

A local file or bytes becomes a base64 data URI; an http(s) URL is passed as a
URL. In the prompt the image is its own content part (OpenAI `image_url`,
Anthropic `image`, Gemini `inlineData`/`fileData`); a model that takes text
only (the embedded one) gets a clear error instead.
"""

from __future__ import annotations

import base64
import mimetypes
from pathlib import Path
from typing import Any

START, END = "<<dx-image>>", "<</dx-image>>"
"""The markers that carry an image through the adapter's text until the message is split into parts."""

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"RIFF", "image/webp"),
)


class Image:
    """An image from a path, a URL or bytes; see the module docstring."""

    dx_kind = "image"
    __slots__ = ("url",)

    url: str

    def __init__(self, source: str | Path | bytes, *, mime_type: str | None = None) -> None:
        if isinstance(source, bytes):
            url = _data_uri(source, mime_type or _sniff(source))
        elif isinstance(source, Path) or (
            isinstance(source, str) and not source.startswith(("http://", "https://", "data:"))
        ):
            path = Path(source).expanduser()
            if not path.is_file():
                raise FileNotFoundError(f"no image file at {path}; give a path, an http(s) URL, or the bytes")
            data = path.read_bytes()
            url = _data_uri(data, mime_type or mimetypes.guess_type(path.name)[0] or _sniff(data))
        elif isinstance(source, str):
            url = source
        else:
            raise TypeError(f"dx.Image takes a path, a URL or bytes, got {type(source).__name__}")
        object.__setattr__(self, "url", url)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("images are immutable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Image) and other.url == self.url

    def __hash__(self) -> int:
        return hash(self.url)

    def __repr__(self) -> str:
        shown = self.url if len(self.url) <= 60 else self.url[:50] + "..."
        return f"Image({shown!r})"

    __str__ = __repr__

    def prompt_text(self) -> str:
        """The image inside prompt text; the adapter turns it into a content part."""
        return f"{START}{self.url}{END}"

    def part(self) -> dict[str, Any]:
        """The image as an OpenAI-style content part."""
        return {"type": "image_url", "image_url": {"url": self.url}}


def _sniff(data: bytes) -> str:
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    raise ValueError("cannot tell the image type from its bytes; pass mime_type='image/png' (or the right one)")


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def split_parts(text: str) -> str | list[dict[str, Any]]:
    """Message text with images in it as content parts (text stays a plain string when it has none)."""
    if START not in text:
        return text
    parts: list[dict[str, Any]] = []
    rest = text
    while START in rest:
        before, _, after = rest.partition(START)
        url, _, rest = after.partition(END)
        if before.strip():
            parts.append({"type": "text", "text": before.strip()})
        parts.append({"type": "image_url", "image_url": {"url": url}})
    if rest.strip():
        parts.append({"type": "text", "text": rest.strip()})
    return parts


def has_images(messages: list[dict[str, Any]]) -> bool:
    return any(
        isinstance(message.get("content"), list) and any(part.get("type") == "image_url" for part in message["content"])
        for message in messages
    )
