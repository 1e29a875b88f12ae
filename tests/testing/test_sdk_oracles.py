"""The official ``openai`` and ``google-genai`` SDKs against the OpenAI and Gemini emulators:
if the vendors' own clients accept our answers (and we accept their requests), the emulators
speak the real protocol, so tests that pass against them say something about production."""

from __future__ import annotations

import asyncio
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
from PIL import Image, ImageDraw

from twat_genai.testing import EmulatorServer, running_emulator
from twat_genai.testing.gemini import GeminiEmulator
from twat_genai.testing.openai import OpenAIEmulator

OPENAI_KEY = "sk-oracle-openai-key-0123456789"
GEMINI_KEY = "oracle-gemini-key-0123456789"


@pytest.fixture(scope="module")
def _sdk_server() -> Iterator[EmulatorServer]:
    with running_emulator() as server:
        if "/openai" not in server.apps:
            server.mount("/openai", OpenAIEmulator())
        if "/gemini" not in server.apps:
            server.mount("/gemini", GeminiEmulator())
        yield server


@pytest.fixture
def sdk_server(_sdk_server: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    """The module's emulator (log reset), with no proxies and no stray SDK configuration."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    for name in (
        "OPENAI_BASE_URL",
        "OPENAI_API_KEY",
        "GOOGLE_API_KEY",
        "GEMINI_API_KEY",
        "GOOGLE_GEMINI_BASE_URL",
        "GOOGLE_GENAI_API_VERSION",
        "GOOGLE_GENAI_USE_VERTEXAI",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "http_proxy",
        "https_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    _sdk_server.reset()
    return _sdk_server


def _png(size: tuple[int, int], color: tuple[int, int, int] = (30, 120, 200)) -> bytes:
    img = Image.new("RGB", size, color)
    w, h = size
    ImageDraw.Draw(img).rectangle([w // 4, h // 4, w // 2, h // 2], fill=(250, 250, 0))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _mask(size: tuple[int, int]) -> bytes:
    mask = Image.new("RGBA", size, (0, 0, 0, 255))
    ImageDraw.Draw(mask).rectangle([0, 0, size[0] // 2, size[1] // 2], fill=(0, 0, 0, 0))
    buf = io.BytesIO()
    mask.save(buf, "PNG")
    return buf.getvalue()


def _decoded(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def _log(server: EmulatorServer, provider: str) -> list[dict[str, Any]]:
    return [e for e in server.requests if e["provider"] == provider]


# --------------------------------------------------------------------------- openai


@pytest.fixture
def oai(sdk_server: EmulatorServer) -> Iterator[openai.OpenAI]:
    client = openai.OpenAI(base_url=f"{sdk_server.root}/openai/v1", api_key=OPENAI_KEY)
    yield client
    client.close()


def test_openai_generate_b64_of_requested_size(
    sdk_server: EmulatorServer, oai: openai.OpenAI
) -> None:
    result = oai.images.generate(
        model="gpt-image-1.5", prompt="a red kite", size="1536x1024", quality="low"
    )
    (item,) = result.data or []
    assert item.b64_json is not None
    assert _decoded(base64.b64decode(item.b64_json)).size == (1536, 1024)
    assert result.size == "1536x1024" and result.quality == "low"
    assert result.output_format == "png" and result.background == "opaque"
    assert result.usage is not None and result.usage.total_tokens > 0
    assert result.created > 0
    (entry,) = _log(sdk_server, "openai")
    assert entry["args"]["model"] == "gpt-image-1.5"


def test_openai_generate_jpeg_and_n(sdk_server: EmulatorServer, oai: openai.OpenAI) -> None:
    result = oai.images.generate(
        model="gpt-image-2", prompt="tiles", size="1024x768", n=3, output_format="jpeg"
    )
    data = result.data or []
    assert len(data) == 3
    for item in data:
        raw = base64.b64decode(item.b64_json or "")
        assert raw[:3] == b"\xff\xd8\xff" and _decoded(raw).size == (1024, 768)


def test_openai_edit_one_image_with_mask(sdk_server: EmulatorServer, oai: openai.OpenAI) -> None:
    result = oai.images.edit(
        model="gpt-image-2",
        image=("room.png", _png((512, 512)), "image/png"),
        mask=("mask.png", _mask((512, 512)), "image/png"),
        prompt="add a window",
        size="1024x1024",
    )
    (item,) = result.data or []
    assert _decoded(base64.b64decode(item.b64_json or "")).size == (1024, 1024)
    (entry,) = _log(sdk_server, "openai")
    assert entry["path"] == "/openai/v1/images/edits"
    assert entry["args"]["image"].startswith("<file 'room.png' image/png")
    assert entry["args"]["mask"].startswith("<file 'mask.png' image/png")


def test_openai_edit_two_images_with_mask(sdk_server: EmulatorServer, oai: openai.OpenAI) -> None:
    result = oai.images.edit(
        model="gpt-image-2",
        image=[
            ("a.png", _png((400, 400)), "image/png"),
            ("b.png", _png((200, 300), (200, 0, 0)), "image/png"),
        ],
        mask=("mask.png", _mask((400, 400)), "image/png"),
        prompt="combine",
        n=2,
    )
    assert len(result.data or []) == 2
    (entry,) = _log(sdk_server, "openai")
    assert len(entry["args"]["image[]"]) == 2 and "image" not in entry["args"]
    assert entry["args"]["n"] == "2"


def test_openai_url_response(sdk_server: EmulatorServer, oai: openai.OpenAI) -> None:
    """A model that is not OpenAI's is served as an OpenAI-compatible host serves it: a
    ``response_format=url`` answer is a URL to download."""
    result = oai.images.generate(
        model="gemini-nano-banana-2.1", prompt="a moon", size="1024x1792", response_format="url"
    )
    (item,) = result.data or []
    assert item.url is not None
    with httpx2.Client(trust_env=False) as http:
        body = http.get(item.url).content
    assert _decoded(body).size == (1024, 1792)
    assert result.usage is None


def test_openai_blocked_is_a_bad_request_with_moderation_code(
    sdk_server: EmulatorServer, oai: openai.OpenAI
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        oai.images.generate(model="gpt-image-2", prompt="nope [emulate:blocked]")
    err = info.value
    assert err.status_code == 400 and err.code == "moderation_blocked"
    assert err.type == "image_generation_user_error"
    assert "safety system" in err.message
    assert len(_log(sdk_server, "openai")) == 1  # the SDK does not retry a 400


def test_openai_sdk_retries_rate_limit_quickly(
    sdk_server: EmulatorServer, oai: openai.OpenAI
) -> None:
    result = oai.images.generate(model="gpt-image-2", prompt="busy [emulate:ratelimit]")
    assert result.data
    assert [e["status"] for e in _log(sdk_server, "openai")] == [429, 200]


def test_openai_sdk_errors(sdk_server: EmulatorServer, oai: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        oai.images.generate(model="gpt-image-1.5", prompt="x", size="1000x700")
    assert info.value.param == "size" and "Supported values" in info.value.message
    with pytest.raises(openai.InternalServerError):
        oai.with_options(max_retries=0).images.generate(prompt="x [emulate:error=500]")
    with pytest.raises(openai.AuthenticationError) as auth:
        oai.images.generate(prompt="x [emulate:error=401]")
    assert auth.value.code == "invalid_api_key"


def test_async_openai_generate(sdk_server: EmulatorServer) -> None:
    async def run() -> Any:
        async with openai.AsyncOpenAI(
            base_url=f"{sdk_server.root}/openai/v1", api_key=OPENAI_KEY
        ) as client:
            return await client.images.generate(prompt="async fox", size="1024x1024")

    result = asyncio.run(run())
    (item,) = result.data or []
    assert _decoded(base64.b64decode(item.b64_json or "")).size == (1024, 1024)


# --------------------------------------------------------------------------- gemini


def _genai(server: EmulatorServer, api_version: str | None = None) -> genai.Client:
    options = types.HttpOptions(base_url=f"{server.root}/gemini")
    if api_version:
        options = types.HttpOptions(base_url=f"{server.root}/gemini", api_version=api_version)
    return genai.Client(api_key=GEMINI_KEY, http_options=options)


def _image_parts(response: types.GenerateContentResponse) -> list[types.Part]:
    return [p for p in response.parts or [] if p.inline_data is not None and not p.thought]


@pytest.mark.parametrize("api_version", [None, "v1", "v1beta"])
def test_genai_generate_content_with_two_images(
    sdk_server: EmulatorServer, api_version: str | None
) -> None:
    client = _genai(sdk_server, api_version)
    # The SDK's own default differs by release (v1beta in 2.x, v1 in 3.x): the path follows it.
    path_version = api_version or client._api_client._http_options.api_version
    contents: list[types.PartUnionDict] = [
        "put the subject in the reference's style",
        types.Part.from_bytes(data=_png((600, 400)), mime_type="image/png"),
        types.Part.from_bytes(data=_png((300, 300), (255, 0, 0)), mime_type="image/png"),
    ]
    response = client.models.generate_content(
        model="gemini-nano-banana-2.1",
        contents=contents,
        config=types.GenerateContentConfig(response_modalities=["TEXT", "IMAGE"]),
    )
    (part,) = _image_parts(response)
    assert part.inline_data is not None and part.inline_data.data is not None
    assert part.inline_data.mime_type == "image/png"
    assert _decoded(part.inline_data.data).size == (1248, 832)  # 3:2 like the first input
    assert response.text and "Here is the image" in response.text
    assert response.candidates and response.candidates[0].finish_reason == types.FinishReason.STOP
    assert response.usage_metadata and response.usage_metadata.total_token_count
    assert response.model_version == "gemini-nano-banana-2.1" and response.response_id
    (entry,) = _log(sdk_server, "gemini")
    assert entry["path"] == f"/gemini/{path_version}/models/gemini-nano-banana-2.1:generateContent"
    assert "x-goog-api-key" in entry["headers"] and entry["query"] == {}
    assert len(entry["args"]["contents"][0]["parts"]) == 3


def test_genai_image_config_aspect_ratio(sdk_server: EmulatorServer) -> None:
    client = _genai(sdk_server, "v1beta")
    response = client.models.generate_content(
        model="gemini-3-pro-image",
        contents="a skyline",
        config=types.GenerateContentConfig(
            response_modalities=["IMAGE"],
            image_config=types.ImageConfig(aspect_ratio="16:9", image_size="2K"),
        ),
    )
    (part,) = _image_parts(response)
    assert part.inline_data is not None and part.inline_data.data is not None
    assert _decoded(part.inline_data.data).size == (1344, 768)
    (entry,) = _log(sdk_server, "gemini")
    assert entry["args"]["generationConfig"]["imageConfig"] == {
        "aspectRatio": "16:9",
        "imageSize": "2K",
    }


def test_genai_async_generate_content(sdk_server: EmulatorServer) -> None:
    client = _genai(sdk_server)

    async def run() -> types.GenerateContentResponse:
        return await client.aio.models.generate_content(
            model="gemini-3.1-flash-image", contents="an async owl"
        )

    response = asyncio.run(run())
    (part,) = _image_parts(response)
    assert part.inline_data is not None and part.inline_data.data is not None
    assert _decoded(part.inline_data.data).size == (1024, 1024)


def test_genai_sees_blocked_outcomes_as_the_real_api_reports_them(
    sdk_server: EmulatorServer,
) -> None:
    client = _genai(sdk_server)
    refused = client.models.generate_content(
        model="gemini-nano-banana-2.1", contents="bad [emulate:blocked]"
    )
    assert refused.candidates
    assert refused.candidates[0].finish_reason == types.FinishReason.IMAGE_SAFETY
    assert _image_parts(refused) == [] and refused.text

    blocked = client.models.generate_content(
        model="gemini-nano-banana-2.1", contents="worse [emulate:prompt_blocked]"
    )
    assert not blocked.candidates
    assert blocked.prompt_feedback is not None
    assert blocked.prompt_feedback.block_reason == types.BlockedReason.PROHIBITED_CONTENT


def test_genai_thought_part_is_marked(sdk_server: EmulatorServer) -> None:
    client = _genai(sdk_server)
    response = client.models.generate_content(
        model="gemini-3-pro-image", contents="think first [emulate:thought]"
    )
    parts = response.parts or []
    assert parts[0].thought is True and parts[0].inline_data is not None
    assert len(_image_parts(response)) == 1


def test_genai_errors(sdk_server: EmulatorServer) -> None:
    client = _genai(sdk_server)
    with pytest.raises(genai_errors.ClientError) as limited:
        client.models.generate_content(
            model="gemini-nano-banana-2.1", contents="quota [emulate:ratelimit]"
        )
    assert limited.value.code == 429 and limited.value.status == "RESOURCE_EXHAUSTED"
    details = limited.value.details["error"]["details"]
    assert any(d.get("retryDelay") == "0s" for d in details)
    with pytest.raises(genai_errors.ServerError) as failed:
        client.models.generate_content(
            model="gemini-nano-banana-2.1", contents="boom [emulate:error=503]"
        )
    assert failed.value.code == 503 and failed.value.status == "UNAVAILABLE"
