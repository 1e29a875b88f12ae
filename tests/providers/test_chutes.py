"""The Chutes provider, ChutesClient and generate_video against the Chutes emulator over real HTTP,
plus the emulator's own gateway behaviour and its MP4 output."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import logging
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import twat_genai
from twat_genai.clients.chutes import ChutesClient
from twat_genai.core.errors import (
    BlockedError,
    MissingKeyError,
    ModelError,
    RateLimitError,
    ServiceUnavailableError,
    UsageError,
)
from twat_genai.core.models import (
    ImageGenerationRequest,
    MediaKind,
    VideoGenerationRequest,
)
from twat_genai.core.naming import slugify
from twat_genai.providers.base import CallContext
from twat_genai.providers.chutes import ENDPOINTS, ChutesProvider
from twat_genai.providers.chutes.endpoints import chutes_url, nearest_hidream_resolution
from twat_genai.providers.chutes.wire import parse_outputs
from twat_genai.testing import EmulatorServer
from twat_genai.testing.chutes import DUMMY_KEY, ChutesEmulator, mp4_from_jpegs, tiny_video
from twat_genai.testing.server import EmulatorApp, EmulatorRequest, EmulatorResponse, json_response
from twat_genai.transport._httpx import httpx

from . import conftest_chutes as fx
from .conftest_chutes import CHUTES_SECRET, FAST_RETRY, chutes_calls, picture

# The fixtures, bound here so pytest finds them (they live outside conftest.py on purpose).
_chutes_module_server = fx._chutes_module_server
chutes_server = fx.chutes_server

SKYREELS = "/chutes/kikakkz-skyreels-v2-14b-540p"
FLF2V = "/chutes/kikakkz-wan2-1-14b-flf2v/flf2video"


def client(out: Path, **kw: Any) -> ChutesClient:
    return ChutesClient(output_dir=out, retry=FAST_RETRY, **kw)


def sidecar(path: Path | None) -> dict[str, Any]:
    assert path is not None
    data: dict[str, Any] = json.loads(path.with_suffix(".json").read_text())
    return data


def post(server: EmulatorServer, path: str, body: Any, auth: str | None = DUMMY_KEY) -> Any:
    headers = {"Authorization": f"Bearer {auth}"} if auth else {}
    with httpx.Client(timeout=30, trust_env=False) as http:
        return http.post(f"{server.root}/chutes{path}", json=body, headers=headers)


# --------------------------------------------------------------------------- MP4 structure


def boxes(data: bytes, start: int = 0, end: int | None = None) -> dict[str, tuple[int, int]]:
    """Top-level boxes of ``data[start:end]``: type -> (payload start, payload end)."""
    end = len(data) if end is None else end
    found: dict[str, tuple[int, int]] = {}
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        assert size >= 8 and pos + size <= end, f"bad box {kind!r} at {pos}"
        found[kind.decode("latin-1")] = (pos + 8, pos + size)
        pos += size
    assert pos == end, "trailing bytes after the last box"
    return found


def descend(data: bytes, *path: str) -> tuple[int, int]:
    span = (0, len(data))
    for kind in path:
        span = boxes(data, *span)[kind]
    return span


def check_mp4(data: bytes) -> tuple[int, tuple[int, int]]:
    """Parse an MP4 the way a player must: (frame count, frame size); every sample a JPEG."""
    top = boxes(data)
    assert list(top)[:3] == ["ftyp", "moov", "mdat"]
    assert data[top["ftyp"][0] : top["ftyp"][0] + 4] == b"isom"
    stbl = ("moov", "trak", "mdia", "minf", "stbl")
    s, _ = descend(data, *stbl, "stsz")
    _, count = struct.unpack(">II", data[s + 4 : s + 12])
    sizes = struct.unpack(f">{count}I", data[s + 12 : s + 12 + 4 * count])
    s, _ = descend(data, *stbl, "stco")
    (offset,) = struct.unpack(">I", data[s + 8 : s + 12])
    assert offset == top["mdat"][0], "chunk offset must point at the mdat payload"
    assert offset + sum(sizes) == top["mdat"][1]
    s, _ = descend(data, *stbl, "stts")
    assert struct.unpack(">III", data[s + 4 : s + 16]) == (1, count, 1)
    s, e = descend(data, "moov", "trak", "tkhd")
    width, height = (v >> 16 for v in struct.unpack(">II", data[e - 8 : e]))
    s, e = descend(data, *stbl, "stsd")
    assert data[s + 12 : s + 16] == b"mp4v" and b"esds" in data[s:e]
    for size in sizes:
        frame = data[offset : offset + size]
        assert frame[:2] == b"\xff\xd8" and frame[-2:] == b"\xff\xd9"
        assert Image.open(io.BytesIO(frame)).size == (width, height)
        offset += size
    return count, (width, height)


def test_tiny_video_is_a_structurally_valid_mp4() -> None:
    """ftyp/moov/mdat, one JPEG per sample, sizes and offsets consistent (ffprobe too if present)."""
    data = tiny_video(960, 544)
    assert check_mp4(data) == (8, (128, 72))
    assert tiny_video(960, 544) is data  # cached: video latency is simulated, not computed
    assert check_mp4(tiny_video(480, 832))[1] == (74, 128)
    ffprobe = shutil.which("ffprobe")
    if ffprobe:  # optional extra proof; the structural check above stands alone
        out = subprocess.run(
            [ffprobe, "-v", "error", "-count_frames", "-show_streams", "-of", "json", "-"],
            input=data,
            capture_output=True,
            check=True,
        )
        stream = json.loads(out.stdout)["streams"][0]
        assert (stream["codec_name"], int(stream["nb_read_frames"])) == ("mjpeg", 8)


def test_mp4_from_jpegs_counts_every_frame() -> None:
    frames = [Image.new("RGB", (32, 16), (i * 20, 0, 0)) for i in range(5)]
    jpegs = []
    for f in frames:
        buf = io.BytesIO()
        f.save(buf, "JPEG")
        jpegs.append(buf.getvalue())
    assert check_mp4(mp4_from_jpegs(jpegs, 32, 16, 5)) == (5, (32, 16))


# --------------------------------------------------------------------------- pure mapping


def test_urls_follow_the_base_url_rule() -> None:
    image = ENDPOINTS["image"]
    assert chutes_url("", image) == "https://image.chutes.ai/generate"
    assert chutes_url("http://h:1/chutes", image) == "http://h:1/chutes/image/generate"
    assert chutes_url("https://{slug}.proxy.test", ENDPOINTS["flf2video"]) == (
        "https://kikakkz-wan2-1-14b-flf2v.proxy.test/flf2video"
    )


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((1024, 1024), "1024x1024"),
        ((1920, 1080), "1360x768"),
        ((1080, 1920), "768x1360"),
        ((1200, 800), "1248x832"),
        ((768, 1024), "880x1168"),
        ((512, 512), "1024x1024"),
    ],
)
def test_nearest_hidream_resolution(size: tuple[int, int], expected: str) -> None:
    assert nearest_hidream_resolution(*size) == expected


def test_video_endpoints_have_long_read_timeouts() -> None:
    for name in ("text2video", "image2video", "flf2video"):
        assert ENDPOINTS[name].read_timeout >= 20 * 60
    assert ENDPOINTS["image"].read_timeout < 20 * 60


def _png(size: tuple[int, int] = (20, 10), mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size).save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize(
    "shape",
    [
        lambda b: {"image": b},
        lambda b: {"b64_json": b},
        lambda b: {"image_b64": b},
        lambda b: {"data": [{"b64_json": b}]},
        lambda b: {"image": "data:image/png;base64," + b},
    ],
)
def test_parse_outputs_reads_every_json_shape(shape: Any) -> None:
    data = _png()
    body = shape(base64.b64encode(data).decode())
    resp = httpx.Response(200, json=body)
    files, raw = parse_outputs(resp, 3)
    assert files[0].data == data and files[0].content_type == "image/png" and files[0].seed == 3
    assert "chars" in json.dumps(raw) or len(json.dumps(raw)) < 600  # bulky base64 shortened


def test_parse_outputs_trusts_bytes_over_the_declared_type() -> None:
    data = _png()
    files, raw = parse_outputs(
        httpx.Response(200, content=data, headers={"content-type": "image/jpeg"}), None
    )
    assert files[0].content_type == "image/png" and files[0].kind == MediaKind.IMAGE
    assert raw["bytes"] == len(data)
    video = tiny_video(960, 544)
    files, _ = parse_outputs(
        httpx.Response(200, content=video, headers={"content-type": "video/mp4"}), None
    )
    assert files[0].kind == MediaKind.VIDEO and files[0].data == video


def test_parse_outputs_refuses_answers_without_media() -> None:
    with pytest.raises(ModelError, match="keys: status"):
        parse_outputs(httpx.Response(200, json={"status": "ok"}), None)
    with pytest.raises(ModelError, match="not an image or video"):
        parse_outputs(
            httpx.Response(200, content=b"hello", headers={"content-type": "text/plain"}), None
        )
    # A media type on the header proves nothing: only the bytes decide.
    with pytest.raises(ModelError, match=r"FLUX\.1-dev returned 0 bytes"):
        parse_outputs(
            httpx.Response(200, content=b"", headers={"content-type": "image/jpeg"}),
            None,
            "FLUX.1-dev",
        )
    with pytest.raises(ModelError, match=r"returned text/html \(27 bytes, labelled image/jpeg\)"):
        parse_outputs(
            httpx.Response(
                200, content=b"<html>upstream error</html>", headers={"content-type": "image/jpeg"}
            ),
            None,
        )
    with pytest.raises(ModelError, match="returned text/plain"):
        parse_outputs(httpx.Response(200, json={"image": base64.b64encode(b"oops").decode()}), None)


def test_public_exports() -> None:
    assert twat_genai.ChutesClient is ChutesClient
    assert callable(twat_genai.generate_video)


def test_missing_key_names_both_variables(
    chutes_server: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CHUTES_API_KEY")
    with pytest.raises(MissingKeyError, match="CHUTES_API_KEY or CHUTES_API_TOKEN"):
        ChutesClient(output_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()
    monkeypatch.setenv("CHUTES_API_TOKEN", CHUTES_SECRET)
    assert ChutesClient(output_dir=tmp_path / "out").provider.api_key == CHUTES_SECRET


# --------------------------------------------------------------------------- images


def test_image_body_is_flat_json_and_the_jpeg_is_saved(
    chutes_server: EmulatorServer, tmp_path: Path
) -> None:
    """Exact body on the wire; raw image/jpeg body saved as .jpg with a sidecar. FLUX.1-dev
    takes no negative prompt (its published schema): it is warned about, not sent."""
    out = tmp_path / "out"
    result = client(out).generate_image(
        "a quiet forest",
        width=768,
        height=512,
        seed=7,
        steps=20,
        guidance_scale=4.5,
        negative_prompt="blur",
    )
    (call,) = chutes_calls(chutes_server)
    assert call["path"] == "/chutes/image/generate" and call["status"] == 200
    assert call["args"] == {
        "model": "FLUX.1-dev",
        "prompt": "a quiet forest",
        "width": 768,
        "height": 512,
        "num_inference_steps": 20,
        "guidance_scale": 4.5,
        "seed": 7,
    }
    assert "authorization" in call["headers"]
    (file,) = result.files
    assert file.path is not None and file.path.suffix == ".jpg" and file.path.parent == out
    assert Image.open(file.path).size == (768, 512)
    meta = sidecar(file.path)
    assert meta["provider"] == "chutes" and meta["model"] == "FLUX.1-dev"
    assert meta["parameters"]["width"] == 768 and meta["result"]["content_type"] == "image/jpeg"
    assert result.request_id[:8] in file.path.name  # the gateway's X-Chutes-InvocationID
    assert any("negative prompt" in w for w in result.warnings)


def test_image_defaults_send_size_and_model(chutes_server: EmulatorServer, tmp_path: Path) -> None:
    """The size and model always go; a seed is chosen when none is given, sent and recorded."""
    result = client(tmp_path).generate_image("x", model="JuggernautXL")
    (call,) = chutes_calls(chutes_server)
    seed = call["args"].pop("seed")
    assert call["args"] == {"model": "JuggernautXL", "prompt": "x", "width": 1024, "height": 1024}
    assert isinstance(seed, int) and 0 <= seed <= 2**31 - 1
    assert sidecar(result.files[0].path)["seed"] == seed


def test_unknown_model_is_a_404_model_error(chutes_server: EmulatorServer, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="model not found: nope") as info:
        client(tmp_path / "out").generate_image("x", model="nope")
    assert info.value.status_code == 404
    assert not (tmp_path / "out").exists()


class JsonChutes(EmulatorApp):
    """A chute that answers JSON carrying base64, the shape some chutes use."""

    name = "chutes-json"

    def __init__(self) -> None:
        super().__init__()
        self.body: dict[str, Any] = {}

    async def handle(self, req: EmulatorRequest) -> EmulatorResponse:
        return json_response(self.body)


@pytest.mark.parametrize("key", ["image", "b64_json", "image_b64", "data"])
def test_json_base64_answers_are_saved(
    chutes_server: EmulatorServer, tmp_path: Path, key: str
) -> None:
    app = chutes_server.apps.get("/chutesjson")
    if not isinstance(app, JsonChutes):
        app = chutes_server.mount("/chutesjson", JsonChutes())
    assert isinstance(app, JsonChutes)
    png = _png((33, 21))
    b64 = base64.b64encode(png).decode()
    app.body = {"data": [{"b64_json": b64}]} if key == "data" else {key: b64}
    result = client(tmp_path, base_url=f"{chutes_server.root}/chutesjson").generate_image("x")
    path = result.files[0].path
    assert path is not None and path.suffix == ".png"
    assert Image.open(path).size == (33, 21)
    assert sidecar(path)["result"]["width"] == 33


def test_hidream_maps_the_size_with_a_warning(
    chutes_server: EmulatorServer, tmp_path: Path
) -> None:
    result = client(tmp_path).generate_image("tower", model="hidream", width=1920, height=1080)
    (call,) = chutes_calls(chutes_server)
    assert call["path"] == "/chutes/chutes-hidream/generate"
    assert 0 <= call["args"].pop("seed") <= 10**8  # chosen within HiDream's range
    assert call["args"] == {
        "prompt": "tower",
        "resolution": "1360x768",
        "guidance_scale": 5.0,
        "num_inference_steps": 50,
    }
    path = result.files[0].path
    assert path is not None and path.suffix == ".png" and Image.open(path).size == (1360, 768)
    warnings = sidecar(path)["warnings"]
    assert any("1920x1080" in w and "1360x768" in w for w in warnings)


def test_hidream_exact_resolution_has_no_warning(
    chutes_server: EmulatorServer, tmp_path: Path
) -> None:
    result = client(tmp_path).generate_image("tower", model="HiDream", width=832, height=1248)
    assert chutes_calls(chutes_server)[0]["args"]["resolution"] == "832x1248"
    assert result.warnings == []


def test_hidream_edit_sends_base64_and_keeps_the_size(
    chutes_server: EmulatorServer, tmp_path: Path
) -> None:
    source = picture(tmp_path / "in" / "cat photo.png", (300, 200))
    result = asyncio.run(_edit(tmp_path / "out", source))
    (call,) = chutes_calls(chutes_server)
    assert call["path"] == "/chutes/chutes-hidream-edit/generate"
    args = call["args"]
    assert {k: args[k] for k in ("prompt", "guidance_scale", "image_guidance_scale")} == {
        "prompt": "make it night",
        "guidance_scale": 5.0,
        "image_guidance_scale": 4.0,
    }
    assert args["num_inference_steps"] == 28 and args["seed"] == 11
    assert "image_b64" in args and not str(args["image_b64"]).startswith("data:")
    path = result.files[0].path
    assert path is not None and path.name.startswith(slugify("cat photo") + "_")
    assert Image.open(path).size == (300, 200)
    [inp] = sidecar(path)["inputs"]
    assert inp["role"] == "image" and inp["source"] == str(source.resolve())
    assert inp["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert (inp["bytes"], inp["width"], inp["height"]) == (source.stat().st_size, 300, 200)


async def _edit(out: Path, source: Path) -> Any:
    async with client(out) as c:
        return await c.aedit_image("make it night", source, seed=11)


def test_background_removal_gives_an_rgba_png(
    chutes_server: EmulatorServer, tmp_path: Path
) -> None:
    source = picture(tmp_path / "in" / "obj.jpg", (120, 90))
    result = client(tmp_path / "out").remove_background(source)
    (call,) = chutes_calls(chutes_server)
    assert call["path"] == "/chutes/desudesuka-rembg/remove" and set(call["args"]) == {"image_b64"}
    path = result.files[0].path
    assert path is not None and path.suffix == ".png"
    img = Image.open(path)
    assert img.mode == "RGBA" and img.size == (120, 90)
    alpha = img.getchannel("A")
    assert alpha.getpixel((0, 0)) == 0 and alpha.getpixel((60, 45)) == 255


# --------------------------------------------------------------------------- video


def test_text_to_video(chutes_server: EmulatorServer, tmp_path: Path) -> None:
    result = client(tmp_path).generate_video("waves rolling onto shore", seed=5)
    (call,) = chutes_calls(chutes_server)
    assert call["path"] == f"{SKYREELS}/text2video"
    assert call["args"] == {
        "prompt": "waves rolling onto shore",
        "resolution": "540P",
        "fps": 24,
        "num_frames": 97,
        "guidance_scale": 6.0,
        "inference_steps": 30,
        "seed": 5,
        "shift": 8.0,
    }
    (file,) = result.files
    assert file.kind == MediaKind.VIDEO and file.path is not None and file.path.suffix == ".mp4"
    assert check_mp4(file.path.read_bytes())[0] == 8
    meta = sidecar(file.path)
    assert meta["result"]["content_type"] == "video/mp4"
    assert meta["model"] == "skyreels-v2-14b-540p"  # the catalog id, as for every provider


def test_image_to_video_crops_the_first_frame(
    chutes_server: EmulatorServer, tmp_path: Path
) -> None:
    frame = picture(tmp_path / "in" / "frame.png", (400, 400))
    result = client(tmp_path / "out").generate_video("zoom", first_frame=frame, resolution="720P")
    (call,) = chutes_calls(chutes_server)
    assert call["path"] == f"{SKYREELS}/image2video"
    assert call["args"]["resolution"] == "720P" and "img_b64_first" in call["args"]
    assert call["note"] == "first frame 1280x720"  # cover-cropped before sending
    path = result.files[0].path
    assert path is not None and check_mp4(path.read_bytes())[1] == (128, 72)


def test_first_and_last_frames_go_to_flf2video(
    chutes_server: EmulatorServer, tmp_path: Path
) -> None:
    first = picture(tmp_path / "in" / "a.png", (640, 480))
    last = picture(tmp_path / "in" / "b.jpg", (300, 500))
    result = client(tmp_path / "out").generate_video("morph", first_frame=first, last_frame=last)
    (call,) = chutes_calls(chutes_server)
    assert call["path"] == FLF2V
    args = call["args"]
    assert {k: args[k] for k in ("resolution", "fps", "frames", "guidance_scale", "steps")} == {
        "resolution": "832*480",
        "fps": 16,
        "frames": 81,
        "guidance_scale": 5.0,
        "steps": 25,
    }
    assert {"first_image_b64", "last_image_b64"} <= set(args)
    assert call["note"] == "frames 832x480 and 832x480"
    assert not any("540P" in w for w in result.warnings)  # the default: mapped silently
    path = result.files[0].path
    assert path is not None and path.suffix == ".mp4"
    assert not any("540P" in w for w in sidecar(path)["warnings"])


@pytest.mark.parametrize(
    ("resolution", "wire", "warned"),
    [("540P", "832*480", True), ("540p", "832*480", True), ("720P", "1280*720", False)],
)
def test_first_last_frame_tier_chosen_by_the_user(
    chutes_server: EmulatorServer, tmp_path: Path, resolution: str, wire: str, warned: bool
) -> None:
    """A tier the user chose maps to flf2video's nearest size; 540P has no twin, so it warns."""
    first = picture(tmp_path / "in" / "a.png", (640, 480))
    last = picture(tmp_path / "in" / "b.png", (640, 480))
    result = client(tmp_path / "out").generate_video(
        "morph", first_frame=first, last_frame=last, resolution=resolution
    )
    (call,) = chutes_calls(chutes_server)
    assert call["path"] == FLF2V and call["args"]["resolution"] == wire
    warnings = [w for w in result.warnings if "540P" in w]
    assert warnings == (["first+last-frame video has no 540P: used 832*480"] if warned else [])


