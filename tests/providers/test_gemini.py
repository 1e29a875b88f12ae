"""The Gemini provider against the emulator over real HTTP: request parts and config, the key
only in ``x-goog-api-key``, thought images skipped, text kept, blocked and empty answers, aspect
ratio mapping, retries and errors."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest
from PIL import Image

from twat_genai import GeminiImageClient
from twat_genai.core.config import ImageInput, ImageSizeWH
from twat_genai.core.errors import (
    AuthenticationError,
    BlockedError,
    MissingKeyError,
    ModelError,
    ServiceUnavailableError,
    UsageError,
)
from twat_genai.core.models import ImageEditRequest, ImageGenerationRequest
from twat_genai.providers.gemini import (
    GeminiProvider,
    google_error_info,
)
from twat_genai.providers.registry import resolve_alias
from twat_genai.testing import EmulatorServer

from .conftest import GEMINI_SECRET, assert_no_secret, calls, sidecar

ImageFactory = Callable[..., Path]
GEN_PATH = "/gemini/v1beta/models/{}:generateContent"


def _parts(entry: dict[str, Any]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = entry["args"]["contents"][0]["parts"]
    return parts


# --------------------------------------------------------------------------- pure mapping


def test_aliases() -> None:
    """The default and the aliases name current models; ``flash25`` names the retired one."""
    assert GeminiProvider.default_model == "gemini-nano-banana-2.1"
    assert resolve_alias("nano") == resolve_alias("flash31") == "gemini-nano-banana-2.1"
    assert resolve_alias("flash25") == "gemini-2.5-flash-image"
    assert resolve_alias("pro3") == "gemini-3-pro-image"


def test_google_error_envelope() -> None:
    body = {
        "error": {
            "code": 400,
            "message": "API key not valid.\n Please pass a valid API key.",
            "status": "INVALID_ARGUMENT",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}
            ],
        }
    }
    info = google_error_info(400, body, json.dumps(body))
    assert info.message == "API key not valid. Please pass a valid API key."
    assert info.error_type == "API_KEY_INVALID" and not info.blocked
    quota = {"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}
    assert google_error_info(429, quota, "").error_type == "RESOURCE_EXHAUSTED"


def test_payload_uses_standard_base64_and_real_mime_types(
    gemini_env: EmulatorServer, image_factory: ImageFactory
) -> None:
    png = image_factory("a.png", (400, 300))
    jpg = image_factory("b.jpg", (300, 400))

    async def run() -> Any:
        provider = GeminiProvider()
        try:
            request = ImageEditRequest(prompt="mix", images=[png, jpg])
            model = "gemini-3-pro-image"
            return await provider._payload(request, model, provider.model_info(model))
        finally:
            await provider.aclose()

    payload, sent, warnings = asyncio.run(run())
    parts = payload["contents"][0]["parts"]
    assert parts[0] == {"text": "mix"}
    for part, path, mime in ((parts[1], png, "image/png"), (parts[2], jpg, "image/jpeg")):
        assert part["inlineData"]["mimeType"] == mime
        assert base64.b64decode(part["inlineData"]["data"], validate=True) == path.read_bytes()
    assert payload["generationConfig"]["imageConfig"] == {"aspectRatio": "4:3"}
    assert sent["contents"][0]["parts"][1]["inlineData"]["source"] == str(png)
    assert "data" not in json.dumps(sent["contents"][0]["parts"][1])
    assert warnings == []


# --------------------------------------------------------------------------- over HTTP


def test_transform_sends_two_inline_images_and_key_only_in_header(
    gemini_env: EmulatorServer, tmp_path: Path, image_factory: ImageFactory
) -> None:
    subject = image_factory("cat.png", (1200, 800))
    reference = image_factory("style.jpg", (500, 500), color=(200, 40, 40))
    out = tmp_path / "out"
    client = GeminiImageClient(output_dir=out)
    assert GEMINI_SECRET not in repr(client)
    response = client.transform(subject, reference, "paint the cat in this style")

    (entry,) = calls(gemini_env, "gemini")
    assert entry["path"] == GEN_PATH.format("gemini-nano-banana-2.1")
    assert entry["query"] == {} and "key=" not in entry["path"]
    assert "x-goog-api-key" in entry["headers"]
    assert "authorization" not in entry["headers"]
    parts = _parts(entry)
    assert parts[0] == {"text": "paint the cat in this style"}
    assert [p["inlineData"]["mimeType"] for p in parts[1:]] == ["image/png", "image/jpeg"]
    config = entry["args"]["generationConfig"]
    assert config["responseModalities"] == ["TEXT", "IMAGE"]
    assert config["imageConfig"] == {"aspectRatio": "3:2"}  # from the subject's shape

    (file,) = response.files
    assert file.path is not None and file.path.suffix == ".png"
    assert file.path.name.startswith("cat_")
    with Image.open(file.path) as img:
        assert img.size == (1248, 832)
    meta = sidecar(file.path)
    assert meta["provider"] == "gemini"
    assert meta["model"] == "gemini-nano-banana-2.1"
    assert meta["text"] and meta["text"][0].startswith("Here is the image")
    assert meta["usage"]["totalTokenCount"] > 0
    assert [i["source"] for i in meta["inputs"]] == [
        str(subject.resolve()),
        str(reference.resolve()),
    ]
    assert all(len(i["sha256"]) == 64 for i in meta["inputs"])
    assert response.text == meta["text"]
    assert_no_secret(GEMINI_SECRET, out, gemini_env)


def test_remote_input_is_fetched_without_the_key(
    gemini_env: EmulatorServer, tmp_path: Path, image_factory: ImageFactory
) -> None:
    data = image_factory("remote.jpg", (300, 400)).read_bytes()
    url = gemini_env.files.put(data, "image/jpeg", "remote.jpg")
    client = GeminiImageClient(output_dir=tmp_path)
    client.generate("restyle", images=[url])
    fetch, call = gemini_env.requests
    assert fetch["path"].startswith("/files/") and "x-goog-api-key" not in fetch["headers"]
    assert "x-goog-api-key" in call["headers"]
    assert _parts(call)[1]["inlineData"]["mimeType"] == "image/jpeg"
    assert call["args"]["generationConfig"]["imageConfig"]["aspectRatio"] == "3:4"


def test_slow_scenario_waits(gemini_env: EmulatorServer, tmp_path: Path) -> None:
    import time

    started = time.monotonic()
    GeminiImageClient(output_dir=tmp_path).generate("patience [emulate:slow=0.3]")
    assert time.monotonic() - started >= 0.3
    assert [e["status"] for e in calls(gemini_env, "gemini")] == [200]


def test_thought_image_is_skipped(gemini_env: EmulatorServer, tmp_path: Path) -> None:
    client = GeminiImageClient(output_dir=tmp_path)
    response = client.generate("a fox thinking [emulate:thought]", model="pro3")
    (entry,) = calls(gemini_env, "gemini")
    assert entry["path"] == GEN_PATH.format("gemini-3-pro-image")
    assert len(response.files) == 1
    meta = sidecar(response.files[0].path)
    assert meta["provider_result"]["skipped_thought_images"] == 1
    assert len(list(tmp_path.glob("*.png"))) == 1


def test_image_safety_is_blocked_and_writes_nothing(
    gemini_env: EmulatorServer, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    client = GeminiImageClient(output_dir=out)
    with pytest.raises(BlockedError) as info:
        client.generate("something unsafe [emulate:blocked]")
    err = info.value
    assert "finishReason=IMAGE_SAFETY" in str(err)
    assert "safety guidelines" in str(err)  # the model's own words
    assert "\n" not in str(err) and err.reason == "IMAGE_SAFETY"
    assert not out.exists()


def test_prompt_block_is_blocked_and_writes_nothing(
    gemini_env: EmulatorServer, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    client = GeminiImageClient(output_dir=out)
    with pytest.raises(BlockedError, match="blockReason=PROHIBITED_CONTENT") as info:
        client.generate("forbidden [emulate:prompt_blocked]")
    assert info.value.reason == "PROHIBITED_CONTENT"
    assert not out.exists()


def test_text_only_answer_is_a_model_error(gemini_env: EmulatorServer, tmp_path: Path) -> None:
    request = ImageGenerationRequest(prompt="just talk", options={"response_modalities": ["TEXT"]})

    async def run() -> Any:
        from twat_genai.providers.base import CallContext

        async with GeminiProvider() as provider:
            return await provider.generate(request, CallContext())

    with pytest.raises(ModelError, match=r"no image returned \(finishReason=STOP\)") as info:
        asyncio.run(run())
    assert not isinstance(info.value, BlockedError)
    assert "Here is the image" in str(info.value)
    assert calls(gemini_env, "gemini")[0]["args"]["generationConfig"] == {
        "responseModalities": ["TEXT"]
    }


@pytest.mark.parametrize(
    "case",
    [
        ({"width": 1920, "height": 1080}, "16:9", (1344, 768), "requested 1920x1080, used 16:9"),
        ({"width": 1024, "height": 1024}, "1:1", (1024, 1024), None),
        ({"width": 1344, "height": 768}, "16:9", (1344, 768), None),
        ({"aspect_ratio": "9:16"}, "9:16", (768, 1344), None),
        ({"aspect_ratio": "7:3"}, "21:9", (1536, 672), "requested aspect ratio 7:3, used 21:9"),
    ],
)
def test_aspect_ratio_mapping(
    gemini_env: EmulatorServer,
    tmp_path: Path,
    case: tuple[dict[str, Any], str, tuple[int, int], str | None],
) -> None:
    kwargs, ratio, pixels, warning = case
    client = GeminiImageClient(output_dir=tmp_path)
    response = client.generate("a wide valley", **kwargs)
    (entry,) = calls(gemini_env, "gemini")
    assert entry["args"]["generationConfig"]["imageConfig"]["aspectRatio"] == ratio
    (file,) = response.files
    assert (file.width, file.height) == pixels
    warnings = sidecar(file.path)["warnings"]
    if warning:
        assert any(warning in w for w in warnings), warnings
    else:
        assert warnings == []


def test_image_size_only_for_models_that_take_it(
    gemini_env: EmulatorServer, tmp_path: Path
) -> None:
    """pro3 takes 2K; the lite model is 1K only (its catalog entry): asking it for 2K is
    refused before any request, and an unknown size too."""
    client = GeminiImageClient(output_dir=tmp_path)
    client.generate("big", model="pro3", image_size="2k", aspect_ratio="1:1")
    (first,) = calls(gemini_env, "gemini")
    assert first["args"]["generationConfig"]["imageConfig"] == {
        "aspectRatio": "1:1",
        "imageSize": "2K",
    }
    with pytest.raises(UsageError, match="takes image sizes 1K, not '2K'"):
        client.generate("small", model="gemini-3.1-flash-lite-image", image_size="2K")
    with pytest.raises(UsageError, match="1K, 2K or 4K"):
        client.generate("huge", model="pro3", image_size="8K")
    assert len(calls(gemini_env, "gemini")) == 1


def test_rate_limit_is_retried_using_retry_info(gemini_env: EmulatorServer, tmp_path: Path) -> None:
    client = GeminiImageClient(output_dir=tmp_path)
    response = client.generate("crowded [emulate:ratelimit]")
    assert [e["status"] for e in calls(gemini_env, "gemini")] == [429, 200]
    assert response.files[0].path is not None and response.files[0].path.exists()


def test_server_error_is_not_retried_and_reads_google_envelope(
    gemini_env: EmulatorServer, tmp_path: Path
) -> None:
    client = GeminiImageClient(output_dir=tmp_path / "out")
    with pytest.raises(
        ServiceUnavailableError, match=r"An internal error has occurred.*\(HTTP 500\)"
    ) as info:
        client.generate("boom [emulate:error=500]")
    assert info.value.error_type == "INTERNAL"
    assert len(calls(gemini_env, "gemini")) == 1
    assert not (tmp_path / "out").exists()


def test_api_key_invalid_becomes_authentication_error(tmp_path: Path) -> None:
    """A 400 API_KEY_INVALID (Google's way of saying 401) is an authentication failure."""

    def answer(request: httpx2.Request) -> httpx2.Response:
        assert "key=" not in str(request.url)
        assert request.headers["x-goog-api-key"] == GEMINI_SECRET
        return httpx2.Response(
            400,
            json={
                "error": {
                    "code": 400,
                    "message": "API key not valid. Please pass a valid API key.",
                    "status": "INVALID_ARGUMENT",
                    "details": [
                        {
                            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                            "reason": "API_KEY_INVALID",
                        }
                    ],
                }
            },
        )

    client = GeminiImageClient(
        api_key=GEMINI_SECRET,
        base_url="https://gemini.invalid",
        output_dir=tmp_path / "out",
        transport=httpx2.MockTransport(answer),
    )
    with pytest.raises(AuthenticationError, match="API key not valid") as info:
        client.generate("hello")
    assert GEMINI_SECRET not in str(info.value)
    assert not (tmp_path / "out").exists()


def test_emulator_refuses_key_in_query_and_missing_header(gemini_env: EmulatorServer) -> None:
    url = f"{gemini_env.root}{GEN_PATH.format('gemini-3-pro-image')}"
    body = {"contents": [{"parts": [{"text": "x"}]}]}
    with httpx2.Client(trust_env=False) as http:
        in_query = http.post(url, params={"key": "abc"}, json=body)
        missing = http.post(url, json=body)
        ok = http.post(url, json=body, headers={"x-goog-api-key": "abc"})
    for r in (in_query, missing):
        assert r.status_code == 400
        assert r.json()["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    assert ok.status_code == 200
    assert gemini_env.requests[0]["note"] == "key in URL refused"
    assert GEMINI_SECRET not in json.dumps(gemini_env.requests)  # a known key is masked


def test_emulator_accepts_snake_case_and_url_safe_base64(
    gemini_env: EmulatorServer, image_factory: ImageFactory
) -> None:
    data = image_factory("in.png", (300, 600)).read_bytes()
    body = {
        "contents": [
            {
                "parts": [
                    {"text": "snake"},
                    {
                        "inline_data": {
                            "mime_type": "image/png",
                            "data": base64.urlsafe_b64encode(data).decode().rstrip("="),
                        }
                    },
                ]
            }
        ],
        "generation_config": {"response_modalities": ["IMAGE"]},
    }
    url = f"{gemini_env.root}/gemini/v1/models/models/gemini-3-pro-image:generateContent"
    with httpx2.Client(trust_env=False) as http:
        r = http.post(url, json=body, headers={"x-goog-api-key": "k"})
    assert r.status_code == 200, r.text
    parts = r.json()["candidates"][0]["content"]["parts"]
    image = next(p for p in parts if "inlineData" in p)["inlineData"]
    out = base64.b64decode(image["data"], validate=True)  # standard alphabet out
    with Image.open(io.BytesIO(out)) as img:
        assert img.size == (768, 1344)  # 1:2 input → nearest supported ratio 9:16


def test_snake_case_response_parts_are_read(gemini_env: EmulatorServer) -> None:
    from twat_genai.providers.gemini.provider import _parts as parse_parts

    png = base64.urlsafe_b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16).decode()
    body = {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {"thought": True, "inline_data": {"mime_type": "image/png", "data": png}},
                        {"text": "done"},
                        {"inline_data": {"mime_type": "image/png", "data": png}},
                    ]
                }
            }
        ]
    }
    files, texts, thoughts = parse_parts(body)
    assert len(files) == 1 and files[0].content_type == "image/png"
    assert texts == ["done"] and thoughts == 1


