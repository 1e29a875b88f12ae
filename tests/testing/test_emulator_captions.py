"""Sandbox pictures say what they are: a band along the bottom reads "sandbox", the prompt,
the size and the seed; the same request gives the same pixels; plain pictures stay plain."""

from __future__ import annotations

import base64
import io
from typing import Any

import httpx2
from PIL import Image

from twat_genai.testing import EmulatorServer, running_emulator
from twat_genai.testing.chutes import DUMMY_KEY
from twat_genai.testing.emulator import media

from .conftest import AUTH

DARK = (16, 16, 16)


def _image(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img.convert("RGB")


def _band(img: Image.Image) -> Image.Image:
    """The caption band: the rows from the first dark row of the left edge down."""
    top = next(y for y in range(img.height) if img.getpixel((0, y)) == DARK)
    return img.crop((0, top, img.width, img.height))


def _expected_band(size: tuple[int, int], prompt: str, seed: object) -> Image.Image:
    blank = Image.new("RGB", size, (255, 255, 255))
    return _band(media.captioned(blank, media.Caption(prompt, seed)))


def _fal(server: EmulatorServer, args: dict[str, Any]) -> Image.Image:
    r = httpx2.post(
        f"{server.root}/fal/run/fal-ai/flux-lora",
        json={"output_format": "png", **args},
        headers=AUTH,
        trust_env=False,
        timeout=30,
    )
    url = r.json()["images"][0]["url"]
    return _image(httpx2.get(url, trust_env=False).content)


def test_fal_picture_is_captioned_with_prompt_size_and_seed(emulator: EmulatorServer) -> None:
    img = _fal(emulator, {"prompt": "a red kite [emulate:slow=0]", "seed": 42})
    assert img.size == (1024, 768)
    assert _band(img).tobytes() == _expected_band((1024, 768), "a red kite", 42).tobytes()
    assert _band(img).tobytes() != _expected_band((1024, 768), "a red kite", 43).tobytes()


def test_same_request_same_pixels_other_seed_other_pixels(emulator: EmulatorServer) -> None:
    args = {"prompt": "tiles", "seed": 5, "image_size": "square"}
    one, two = _fal(emulator, args), _fal(emulator, args)
    other = _fal(emulator, {**args, "seed": 6})
    assert one.tobytes() == two.tobytes() != other.tobytes()


def test_plain_images_carry_no_caption() -> None:
    with running_emulator(plain_images=True) as server:
        img = _fal(server, {"prompt": "a red kite", "seed": 42})
    assert img.getcolors() == [(1024 * 768, (128, 128, 128))]


def test_openai_gemini_and_chutes_pictures_are_captioned(emulator: EmulatorServer) -> None:
    root = emulator.root
    r = httpx2.post(
        f"{root}/openai/v1/images/generations",
        json={"model": "gpt-image-2", "prompt": "a moon", "size": "1024x768"},
        headers={"Authorization": "Bearer sk-x"},
        trust_env=False,
        timeout=30,
    )
    openai_img = _image(base64.b64decode(r.json()["data"][0]["b64_json"]))
    assert _band(openai_img).tobytes() == _expected_band((1024, 768), "a moon", None).tobytes()

    body = {
        "contents": [{"parts": [{"text": "an owl"}]}],
        "generationConfig": {"seed": 9, "imageConfig": {"aspectRatio": "16:9"}},
    }
    r = httpx2.post(
        f"{root}/gemini/v1beta/models/gemini-nano-banana-2.1:generateContent",
        json=body,
        headers={"x-goog-api-key": "k"},
        trust_env=False,
        timeout=30,
    )
    parts = r.json()["candidates"][0]["content"]["parts"]
    (data,) = [p["inlineData"]["data"] for p in parts if "inlineData" in p]
    gemini_img = _image(base64.b64decode(data))
    assert _band(gemini_img).tobytes() == _expected_band((1344, 768), "an owl", 9).tobytes()

    r = httpx2.post(
        f"{root}/chutes/image/generate",
        json={"model": "JuggernautXL", "prompt": "a fox", "width": 640, "height": 512, "seed": 3},
        headers={"Authorization": f"Bearer {DUMMY_KEY}"},
        trust_env=False,
        timeout=30,
    )
    chutes_img = _image(r.content)  # JPEG: the band is closest to its own caption's

    def distance(prompt: str, seed: int) -> float:
        expected = _expected_band((640, 512), prompt, seed)
        band = chutes_img.crop((0, 512 - expected.height, 640, 512)).tobytes()
        return sum(abs(a - b) for a, b in zip(band, expected.tobytes(), strict=True)) / len(band)

    assert distance("a fox", 3) < min(distance("a dog", 3), distance("a fox", 4))


def test_tiny_pictures_stay_uncaptioned() -> None:
    img = Image.new("RGB", (100, 80), (1, 2, 3))
    assert media.captioned(img, media.Caption("x", 1)).getcolors() == [(8000, (1, 2, 3))]