def test_video_request_leaves_the_resolution_to_the_endpoint() -> None:
    """No resolution chosen: the request says so (text/image video then use 540P)."""
    assert ChutesClient.video_request("x").resolution is None


def test_last_frame_alone_is_a_usage_error(chutes_server: EmulatorServer, tmp_path: Path) -> None:
    last = picture(tmp_path / "b.png")
    with pytest.raises(UsageError, match="first frame"):
        client(tmp_path / "out").generate_video("x", last_frame=last)
    assert chutes_calls(chutes_server) == []


def test_video_requests_use_the_long_timeout(chutes_server: EmulatorServer) -> None:
    seen: list[Any] = []

    async def go() -> None:
        async with ChutesProvider(retry=FAST_RETRY) as provider:
            original = provider.http.request

            async def spy(*args: Any, **kw: Any) -> Any:
                seen.append(kw.get("timeout"))
                return await original(*args, **kw)

            provider.http.request = spy  # type: ignore[method-assign]
            await provider.generate(VideoGenerationRequest(prompt="x"), CallContext())
            await provider.generate(ImageGenerationRequest(prompt="x"), CallContext())

    asyncio.run(go())
    assert seen[0].read >= 1200 and seen[0].connect == 10
    assert seen[1].read < 1200


def test_generate_video_top_level(chutes_server: EmulatorServer, tmp_path: Path) -> None:
    frame = picture(tmp_path / "in" / "still.png", (200, 120))
    result = twat_genai.generate_video("sunrise", image=frame, output_dir=tmp_path / "vids", fps=16)
    (call,) = chutes_calls(chutes_server)
    assert call["path"] == f"{SKYREELS}/image2video" and call["args"]["fps"] == 16
    path = result.files[0].path
    assert path is not None and path.parent == tmp_path / "vids" and path.suffix == ".mp4"
    assert path.with_suffix(".json").exists()