def test_async_generate_with_images_and_missing_key(
    gemini_env: EmulatorServer,
    tmp_path: Path,
    image_factory: ImageFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    src = image_factory("tall.png", (400, 800))

    async def run() -> Any:
        async with GeminiImageClient(output_dir=tmp_path) as client:
            return await client.agenerate(
                "add a hat", images=[ImageInput(path=src)], filename_prefix="hat"
            )

    response = asyncio.run(run())
    (entry,) = calls(gemini_env, "gemini")
    assert len(_parts(entry)) == 2
    assert entry["args"]["generationConfig"]["imageConfig"]["aspectRatio"] == "9:16"
    assert response.files[0].path is not None
    assert response.files[0].path.name.startswith("hat_")

    monkeypatch.delenv("GEMINI_API_KEY")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MissingKeyError, match="GEMINI_API_KEY or GOOGLE_API_KEY"):
        GeminiImageClient(output_dir=tmp_path / "never")
    assert not (tmp_path / "never").exists()


def test_mask_is_warned_about(
    gemini_env: EmulatorServer, tmp_path: Path, image_factory: ImageFactory
) -> None:
    from twat_genai.core.writer import OutputWriter
    from twat_genai.jobs.generate import generate

    src = image_factory("m.png", (512, 512))
    request = ImageEditRequest(
        prompt="edit", images=[src], mask=src, size=ImageSizeWH(width=512, height=512)
    )

    async def run() -> Any:
        async with GeminiProvider() as provider:
            return await generate(provider, request, OutputWriter(tmp_path))

    response = asyncio.run(run())
    assert any("does not take a mask" in w for w in sidecar(response.files[0].path)["warnings"])
    assert len(_parts(calls(gemini_env, "gemini")[0])) == 2  # the mask is not sent


