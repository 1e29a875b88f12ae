"""The Gemini and OpenAI emulators refuse what the services refuse, in their own error shapes,
through the official SDKs (and raw HTTP where an SDK would refuse first)."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from typing import Any

import httpx2
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from PIL import Image

from twat_genai.testing import EmulatorServer
from twat_genai.testing.emulator.openai import EDIT_COLOUR

GEMINI_KEY = {"x-goog-api-key": "refusal-test-key"}


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def _decoded(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


# --------------------------------------------------------------------------- gemini


@pytest.fixture
def gemini(emulator: EmulatorServer) -> genai.Client:
    options = types.HttpOptions(base_url=f"{emulator.root}/gemini", api_version="v1beta")
    return genai.Client(api_key="refusal-test-key", http_options=options)


def _generate(server: EmulatorServer, model: str, config: dict[str, Any]) -> httpx2.Response:
    body = {"contents": [{"parts": [{"text": "a lighthouse"}]}], "generationConfig": config}
    url = f"{server.root}/gemini/v1beta/models/{model}:generateContent"
    return httpx2.post(url, json=body, headers=GEMINI_KEY, trust_env=False, timeout=30)


@pytest.mark.parametrize(
    "model",
    [
        "gemini-2.5-flash-image",
        "gemini-3.1-flash-image-preview",
        "gemini-3-pro-image-preview",
        "imagen-4.0-generate-001",
        "gemini-9-imaginary",
    ],
)
def test_gemini_shut_down_and_unknown_models_are_not_found(
    gemini: genai.Client, emulator: EmulatorServer, model: str
) -> None:
    with pytest.raises(genai_errors.ClientError) as info:
        gemini.models.generate_content(model=model, contents="a cat")
    assert info.value.code == 404 and info.value.status == "NOT_FOUND"
    assert f"models/{model} is not found" in (info.value.message or "")
    assert emulator.stats.get("submissions", "gemini") == 0


@pytest.mark.parametrize(
    "model",
    [
        "gemini-nano-banana-2.1",
        "gemini-3.1-flash-image",
        "gemini-3-pro-image",
        "gemini-3.1-flash-lite-image",
    ],
)
def test_gemini_current_models_answer(gemini: genai.Client, model: str) -> None:
    response = gemini.models.generate_content(model=model, contents="a cat")
    assert any(p.inline_data for p in response.parts or [])


@pytest.mark.parametrize(
    ("config", "where"),
    [
        ({"responseModalities": ["IMAGE"], "creativity": 3}, "'generation_config'"),
        ({"imageConfig": {"aspectRatio": "1:1", "personGeneration": "ALLOW_ALL"}}, "image_config"),
        ({"image_config": {"output_mime_type": "image/jpeg"}}, "image_config"),
    ],
)
def test_gemini_unknown_config_field_is_invalid_argument(
    emulator: EmulatorServer, config: dict[str, Any], where: str
) -> None:
    r = _generate(emulator, "gemini-nano-banana-2.1", config)
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT" and "Unknown name" in error["message"]
    assert where in error["message"]


def test_gemini_known_fields_in_either_spelling_are_accepted(emulator: EmulatorServer) -> None:
    config = {
        "response_modalities": ["TEXT", "IMAGE"],
        "candidateCount": 1,
        "seed": 7,
        "temperature": 0.5,
        "top_p": 0.9,
        "topK": 20,
        "max_output_tokens": 2048,
        "stopSequences": ["END"],
        "thinking_config": {"thinking_level": "LOW"},
        "image_config": {"aspect_ratio": "4:1", "image_size": "2K"},
    }
    r = _generate(emulator, "gemini-nano-banana-2.1", config)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    ("model", "image_config", "ok"),
    [
        ("gemini-3-pro-image", {"aspectRatio": "1:8"}, False),
        ("gemini-3-pro-image", {"aspectRatio": "21:9", "imageSize": "4K"}, True),
        ("gemini-3-pro-image", {"imageSize": "512"}, False),
        ("gemini-3.1-flash-image", {"aspectRatio": "8:1", "imageSize": "512"}, True),
        ("gemini-nano-banana-2.1", {"imageSize": "512"}, False),
        ("gemini-nano-banana-2.1", {"aspectRatio": "1:4", "imageSize": "4K"}, True),
        ("gemini-3.1-flash-lite-image", {"imageSize": "2K"}, False),
        ("gemini-3.1-flash-lite-image", {"imageSize": "1K"}, True),
    ],
)
def test_gemini_ratio_and_size_per_model(
    emulator: EmulatorServer, model: str, image_config: dict[str, str], ok: bool
) -> None:
    r = _generate(emulator, model, {"imageConfig": image_config})
    if ok:
        assert r.status_code == 200, r.text
    else:
        assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_gemini_512_size_is_half_of_1k(emulator: EmulatorServer) -> None:
    r = _generate(emulator, "gemini-3.1-flash-image", {"imageConfig": {"imageSize": "512"}})
    parts = r.json()["candidates"][0]["content"]["parts"]
    (image,) = [p for p in parts if "inlineData" in p]
    assert _decoded(base64.b64decode(image["inlineData"]["data"])).size == (512, 512)


# --------------------------------------------------------------------------- openai


@pytest.fixture
def oai(emulator: EmulatorServer) -> Iterator[openai.OpenAI]:
    client = openai.OpenAI(base_url=f"{emulator.root}/openai/v1", api_key="sk-refusals")
    yield client
    client.close()


@pytest.mark.parametrize("model", ["gpt-image-1", "dall-e-2", "dall-e-3", "gpt-image-9"])
def test_openai_retired_and_unknown_models_are_model_not_found(
    oai: openai.OpenAI, emulator: EmulatorServer, model: str
) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        oai.images.generate(model=model, prompt="a cat")
    assert info.value.code == "model_not_found" and info.value.param == "model"
    assert emulator.stats.get("submissions", "openai") == 0


def test_openai_snapshot_ids_resolve_to_their_model(oai: openai.OpenAI) -> None:
    result = oai.images.generate(model="gpt-image-2.5-flare-2026-09-08", prompt="x", quality="max")
    assert result.data


@pytest.mark.parametrize(
    "extra", [{"response_format": "b64_json"}, {"response_format": "url"}, {"style": "vivid"}]
)
def test_openai_legacy_parameters_are_unknown_for_gpt_models(
    oai: openai.OpenAI, extra: dict[str, str]
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        oai.images.generate(model="gpt-image-2", prompt="a cat", **extra)  # type: ignore[arg-type]
    assert info.value.code == "unknown_parameter" and info.value.param == next(iter(extra))


@pytest.mark.parametrize(
    ("size", "ok"),
    [
        ("512x512", False),  # 262,144 pixels: below 655,360
        ("1024x640", True),  # exactly 655,360
        ("1000x1008", False),  # not multiples of 16
        ("3072x1008", False),  # wider than 3:1
        ("3840x2176", False),  # above 8,294,400 pixels
        ("3840x2160", True),
        ("1536x864", True),
    ],
)
def test_openai_gpt_image_2_size_limits(oai: openai.OpenAI, size: str, ok: bool) -> None:
    if ok:
        assert oai.images.generate(model="gpt-image-2", prompt="x", size=size, quality="low").data
        return
    with pytest.raises(openai.BadRequestError) as info:
        oai.images.generate(model="gpt-image-2", prompt="x", size=size)
    assert info.value.code == "invalid_value" and info.value.param == "size"


def test_openai_quality_the_model_lacks_is_invalid(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        oai.images.generate(model="gpt-image-2", prompt="x", quality="max")
    assert info.value.param == "quality"


def _room() -> Image.Image:
    return Image.new("RGB", (64, 48), (20, 120, 40))


def _mask(alpha_box: tuple[int, int, int, int] | None, mode: str = "RGBA") -> Image.Image:
    mask = Image.new(mode, (64, 48), (0, 0, 0, 255) if mode == "RGBA" else 0)
    if alpha_box is not None:
        mask.paste((0, 0, 0, 0), alpha_box)
    return mask


@pytest.mark.parametrize(
    ("mask", "fmt", "needle"),
    [
        (_mask(None, "L"), "PNG", "alpha channel"),
        (_mask(None), "PNG", "no fully transparent"),
        (_mask((0, 0, 8, 8)).convert("RGB"), "JPEG", "PNG"),
    ],
)
def test_openai_mask_must_be_png_with_transparency(
    oai: openai.OpenAI, mask: Image.Image, fmt: str, needle: str
) -> None:
    buf = io.BytesIO()
    mask.save(buf, fmt)
    with pytest.raises(openai.BadRequestError) as info:
        oai.images.edit(
            model="gpt-image-2",
            image=("room.png", _png(_room()), "image/png"),
            mask=("mask.png", buf.getvalue(), "image/png"),
            prompt="a window",
            size="1024x1024",
        )
    assert info.value.param == "mask" and needle in info.value.message


def test_openai_mask_edits_exactly_its_transparent_area(oai: openai.OpenAI) -> None:
    """The first image comes back unchanged except the mask's fully transparent pixels,
    painted ``EDIT_COLOUR`` (output at the input's size, so pixels compare one to one)."""
    room = _room()
    result = oai.images.edit(
        model="gpt-image-1.5",
        image=("room.png", _png(room), "image/png"),
        mask=("mask.png", _png(_mask((10, 5, 30, 25))), "image/png"),
        prompt="a window",
        size="1024x1024",
    )
    out = _decoded(base64.b64decode((result.data or [])[0].b64_json or "")).convert("RGB")
    out = out.resize(room.size, Image.Resampling.NEAREST)
    inside = {out.getpixel((x, y)) for x in range(11, 29) for y in range(6, 24)}
    outside = {out.getpixel((x, y)) for x in range(34, 64) for y in range(28, 48)}
    assert inside == {EDIT_COLOUR}
    assert outside == {room.getpixel((0, 0))}


def test_openai_compatible_host_model_serves_url_results(
    oai: openai.OpenAI, emulator: EmulatorServer
) -> None:
    """A model id that is not OpenAI's (a proxy's Gemini, any custom name) answers as a
    compatible host does: ``response_format=url`` gives a downloadable URL."""
    for model in ("gemini-nano-banana-2.1", "my-local-diffusion"):
        result = oai.images.generate(
            model=model, prompt="x", size="300x200", response_format="url", style="vivid"
        )
        (item,) = result.data or []
        assert item.url and item.url.startswith(emulator.root)
        body = httpx2.get(item.url, trust_env=False).content
        assert _decoded(body).size == (300, 200)