# --------------------------------------------------------------------------- failures


def test_cold_start_503_is_retried_then_succeeds(
    chutes_server: EmulatorServer, tmp_path: Path
) -> None:
    result = client(tmp_path).generate_video("surf [emulate:coldstart]")
    statuses = [c["status"] for c in chutes_calls(chutes_server)]
    assert statuses == [503, 200]
    assert result.files[0].path is not None


def test_503_message_reaches_the_user_when_retries_run_out(
    chutes_server: EmulatorServer, tmp_path: Path
) -> None:
    with pytest.raises(ServiceUnavailableError, match="No instances available") as info:
        client(tmp_path).generate_image("x [emulate:error=503]")
    assert "cold" in str(info.value) and info.value.status_code == 503
    assert len(chutes_calls(chutes_server)) == FAST_RETRY.attempts


def test_402_names_the_balance_and_is_not_retried(
    chutes_server: EmulatorServer, tmp_path: Path
) -> None:
    with pytest.raises(ModelError, match="balance") as info:
        client(tmp_path).generate_image("x [emulate:error=402]")
    assert info.value.status_code == 402 and info.value.error_type == "no_balance"
    assert "Quota exceeded" in str(info.value)
    assert len(chutes_calls(chutes_server)) == 1


def test_429_infra_overload_is_retried_then_reported(
    chutes_server: EmulatorServer, tmp_path: Path
) -> None:
    with pytest.raises(RateLimitError, match="infra_overload"):
        client(tmp_path).generate_image("x [emulate:error=429]")
    assert len(chutes_calls(chutes_server)) == FAST_RETRY.attempts
    result = client(tmp_path).generate_image("y [emulate:ratelimit]")
    assert result.files and [c["status"] for c in chutes_calls(chutes_server)][-2:] == [429, 200]