def _generate_with_options(options: dict[str, Any]) -> None:
    request = ImageGenerationRequest(
        prompt="a lighthouse", model="gemini-3-pro-image", options=options
    )

    async def run() -> Any:
        from twat_genai.providers.base import CallContext

        async with GeminiProvider() as provider:
            return await provider.generate(request, CallContext())

    asyncio.run(run())


@pytest.mark.parametrize(
    ("options", "image_config"),
    [
        ({"aspect_ratio": "16:9"}, {"aspectRatio": "16:9"}),
        ({"aspectRatio": "9:16"}, {"aspectRatio": "9:16"}),
        ({"image_size": "2K", "imageSize": "4K"}, {"imageSize": "2K"}),
        ({"imageSize": "4K"}, {"imageSize": "4K"}),
        (
            {"aspect_ratio": "1:1", "image_size": "2K", "temperature": 0.5},
            {"aspectRatio": "1:1", "imageSize": "2K"},
        ),
    ],
)
def test_request_options_reach_image_config_and_nothing_leaks(
    gemini_env: EmulatorServer, options: dict[str, Any], image_config: dict[str, Any]
) -> None:
    """Ratio and size options, in either spelling, go to ``imageConfig`` only; other options
    (``temperature``) stay in ``generationConfig``."""
    _generate_with_options(options)
    (entry,) = calls(gemini_env, "gemini")
    config = entry["args"]["generationConfig"]
    assert config["imageConfig"] == image_config
    extra = {k: v for k, v in config.items() if k not in ("responseModalities", "imageConfig")}
    assert extra == ({"temperature": 0.5} if "temperature" in options else {})
