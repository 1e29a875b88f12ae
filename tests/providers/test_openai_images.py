"""The OpenAI-compatible images provider against the emulator over real HTTP: wire bodies,
saved files and sidecars, edits (``image`` / ``image[]`` / ``mask``), URL results, blocks,
retries, errors, and that the key never leaks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest
from PIL import Image

from twat_genai import OpenAIImageClient
from twat_genai.core.config import ImageSizeWH
from twat_genai.core.errors import (
    AuthenticationError,
    BlockedError,
    DownloadError,
    MissingKeyError,
    ModelError,
    ServiceUnavailableError,
    UsageError,
)
from twat_genai.core.models import ImageGenerationRequest
from twat_genai.core.writer import OutputWriter
from twat_genai.jobs.generate import generate
from twat_genai.providers.base import CallContext
from twat_genai.providers.openai import (
    OpenAIProvider,
    openai_error_info,
    wire_size,
)
from twat_genai.providers.registry import resolve_alias
from twat_genai.testing import EmulatorServer
from twat_genai.transport.retry import RetryPolicy

from .conftest import OPENAI_SECRET, assert_no_secret, calls, make_mask, sidecar

ImageFactory = Callable[..., Path]


def _size(w: int, h: int) -> ImageSizeWH:
    return ImageSizeWH(width=w, height=h)


# --------------------------------------------------------------------------- pure mapping


def test_aliases_resolve_and_others_pass_through() -> None:
    """``gpt`` names the default; ``nano`` names the Gemini model a compatible proxy serves."""
    assert OpenAIProvider.default_model == "gpt-image-2"
    assert resolve_alias("gpt") == "gpt-image-2"
    assert resolve_alias("nano") == "gemini-nano-banana-2.1"
    assert resolve_alias("dall-e-3") == "dall-e-3"


@pytest.mark.parametrize(
    ("model", "size", "wire", "warned"),
    [
        ("gpt-image-2", (1024, 1024), "1024x1024", False),
        ("gpt-image-2", (1024, 576), "1024x576", False),
        ("gpt-image-2", (1000, 700), "992x704", True),
        ("gpt-image-2", (4000, 4000), "2880x2880", True),
        ("gpt-image-1", (1000, 700), "1536x1024", True),
        ("gpt-image-1.5", (768, 1024), "1024x1536", True),
        ("dall-e-3", (1024, 576), "1792x1024", True),
        ("dall-e-2", (300, 300), "256x256", True),
        ("some-proxy-model", (1000, 700), "1000x700", False),
    ],
)
def test_wire_size(model: str, size: tuple[int, int], wire: str, warned: bool) -> None:
    text, warning = wire_size(model, _size(*size))
    assert text == wire
    if warned:
        assert warning == f"{model}: requested {size[0]}x{size[1]}, used {wire}"
    else:
        assert warning is None


def test_gpt_image_2_sizes_stay_within_limits() -> None:
    for w, h in [(5000, 1000), (1000, 5000), (3840, 3840), (17, 4000), (1234, 567)]:
        text, _ = wire_size("gpt-image-2", _size(w, h))
        ow, oh = (int(v) for v in text.split("x"))
        assert ow % 16 == 0 and oh % 16 == 0
        assert max(ow, oh) <= 3840 and ow * oh <= 3840 * 2160
        assert 1 / 3 <= ow / oh <= 3


def test_error_envelope_blocked_codes() -> None:
    body = {
        "error": {
            "message": "Your request was rejected\nby the safety system.",
            "type": "image_generation_user_error",
            "param": None,
            "code": "moderation_blocked",
        }
    }
    info = openai_error_info(400, body, json.dumps(body))
    assert info.blocked and info.error_type == "moderation_blocked"
    assert info.message == "Your request was rejected by the safety system."
    dalle = {"error": {"message": "rejected", "type": "x", "code": "content_policy_violation"}}
    assert openai_error_info(400, dalle, "").blocked
    other = {
        "error": {
            "message": "Invalid value: '12x12'.",
            "type": "invalid_request_error",
            "param": "size",
        }
    }
    info = openai_error_info(400, other, "")
    assert not info.blocked and info.error_type == "invalid_request_error"
    assert "param: size" in info.message


# --------------------------------------------------------------------------- generations


def test_generate_sends_alias_model_and_saves_png_with_sidecar(
    openai_env: EmulatorServer, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    client = OpenAIImageClient(output_dir=out)
    assert OPENAI_SECRET not in repr(client) and OPENAI_SECRET not in repr(client.provider)
    response = client.generate("a red fox", model="gpt", width=1024, height=1024, quality="high")

    (entry,) = calls(openai_env, "openai")
    assert entry["path"] == "/openai/v1/images/generations"
    assert entry["args"] == {
        "model": "gpt-image-2",
        "prompt": "a red fox",
        "n": 1,
        "size": "1024x1024",
        "quality": "high",
    }
    assert "authorization" in entry["headers"]

    (file,) = response.files
    assert file.path is not None and file.path.suffix == ".png" and file.path.parent == out
    with Image.open(file.path) as img:
        assert img.size == (1024, 1024)
    meta = sidecar(file.path)
    assert meta["provider"] == "openai" and meta["model"] == "gpt-image-2"
    assert meta["request_id"].startswith("req_")
    assert meta["usage"]["total_tokens"] > 0 and "input_tokens_details" in meta["usage"]
    assert meta["parameters"]["size"] == "1024x1024"
    assert "chars of base64" in json.dumps(meta["provider_result"])  # no bulky image data
    assert response.usage == meta["usage"]
    assert_no_secret(OPENAI_SECRET, out, openai_env)


def test_output_format_jpg_becomes_jpeg_and_extension_comes_from_bytes(
    openai_env: EmulatorServer, tmp_path: Path
) -> None:
    client = OpenAIImageClient(output_dir=tmp_path)
    response = client.generate(
        "a lighthouse", width=1280, height=720, output_format="jpg", output_compression=70
    )
    (entry,) = calls(openai_env, "openai")
    assert entry["args"]["output_format"] == "jpeg"
    assert entry["args"]["output_compression"] == 70
    assert entry["args"]["size"] == "1280x720"
    (file,) = response.files
    assert file.path is not None and file.path.suffix == ".jpg"
    assert file.path.read_bytes()[:3] == b"\xff\xd8\xff"
    assert (file.width, file.height) == (1280, 720)


def test_webp_and_slow_scenario(openai_env: EmulatorServer, tmp_path: Path) -> None:
    import time

    client = OpenAIImageClient(output_dir=tmp_path)
    started = time.monotonic()
    response = client.generate("slow webp [emulate:slow=0.3]", output_format="webp")
    assert time.monotonic() - started >= 0.3
    (file,) = response.files
    assert file.path is not None and file.path.suffix == ".webp"
    assert (file.width, file.height) == (1024, 1024)  # the service default without a size


def test_classic_model_size_and_unsupported_settings_warn(
    openai_env: EmulatorServer, tmp_path: Path
) -> None:
    request = ImageGenerationRequest(
        prompt="a boat",
        model="gpt-image-1.5",
        size=_size(1000, 700),
        seed=7,
        negative_prompt="fog",
        guidance_scale=3.5,
    )

    async def run() -> Any:
        async with OpenAIProvider() as provider:
            return await generate(provider, request, OutputWriter(tmp_path))

    response = asyncio.run(run())
    (entry,) = calls(openai_env, "openai")
    assert entry["args"]["size"] == "1536x1024"
    assert "seed" not in entry["args"] and "negative_prompt" not in entry["args"]
    warnings = sidecar(response.files[0].path)["warnings"]
    assert "gpt-image-1.5: requested 1000x700, used 1536x1024" in warnings
    assert any("does not support seed" in w for w in warnings)
    assert any("does not support negative prompt" in w for w in warnings)
    assert any("does not support guidance scale" in w for w in warnings)


def test_n_above_ten_is_split_into_calls(openai_env: EmulatorServer, tmp_path: Path) -> None:
    client = OpenAIImageClient(output_dir=tmp_path)
    response = client.generate("tiny tiles", width=1024, height=1024, n=12)
    ns = sorted(e["args"]["n"] for e in calls(openai_env, "openai"))
    assert ns == [2, 10]
    paths = [f.path for f in response.files]
    assert len(paths) == 12 and len(set(paths)) == 12
    assert all(p is not None and p.exists() for p in paths)


def test_url_results_are_downloaded(openai_env: EmulatorServer, tmp_path: Path) -> None:
    client = OpenAIImageClient(output_dir=tmp_path)
    # A compatible host's model answers with URLs (dall-e-3, which did, is shut down).
    response = client.generate("a proxied cat", model="some-proxy-model", response_format="url")
    (file,) = response.files
    assert file.url is not None and file.url.startswith(openai_env.root + "/files/")
    assert file.path is not None and file.path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    meta = sidecar(file.path)
    assert meta["result"]["url"] == file.url
    assert meta["usage"] is None
    assert openai_env.stats.get("downloads", "files") == 1
    (download,) = [e for e in openai_env.requests if e["path"].startswith("/files/")]
    assert "authorization" not in download["headers"]  # the key goes to the API only


def test_repeated_sync_calls_with_downloads_each_get_a_fresh_pool(
    openai_env: EmulatorServer, tmp_path: Path
) -> None:
    """Every sync call runs its own event loop; no HTTP client may outlive its loop."""
    client = OpenAIImageClient(output_dir=tmp_path)
    first = client.generate("one", model="some-proxy-model", response_format="url")
    second = client.generate("two", model="some-proxy-model", response_format="url")
    assert first.files[0].path is not None and second.files[0].path is not None
    assert first.files[0].path != second.files[0].path
    assert openai_env.stats.get("downloads", "files") == 2


def test_remote_input_is_fetched_without_the_key(
    openai_env: EmulatorServer, tmp_path: Path, image_factory: ImageFactory
) -> None:
    data = image_factory("remote.png", (256, 256)).read_bytes()
    url = openai_env.files.put(data, "image/png", "remote.png")
    client = OpenAIImageClient(output_dir=tmp_path)
    response = client.edit("recolor", [url])
    fetch, edit = openai_env.requests
    assert fetch["path"].startswith("/files/") and "authorization" not in fetch["headers"]
    assert edit["args"]["image"].startswith("<file 'remote.png' image/png")
    assert "authorization" in edit["headers"]
    [inp] = sidecar(response.files[0].path)["inputs"]
    assert inp["source"] == url and inp["bytes"] == len(data) and inp["width"] == 256


def test_broken_url_leaves_no_file(openai_env: EmulatorServer, tmp_path: Path) -> None:
    out = tmp_path / "out"
    client = OpenAIImageClient(output_dir=out)
    client.provider.fetcher.retry = RetryPolicy(base_delay=0.001, max_delay=0.01)  # keep it fast
    with pytest.raises(DownloadError, match="download"):
        client.generate(
            "a cat [emulate:broken_url]", model="some-proxy-model", response_format="url"
        )
    assert not out.exists() or not any(out.iterdir())


# --------------------------------------------------------------------------- edits


def test_edit_with_one_image_uses_image_field(
    openai_env: EmulatorServer, tmp_path: Path, image_factory: ImageFactory
) -> None:
    src = image_factory("portrait.png", (640, 960))
    client = OpenAIImageClient(output_dir=tmp_path / "out")
    response = client.edit("make it blue", [src])
    (entry,) = calls(openai_env, "openai")
    assert entry["path"] == "/openai/v1/images/edits"
    args = entry["args"]
    assert args["model"] == "gpt-image-2" and args["prompt"] == "make it blue"
    assert args["image"].startswith("<file 'portrait.png' image/png")
    assert "image[]" not in args and "mask" not in args
    (file,) = response.files
    assert file.path is not None and file.path.name.startswith("portrait_")
    with Image.open(file.path) as img:
        assert img.size == (1024, 1536)  # "auto" follows the input's shape
    assert [i["source"] for i in sidecar(file.path)["inputs"]] == [str(src.resolve())]
    assert_no_secret(OPENAI_SECRET, tmp_path / "out", openai_env)


def test_edit_with_two_images_and_mask_uses_image_array(
    openai_env: EmulatorServer, tmp_path: Path, image_factory: ImageFactory
) -> None:
    first = image_factory("room.png", (512, 512))
    second = image_factory("lamp.jpg", (300, 200), color=(200, 20, 20))
    mask = make_mask(tmp_path / "in" / "mask.png", (512, 512))
    client = OpenAIImageClient(output_dir=tmp_path / "out")
    response = client.edit(
        "put the lamp in the room", [first, second], mask=mask, width=1024, height=1024
    )
    (entry,) = calls(openai_env, "openai")
    args = entry["args"]
    assert "image" not in args
    assert len(args["image[]"]) == 2
    assert args["image[]"][0].startswith("<file 'room.png' image/png")
    assert args["image[]"][1].startswith("<file 'lamp.jpg' image/jpeg")
    assert args["mask"].startswith("<file 'mask.png' image/png")
    assert args["size"] == "1024x1024" and args["n"] == "1"
    (file,) = response.files
    meta = sidecar(file.path)
    assert [(i["role"], i["source"]) for i in meta["inputs"]] == [
        ("image", str(first.resolve())),
        ("image", str(second.resolve())),
        ("mask", str(mask.resolve())),
    ]
    assert meta["parameters"]["image[]"] == [str(first), str(second)]


def test_edit_mask_of_wrong_size_is_refused_before_the_call(
    openai_env: EmulatorServer, tmp_path: Path, image_factory: ImageFactory
) -> None:
    src = image_factory("a.png", (512, 512))
    mask = make_mask(tmp_path / "in" / "mask.png", (256, 256))
    client = OpenAIImageClient(output_dir=tmp_path / "out")
    with pytest.raises(UsageError, match="mask is 256x256 but the first image is 512x512"):
        client.edit("x", [src], mask=mask)
    assert calls(openai_env, "openai") == []
    assert not (tmp_path / "out").exists()


def test_a_white_on_black_mask_reaches_openai_as_an_alpha_mask(
    openai_env: EmulatorServer, tmp_path: Path, image_factory: ImageFactory
) -> None:
    """The project's one mask convention (white = edit) becomes OpenAI's: the white area is
    transparent in the mask sent, the black area opaque."""
    import io

    src = image_factory("a.png", (1024, 1024))
    mask_path = tmp_path / "in" / "white.png"
    mask = Image.new("L", (1024, 1024), 0)
    mask.paste(255, (0, 0, 512, 1024))  # the left half is to be edited
    mask.save(mask_path)
    client = OpenAIImageClient(output_dir=tmp_path / "out")
    response = client.edit("paint the left half", [src], mask=mask_path)
    assert response.files[0].path is not None
    assert "white = edit" in response.sent["mask"]
    from twat_genai.providers.openai.provider import alpha_mask

    sent, converted = alpha_mask(mask_path.read_bytes(), (1024, 1024))
    alpha = Image.open(io.BytesIO(sent)).getchannel("A")
    assert converted and alpha.getpixel((100, 500)) == 0 and alpha.getpixel((900, 500)) == 255


def test_edit_accepts_bytes_and_is_async(
    openai_env: EmulatorServer, tmp_path: Path, image_factory: ImageFactory
) -> None:
    data = image_factory("b.webp", (320, 320)).read_bytes()

    async def run() -> Any:
        async with OpenAIImageClient(output_dir=tmp_path) as client:
            return await client.aedit("sharpen", [data], filename_prefix="bytes")

    response = asyncio.run(run())
    (entry,) = calls(openai_env, "openai")
    assert entry["args"]["image"].startswith("<file 'image-1.webp' image/webp")
    assert response.files[0].path is not None
    assert response.files[0].path.name.startswith("bytes_")


# --------------------------------------------------------------------------- failures


def test_moderation_block_is_blocked_error_and_writes_nothing(
    openai_env: EmulatorServer, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    client = OpenAIImageClient(output_dir=out)
    with pytest.raises(BlockedError) as info:
        client.generate("something forbidden [emulate:blocked]")
    err = info.value
    assert "rejected by the safety system" in str(err)
    assert "\n" not in str(err) and str(err).startswith("openai: ")
    assert err.reason == "moderation_blocked" and err.status_code == 400
    assert not out.exists()
    assert len(calls(openai_env, "openai")) == 1  # a block is not retried
    assert OPENAI_SECRET not in str(err)


def test_rate_limit_is_retried_after_retry_after_ms(
    openai_env: EmulatorServer, tmp_path: Path
) -> None:
    client = OpenAIImageClient(output_dir=tmp_path)
    response = client.generate("busy hour [emulate:ratelimit]", width=1024, height=1024)
    assert [e["status"] for e in calls(openai_env, "openai")] == [429, 200]
    assert response.files[0].path is not None and response.files[0].path.exists()


@pytest.mark.parametrize(
    ("code", "error"),
    [(400, ModelError), (401, AuthenticationError), (500, ServiceUnavailableError)],
)
def test_errors_map_to_types_without_retrying_billable_calls(
    openai_env: EmulatorServer, tmp_path: Path, code: int, error: type[Exception]
) -> None:
    client = OpenAIImageClient(output_dir=tmp_path / "out")
    with pytest.raises(error) as info:
        client.generate(f"x [emulate:error={code}]")
    assert f"(HTTP {code})" in str(info.value)
    assert len(calls(openai_env, "openai")) == 1
    assert not (tmp_path / "out").exists()


def test_missing_key_names_the_variables_before_touching_disk(
    server: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MissingKeyError, match="OPENAI_API_KEY or CLIPROXY_API_KEY"):
        OpenAIImageClient(output_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_cliproxy_variables_are_honoured(
    server: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLIPROXY_API_KEY", OPENAI_SECRET)
    monkeypatch.setenv("CLIPROXY_API_ENDPOINT", f"{server.root}/openai/v1")
    client = OpenAIImageClient(output_dir=tmp_path)
    response = client.generate("via proxy", model="nano", width=1024, height=1024)
    (entry,) = calls(server, "openai")
    assert entry["args"]["model"] == "gemini-nano-banana-2.1"
    assert response.model == "gemini-nano-banana-2.1"


def test_emulator_refuses_missing_bearer(openai_env: EmulatorServer) -> None:
    with httpx2.Client(trust_env=False) as http:
        r = http.post(f"{openai_env.root}/openai/v1/images/generations", json={"prompt": "x"})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_api_key"


def test_sync_call_inside_a_running_loop_uses_a_worker_thread(
    openai_env: EmulatorServer, tmp_path: Path
) -> None:
    client = OpenAIImageClient(output_dir=tmp_path)

    async def inside_loop() -> Any:
        return client.generate("from a notebook", width=1024, height=1024)

    response = asyncio.run(inside_loop())
    assert response.files[0].path is not None and response.files[0].path.exists()
    # and the same client still works afterwards on a fresh loop
    again = client.generate("second call", width=1024, height=1024)
    assert again.files[0].path != response.files[0].path


def test_provider_response_keeps_request_id_and_timings(
    openai_env: EmulatorServer, tmp_path: Path
) -> None:
    async def run() -> Any:
        async with OpenAIProvider() as provider:
            return await provider.generate(
                ImageGenerationRequest(prompt="raw", size=_size(1024, 1024)), CallContext()
            )

    response = asyncio.run(run())
    assert response.request_id.startswith("req_")
    assert "request" in response.timings
    (file,) = response.files
    assert file.data is not None and file.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert file.content_type == "image/png"
    assert "chars of base64" in json.dumps(response.raw)