def test_blocked_prompt_is_a_blocked_error(chutes_server: EmulatorServer, tmp_path: Path) -> None:
    with pytest.raises(BlockedError, match="safety"):
        client(tmp_path / "out").generate_image("x [emulate:blocked]")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.generate_image("x", width=100), "width must be between 128 and 2,048"),
        (lambda c: c.generate_image("x", height=4096), "height must be between 128 and 2,048"),
        (lambda c: c.generate_image("x", steps=0), "num_inference_steps must be between 1 and 30"),
        (lambda c: c.generate_image("x", steps=31), "num_inference_steps"),
        (lambda c: c.generate_image("x", guidance_scale=0.5), "guidance_scale must be between 1"),
        (lambda c: c.generate_image("x", guidance_scale=21), "guidance_scale"),
        (lambda c: c.generate_image("x", seed=-1), "seed must be between 0 and 4,294,967,295"),
        (lambda c: c.generate_image("x", seed=2**32), "seed"),
        (lambda c: c.generate_image("x", model="hidream", steps=80), "num_inference_steps"),
        (lambda c: c.generate_image("x", model="hidream", seed=2 * 10**8), "seed must be between"),
        (lambda c: c.generate_image("x", model="hidream", guidance_scale=15), "guidance_scale"),
        (lambda c: c.generate_video("x", resolution="1080P"), "takes resolution 540P, 720P"),
        (lambda c: c.generate_video("x", fps=10), "fps must be between 16 and 60"),
        (lambda c: c.generate_video("x", num_frames=33), "num_frames must be between 97"),
        (
            lambda c: c.generate_video(
                "x", first_frame=_frame(), last_frame=_frame(), num_frames=83
            ),
            "frames must be 4n\\+1, e.g. 81 or 85",
        ),
        (
            lambda c: c.generate_video(
                "x", first_frame=_frame(), last_frame=_frame(), resolution="1920*1080"
            ),
            "takes resolution 1280\\*720",
        ),
    ],
)
def test_ranges_are_checked_before_any_request(
    chutes_server: EmulatorServer, tmp_path: Path, call: Any, message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        call(client(tmp_path / "out"))
    assert chutes_calls(chutes_server) == []
    assert not (tmp_path / "out").exists()


def _frame() -> bytes:
    return _png((64, 48))


def test_hidream_resolution_option_is_checked(chutes_server: EmulatorServer) -> None:
    request = ImageGenerationRequest(prompt="x", model="hidream", options={"resolution": "999x999"})

    async def go() -> None:
        async with ChutesProvider() as provider:
            await provider.generate(request, CallContext())

    with pytest.raises(UsageError, match="takes resolution 1024x1024"):
        asyncio.run(go())
    assert chutes_calls(chutes_server) == []


def test_key_never_leaks(
    chutes_server: EmulatorServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Not in files, sidecars, logs, error messages, reprs or the emulator's log."""
    caplog.set_level(logging.DEBUG)
    out = tmp_path / "out"
    c = client(out)
    result = c.generate_image("secret test", seed=1)
    assert result.files[0].path is not None
    with pytest.raises(ServiceUnavailableError) as info:
        c.generate_image("x [emulate:error=500]")
    texts = [caplog.text, str(info.value), repr(info.value), repr(c), repr(c.provider)]
    texts.append(json.dumps(chutes_server.requests))
    texts += [p.read_text(errors="replace") for p in out.rglob("*.json")]
    for text in texts:
        assert CHUTES_SECRET not in text
        assert "ChutesTestSecretDoNotLeak" not in text
    for p in out.rglob("*"):
        assert CHUTES_SECRET.encode() not in p.read_bytes()


def test_sync_methods_work_inside_a_running_loop(
    chutes_server: EmulatorServer, tmp_path: Path
) -> None:
    async def inside() -> Any:
        return client(tmp_path).generate_image("from a loop")

    result = asyncio.run(inside())
    assert result.files[0].path is not None and result.files[0].path.exists()


def test_n_images_become_separate_calls(chutes_server: EmulatorServer, tmp_path: Path) -> None:
    request = ImageGenerationRequest(prompt="x", n=2, seed=10)

    async def go() -> Any:
        async with client(tmp_path) as c:
            return await c.arun(request)

    result = asyncio.run(go())
    seeds = sorted(c["args"]["seed"] for c in chutes_calls(chutes_server))
    assert seeds == [10, 11] and len(result.files) == 2


# --------------------------------------------------------------------------- the emulator itself


def test_emulator_env_points_at_the_app(chutes_server: EmulatorServer) -> None:
    env = chutes_server.apps["/chutes"].env(chutes_server.root)
    assert env["TWAT_GENAI_CHUTES_BASE_URL"] == f"{chutes_server.root}/chutes"
    assert env["CHUTES_API_KEY"] == DUMMY_KEY and DUMMY_KEY.startswith("cpk_")


def test_emulator_gateway_answers(chutes_server: EmulatorServer) -> None:
    """Auth, routing and validation errors in the gateway's own words."""
    ok = post(
        chutes_server,
        "/image/generate",
        {"model": "FLUX.1-dev", "prompt": "x", "width": 256, "height": 128},
    )
    assert ok.status_code == 200 and ok.headers["content-type"] == "image/jpeg"
    assert ok.headers["content-disposition"].startswith('attachment; filename="')
    assert ok.headers["x-chutes-invocationid"]
    assert Image.open(io.BytesIO(ok.content)).size == (256, 128)

    def detail(path: str, body: Any, auth: str | None = DUMMY_KEY) -> tuple[int, Any]:
        r = post(chutes_server, path, body, auth)
        return r.status_code, r.json()["detail"]

    assert detail("/image/generate", {"model": "FLUX.1-dev", "prompt": "x"}, None) == (
        401,
        "Authentication required.",
    )
    assert detail("/image/generate", {"prompt": "x"}, "cpk_bad")[0] == 401
    assert detail("/nope/generate", {}) == (404, "No matching chute found!")
    assert detail("/image/other", {}) == (404, "No matching cord found!")
    assert detail("/image/generate", {"model": "Nope", "prompt": "x"}) == (
        404,
        "model not found: Nope",
    )
    assert detail("/image/generate", {"model": "qwen-image", "prompt": "x", "foo": 1}) == (
        400,
        "bad request, naughty naughty",
    )
    assert detail("/image/generate", {"model": "qwen-image", "prompt": "x", "width": 64})[0] == 400
    clamped = post(
        chutes_server,
        "/image/generate",
        {"model": "JuggernautXL", "prompt": "x", "num_inference_steps": 80},
    )
    assert clamped.status_code == 200  # steps above 50 are clamped silently, not refused
    assert detail("/chutes-hidream/generate", {"prompt": "x", "resolution": "1x1"}) == (
        400,
        "Invalid input parameters",
    )
    assert detail("/desudesuka-rembg/remove", {"image_b64": "!!!"})[1].startswith(
        "Invalid image input!"
    )
    frame = base64.b64encode(_png()).decode()
    flf = {"prompt": "x", "first_image_b64": frame, "last_image_b64": frame, "frames": 80}
    assert detail("/kikakkz-wan2-1-14b-flf2v/flf2video", flf)[0] == 400


def test_emulator_video_and_scenarios(chutes_server: EmulatorServer) -> None:
    app = chutes_server.apps["/chutes"]
    assert isinstance(app, ChutesEmulator)
    video = post(chutes_server, "/kikakkz-skyreels-v2-14b-540p/text2video", {"prompt": "x"})
    assert video.headers["content-type"] == "video/mp4" and check_mp4(video.content)[0] == 8
    cold = {"prompt": "[emulate:coldstart] y"}
    first = post(chutes_server, "/kikakkz-skyreels-v2-14b-540p/text2video", cold)
    assert (
        first.status_code == 503
        and "No instances available (yet) for chute_id=" in first.json()["detail"]
    )
    assert post(chutes_server, "/kikakkz-skyreels-v2-14b-540p/text2video", cold).status_code == 200
    balance = post(
        chutes_server, "/image/generate", {"model": "FLUX.1-dev", "prompt": "[emulate:error=402]"}
    )
    assert balance.status_code == 402 and "balance" in balance.json()["detail"]["message"]
    assert (
        post(
            chutes_server, "/image/generate", {"model": "FLUX.1-dev", "prompt": "[emulate:blocked]"}
        ).status_code
        == 400
    )


def test_emulator_slow_scenario_delays_the_answer(chutes_server: EmulatorServer) -> None:
    import time

    started = time.monotonic()
    body = {"model": "FLUX.1-dev", "prompt": "[emulate:slow=0.3] x", "width": 128, "height": 128}
    assert post(chutes_server, "/image/generate", body).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_edit_warns_about_what_hidream_edit_ignores(
    chutes_server: EmulatorServer, tmp_path: Path
) -> None:
    from twat_genai.core.models import ImageEditRequest

    source = picture(tmp_path / "in.png", (64, 64))
    request = ImageEditRequest(prompt="x", images=[source], model="qwen-edit", strength=0.5)

    async def go() -> Any:
        async with client(tmp_path / "out") as c:
            return await c.arun(request)

    warnings = " | ".join(asyncio.run(go()).warnings)
    assert "strength" in warnings and "qwen-edit" in warnings


class BufferingTransport(httpx.AsyncBaseTransport):
    """Real HTTP to the emulator, answered as a fully buffered response (as recording and
    caching transports do): httpx never sets ``response.elapsed`` on such a response."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        body = await response.aread()
        await response.aclose()
        return httpx.Response(response.status_code, headers=response.headers, content=body)

    async def aclose(self) -> None:
        await self._inner.aclose()


def test_inference_time_does_not_need_response_elapsed(
    chutes_server: EmulatorServer, tmp_path: Path
) -> None:
    """The call is timed by the provider itself: a transport whose responses carry no
    ``elapsed`` still gives a saved file and a timing."""
    result = client(tmp_path / "out", transport=BufferingTransport()).generate_image("a fox")
    (file,) = result.files
    assert file.path is not None and file.path.exists()
    (seconds,) = result.timings.values()
    assert isinstance(seconds, float) and seconds >= 0
    timings = sidecar(file.path)["timings"]
    assert timings["inference"] == seconds
    assert timings["total"] >= timings["remote"] >= 0 and timings["downloading"] >= 0
