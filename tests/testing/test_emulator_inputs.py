"""Input URLs and bad inputs for the OpenAI, Gemini and Chutes emulators, each in its own
provider's error shape; loopback URLs are fetched for real."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx2
import pytest

from twat_genai.testing import EmulatorServer, running_emulator
from twat_genai.testing.emulator.chutes import DUMMY_KEY

from .test_emulator_fal import data_uri, png_bytes

OPENAI = {"Authorization": "Bearer sk-test"}
GEMINI = {"x-goog-api-key": "g-test"}
CHUTES = {"Authorization": f"Bearer {DUMMY_KEY}"}


@pytest.fixture
def other() -> Iterator[EmulatorServer]:
    """A second, bare emulator: its stored files are loopback URLs on another port."""
    with running_emulator(apps={}) as server:
        yield server


def _edit(server: EmulatorServer, body: dict[str, object]) -> httpx2.Response:
    return httpx2.post(
        f"{server.root}/openai/v1/images/edits", json=body, headers=OPENAI, trust_env=False
    )


def test_openai_json_edit_fetches_loopback_urls(
    emulator: EmulatorServer, other: EmulatorServer
) -> None:
    """``images[].image_url`` (URL or data URL) is downloaded and edited."""
    url = other.files.put(png_bytes((64, 48)), "image/png", "a.png")
    body = {
        "model": "gpt-image-2",
        "prompt": "brighter",
        "size": "1024x768",
        "images": [{"image_url": url}, {"image_url": data_uri(png_bytes((64, 48)))}],
    }
    r = _edit(emulator, body)
    assert r.status_code == 200, r.text
    assert r.json()["size"] == "1024x768" and other.stats.get("downloads") == 1


@pytest.mark.parametrize(
    "url", ["https://example.com/a.png", "http://127.0.0.1:99999/a.png", "http://[::1/a.png"]
)
def test_openai_json_edit_unreachable_url_is_a_400(emulator: EmulatorServer, url: str) -> None:
    """An image URL that cannot be fetched is OpenAI's 400 ``invalid_request_error``."""
    r = _edit(emulator, {"model": "gpt-image-2", "prompt": "x", "images": [{"image_url": url}]})
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == "images[0].image_url"
    r = _edit(emulator, {"model": "gpt-image-2", "prompt": "x", "images": [{"file_id": "f"}]})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_file_id"


def _gemini(server: EmulatorServer, uri: str) -> httpx2.Response:
    body = {
        "contents": [
            {
                "parts": [
                    {"text": "restyle"},
                    {"fileData": {"fileUri": uri, "mimeType": "image/png"}},
                ]
            }
        ]
    }
    return httpx2.post(
        f"{server.root}/gemini/v1beta/models/gemini-3.1-flash-image:generateContent",
        json=body,
        headers=GEMINI,
        trust_env=False,
    )


def test_gemini_file_uri_is_fetched_or_invalid_argument(
    emulator: EmulatorServer, other: EmulatorServer
) -> None:
    """``fileData.fileUri`` on loopback is used; an unreachable one is 400 INVALID_ARGUMENT."""
    url = other.files.put(png_bytes((160, 90)), "image/png", "wide.png")
    r = _gemini(emulator, url)
    assert r.status_code == 200, r.text
    parts = r.json()["candidates"][0]["content"]["parts"]
    assert any("inlineData" in p for p in parts)
    for bad in ("https://example.com/a.png", "http://127.0.0.1:99999/x", "gs://bucket/a.png"):
        r = _gemini(emulator, bad)
        assert r.status_code == 400, bad
        assert r.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_chutes_bad_image_input_is_a_400_detail(emulator: EmulatorServer) -> None:
    """A URL or garbage where a chute wants base64 is Chutes' ``Invalid image input!``."""
    for value in ("https://example.com/a.png", "not base64!", base64.b64encode(b"no").decode()):
        r = httpx2.post(
            f"{emulator.root}/chutes/chutes-hidream-edit/generate",
            json={"prompt": "x", "image_b64": value},
            headers=CHUTES,
            trust_env=False,
        )
        assert r.status_code == 400, value
        assert r.json()["detail"].startswith("Invalid image input!")
