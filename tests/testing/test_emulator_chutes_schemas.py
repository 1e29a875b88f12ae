"""The Chutes emulator checks each cord's published schema over real HTTP: the router refuses
fields its model does not take (``naughty naughty``), every chute refuses out-of-range values
(``Invalid input parameters``), and a chute ignores fields it does not know."""

from __future__ import annotations

import base64
import io
from typing import Any

import httpx2
import pytest
from PIL import Image

from twat_genai.testing import EmulatorServer
from twat_genai.testing.chutes import DUMMY_KEY

NAUGHTY = {"detail": "bad request, naughty naughty"}
INVALID = {"detail": "Invalid input parameters"}


def _b64_png(size: tuple[int, int] = (40, 30)) -> str:
    buf = io.BytesIO()
    Image.new("RGB", size, (10, 90, 200)).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _post(server: EmulatorServer, cord: str, body: dict[str, Any]) -> httpx2.Response:
    return httpx2.post(
        f"{server.root}/chutes/{cord}",
        json=body,
        headers={"Authorization": f"Bearer {DUMMY_KEY}"},
        trust_env=False,
        timeout=30,
    )


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"model": "FLUX.1-dev", "negative_prompt": "blur"}, 400, NAUGHTY),
        ({"model": "FLUX.1-dev", "num_inference_steps": 31}, 400, INVALID),
        ({"model": "FLUX.1-dev", "num_inference_steps": 80}, 400, INVALID),  # capped to 50
        ({"model": "FLUX.1-dev", "num_inference_steps": 30, "guidance_scale": 20}, 200, None),
        ({"model": "FLUX.1-dev", "width": 2056}, 400, INVALID),
        ({"model": "FLUX.1-dev", "width": 127}, 400, INVALID),
        ({"model": "FLUX.1-dev", "guidance_scale": 0.5}, 400, INVALID),
        ({"model": "FLUX.1-dev", "seed": 2**32}, 400, INVALID),
        ({"model": "FLUX.1-dev", "seed": 2**32 - 1, "width": "512"}, 200, None),
        ({"model": "JuggernautXL", "num_inference_steps": 80, "negative_prompt": "x"}, 200, None),
        ({"model": "iLustMix", "num_inference_steps": 0}, 400, INVALID),
        ({"model": "qwen-image", "true_cfg_scale": 10.5}, 400, INVALID),
        ({"model": "qwen-image", "guidance_scale": 4}, 400, NAUGHTY),
        ({"model": "qwen-image", "num_inference_steps": 4}, 400, INVALID),
        ({"model": "qwen-image", "num_inference_steps": 100, "true_cfg_scale": 0}, 200, None),
        ({"model": "chroma", "cfg": 8}, 400, INVALID),
        ({"model": "neta-lumina", "width": 512}, 400, INVALID),
        ({"model": "no-such-model"}, 404, {"detail": "model not found: no-such-model"}),
    ],
)
def test_router_schemas(
    emulator: EmulatorServer, body: dict[str, Any], status: int, detail: dict[str, str] | None
) -> None:
    r = _post(emulator, "image/generate", {"prompt": "a cat", **body})
    assert r.status_code == status, r.text
    if detail is not None:
        assert r.json() == detail
    else:
        assert r.headers["content-type"] == "image/jpeg"


@pytest.mark.parametrize(
    ("cord", "body", "ok"),
    [
        ("chutes-hidream/generate", {"seed": 100_000_000}, True),
        ("chutes-hidream/generate", {"seed": 100_000_001}, False),
        ("chutes-hidream/generate", {"guidance_scale": 10.5}, False),
        ("chutes-hidream/generate", {"num_inference_steps": 4}, False),
        ("chutes-hidream/generate", {"num_inference_steps": 76}, False),
        ("chutes-hidream/generate", {"resolution": "1024x768"}, False),
        ("chutes-hidream/generate", {"resolution": "1360x768", "guidance_scale": 0}, True),
        ("kikakkz-hidream-i1-full/generate", {"width": 2561}, False),
        ("kikakkz-hidream-i1-full/generate", {"width": 256, "height": 2560}, True),
        ("chutes-hidream-edit/generate", {"image_guidance_scale": 11}, False),
        ("chutes-hidream-edit/generate", {"guidance_scale": 10, "num_inference_steps": 5}, True),
        ("chutes-hidream-edit/generate", {"seed": 100_000_001}, False),
        ("chutes-qwen-image-edit/generate", {"true_cfg_scale": 11}, False),
        ("chutes-qwen-image-edit/generate", {"num_inference_steps": 100}, True),
    ],
)
def test_image_chute_ranges(
    emulator: EmulatorServer, cord: str, body: dict[str, Any], ok: bool
) -> None:
    edit = {"image_b64": _b64_png()} if "edit" in cord else {}
    r = _post(emulator, cord, {"prompt": "a cat", **edit, **body})
    if ok:
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("image/")
    else:
        assert r.status_code == 400 and r.json() == INVALID


