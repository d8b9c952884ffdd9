"""dspy.Image as an input field: a content part in each provider's wire format; text-only models refuse it."""

from __future__ import annotations

import base64
import json

import pytest

import dspex_lab as dx
from dspex_lab.testing import ProviderServer

# A 1x1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
ENCODED = base64.b64encode(PNG).decode()


class Describe(dx.Signature):
    photo: dx.Image = dx.InputField()
    caption: str = dx.OutputField()


@pytest.fixture
def png_file(tmp_path):
    path = tmp_path / "pixel.png"
    path.write_bytes(PNG)
    return path


def test_an_image_comes_from_a_path_bytes_or_a_url(png_file):
    """dspy.Image(path) and bytes become data URIs; an http(s) URL stays a URL."""
    assert dx.Image(png_file).url == f"data:image/png;base64,{ENCODED}"
    assert dx.Image(PNG) == dx.Image(str(png_file))
    assert dx.Image("https://example.org/cat.jpg").url == "https://example.org/cat.jpg"
    with pytest.raises(FileNotFoundError, match="no image file at"):
        dx.Image("missing.png")
    with pytest.raises(ValueError, match="pass mime_type="):
        dx.Image(b"not an image")


WIRE = {
    "openai": {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{ENCODED}"}},
    "anthropic": {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": ENCODED}},
    "gemini": {"inlineData": {"mimeType": "image/png", "data": ENCODED}},
}


@pytest.mark.parametrize("provider", sorted(WIRE))
def test_an_image_input_is_a_content_part_in_each_wire_format(png_file, provider):
    with ProviderServer() as server:
        lm = dx.LM(f"{provider}/vision-x", api_base=server.url, api_key="test-key-1234", cache=False)
        pred = dx.Predict(Describe, lm=lm)(photo=dx.Image(png_file))
        body = server.requests()[-1]["body"]
    assert pred.caption
    assert json.dumps(WIRE[provider]) in json.dumps(body)
    wire = json.dumps(body)
    assert wire.index('[[ ## photo ## ]]"') < wire.index(ENCODED) < wire.index("Respond with the corresponding")


def test_an_image_url_is_sent_as_a_url():
    with ProviderServer() as server:
        lm = dx.LM("gemini/vision-x", api_base=server.url, api_key="test-key-1234", cache=False)
        dx.Predict(Describe, lm=lm)(photo=dx.Image("https://example.org/cat.jpg"))
        body = server.requests()[-1]["body"]
    assert {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.org/cat.jpg"}} in (
        body["contents"][-1]["parts"]
    )


def test_a_text_only_model_refuses_an_image_naming_the_fix(png_file):
    """The embedded model reads text only: a clear error before any call."""
    local = dx.LM("local/smollm2-135m")
    with pytest.raises(dx.InputError, match=r"local/smollm2-135m takes text only.*use a provider model"):
        dx.Predict(Describe, lm=local)(photo=dx.Image(png_file))