@pytest.mark.parametrize(
    ("cord", "body", "ok"),
    [
        ("kikakkz-skyreels-v2-14b-540p/text2video", {"fps": 15}, False),
        ("kikakkz-skyreels-v2-14b-540p/text2video", {"fps": 61}, False),
        ("kikakkz-skyreels-v2-14b-540p/text2video", {"num_frames": 96}, False),
        ("kikakkz-skyreels-v2-14b-540p/text2video", {"guidance_scale": 7.6}, False),
        ("kikakkz-skyreels-v2-14b-540p/text2video", {"inference_steps": 9}, False),
        ("kikakkz-skyreels-v2-14b-540p/text2video", {"inference_steps": 51}, False),
        ("kikakkz-skyreels-v2-14b-540p/text2video", {"resolution": "1080P"}, False),
        ("kikakkz-skyreels-v2-14b-540p/text2video", {"shift": 0.5}, False),
        ("kikakkz-skyreels-v2-14b-540p/text2video", {"shift": 10, "fps": 60}, True),
        ("kikakkz-skyreels-v2-14b-540p/image2video", {"resolution": "720P"}, False),  # no frame
        ("kikakkz-wan2-1-14b-flf2v/flf2video", {"frames": 82}, False),
        ("kikakkz-wan2-1-14b-flf2v/flf2video", {"frames": 245}, False),
        ("kikakkz-wan2-1-14b-flf2v/flf2video", {"frames": 241, "steps": 50}, True),
        ("kikakkz-wan2-1-14b-flf2v/flf2video", {"steps": 19}, False),
        ("kikakkz-wan2-1-14b-flf2v/flf2video", {"fps": 15}, False),
        ("kikakkz-wan2-1-14b-flf2v/flf2video", {"guidance_scale": 0.5}, False),
        ("kikakkz-wan2-1-14b-flf2v/flf2video", {"resolution": "832x480"}, False),
        ("kikakkz-wan2-1-14b-flf2v/flf2video", {"resolution": "480*832"}, True),
        ("chutes-wan2-1-14b/text2video", {"steps": 31}, False),
        ("chutes-wan2-1-14b/text2video", {"resolution": "1024*1024", "frames": 81}, True),
    ],
)
def test_video_chute_ranges(
    emulator: EmulatorServer, cord: str, body: dict[str, Any], ok: bool
) -> None:
    frames = (
        {"first_image_b64": _b64_png(), "last_image_b64": _b64_png()} if "flf2v" in cord else {}
    )
    r = _post(emulator, cord, {"prompt": "waves", **frames, **body})
    if ok:
        assert r.status_code == 200 and r.headers["content-type"] == "video/mp4", r.text
    else:
        assert r.status_code == 400 and r.json() == INVALID


def test_a_chute_ignores_fields_it_does_not_know(emulator: EmulatorServer) -> None:
    """Outside the router, an unknown field is ignored (pydantic's default) and logged."""
    r = _post(emulator, "kikakkz-skyreels-v2-14b-540p/text2video", {"prompt": "x", "style": 1})
    assert r.status_code == 200
    (entry,) = [e for e in emulator.requests if e["provider"] == "chutes"]
    assert entry["ignored"] == ["style"]


def test_image_input_must_be_raw_base64(emulator: EmulatorServer) -> None:
    """The chutes take raw base64: a data URI is not, and answers ``Invalid image input!``."""
    body = {"prompt": "x", "image_b64": "data:image/png;base64," + _b64_png()}
    r = _post(emulator, "chutes-hidream-edit/generate", body)
    assert r.status_code == 400 and r.json()["detail"].startswith("Invalid image input!")


def test_refused_calls_are_not_submissions(emulator: EmulatorServer) -> None:
    _post(emulator, "image/generate", {"model": "FLUX.1-dev", "prompt": "x", "width": 1})
    _post(emulator, "image/generate", {"model": "FLUX.1-dev", "prompt": "x"})
    assert emulator.stats.get("submissions", "chutes") == 1
