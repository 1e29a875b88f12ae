"""The fal emulator fails where fal fails: any endpoint id, required and ignored arguments,
input URLs fetched for real (loopback only), malformed URLs answered as input errors."""

from __future__ import annotations

import io
from typing import Any

import httpx2
import pytest
from PIL import Image

from twat_genai.testing import EmulatorServer, running_emulator
from twat_genai.testing.emulator.fal.endpoints import ENDPOINTS
from twat_genai.testing.emulator.inputs import InputError, InputFetcher, is_loopback

from .test_emulator_fal import data_uri, download, png_bytes, result_of

Json = dict[str, Any]


def submit_log(http: httpx2.Client, endpoint: str) -> Json:
    """The request-log entry of the (last) submit to ``endpoint``."""
    log = http.get("/_emulator/requests").json()
    entries = [e for e in log if e["method"] == "POST" and e["endpoint"] == endpoint]
    assert entries, f"no submit to {endpoint} in the log"
    entry: Json = entries[-1]
    return entry


@pytest.mark.parametrize(
    "endpoint",
    [
        "fal-ai/some-new-model",
        "acme/flux-pro/v9/ultra",
        "workflows/acme/my-flow",
        "comfy/acme/graph",
    ],
)
def test_any_endpoint_with_an_aspect_ratio_gets_that_shape(
    http: httpx2.Client, endpoint: str
) -> None:
    """An id the emulator does not know answers a text-to-image result of the asked ratio."""
    r = result_of(http, endpoint, {"prompt": "wide", "aspect_ratio": "21:9"})
    assert r.status_code == 200, r.text
    out = r.json()
    assert set(out) >= {"images", "seed", "timings", "has_nsfw_concepts"}
    image = out["images"][0]
    w, h = image["width"], image["height"]
    assert abs(w / h - 21 / 9) < 0.02 and 0.8e6 < w * h < 1.3e6
    assert download(http, image["url"]).size == (w, h)
    entry = submit_log(http, endpoint)
    assert "ignored" not in entry and "not in the emulator's table" in entry["note"]


def test_unknown_endpoint_honours_image_size_and_image_inputs(http: httpx2.Client) -> None:
    """Presets and ``{width, height}`` shape generic results; an image input without a prompt
    answers ``{"image": ...}`` at the input's size, with one it answers ``images[]``."""
    out = result_of(http, "acme/t2i", {"prompt": "p", "image_size": "portrait_16_9"}).json()
    assert (out["images"][0]["width"], out["images"][0]["height"]) == (576, 1024)
    sized = {"prompt": "p", "image_size": {"width": 320, "height": 200}, "num_images": 2}
    out = result_of(http, "acme/t2i", sized).json()
    assert [(i["width"], i["height"]) for i in out["images"]] == [(320, 200)] * 2
    src = data_uri(png_bytes((90, 60)))
    out = result_of(http, "acme/remove-bg", {"image_url": src}).json()
    assert set(out) == {"image"} and (out["image"]["width"], out["image"]["height"]) == (90, 60)
    out = result_of(http, "acme/edit", {"prompt": "p", "image_urls": [src, src]}).json()
    assert (out["images"][0]["width"], out["images"][0]["height"]) == (90, 60)
    r = result_of(http, "acme/t2i", {"image_size": "square"})
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "missing"


def test_known_endpoint_missing_required_arguments_is_422(http: httpx2.Client) -> None:
    """Every missing required argument is listed, in fal's ``missing`` shape."""
    r = result_of(http, "fal-ai/flux-lora/image-to-image", {"image_size": "square"})
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert [d["loc"] for d in detail] == [["body", "prompt"], ["body", "image_url"]]
    assert {d["type"] for d in detail} == {"missing"} and detail[0]["msg"] == "Field required"


def test_known_endpoint_rejects_out_of_range_and_wrong_types(http: httpx2.Client) -> None:
    """A value outside the documented range or of the wrong type is a 422 naming the field."""
    r = result_of(http, "fal-ai/flux-lora", {"prompt": "x", "num_images": 9})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "num_images"]
    assert r.json()["detail"][0]["type"] == "less_than_equal"
    r = result_of(http, "fal-ai/flux-lora", {"prompt": "x", "guidance_scale": "high"})
    assert r.json()["detail"][0]["type"] == "float_type"
    src = data_uri(png_bytes((8, 8)))
    r = result_of(http, "fal-ai/aura-sr", {"image_url": src, "upscale_factor": 2})
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "literal_error"


def test_ignored_arguments_are_recorded_and_change_nothing(http: httpx2.Client) -> None:
    """``upscaling_factor`` is not AuraSR's argument: fal ignores it (still 4x) and the log says so;
    a request with only known arguments records an empty list."""
    src = data_uri(png_bytes((20, 10)))
    out = result_of(http, "fal-ai/aura-sr", {"image_url": src, "upscaling_factor": 2}).json()
    assert (out["image"]["width"], out["image"]["height"]) == (80, 40)
    assert submit_log(http, "fal-ai/aura-sr")["ignored"] == ["upscaling_factor"]
    out = result_of(http, "fal-ai/drct-super-resolution", {"image_url": src, "upscale_factor": 4})
    assert out.status_code == 200
    assert submit_log(http, "fal-ai/drct-super-resolution")["ignored"] == []
    bria = {"image_url": src, "canvas_size": [40, 20], "num_images": 2}
    out = result_of(http, "fal-ai/bria/expand", bria).json()
    assert set(out) == {"image", "seed"}
    assert submit_log(http, "fal-ai/bria/expand")["ignored"] == ["num_images"]


def test_recraft_upscalers_current_and_retired_ids(http: httpx2.Client) -> None:
    """fal's current Recraft ids are served; the retired ones still answer but are noted;
    the input must be a PNG."""
    png = data_uri(png_bytes((30, 20)))
    for endpoint in ("fal-ai/recraft/upscale/crisp", "fal-ai/recraft/upscale/creative"):
        out = result_of(http, endpoint, {"image_url": png}).json()
        assert (out["image"]["width"], out["image"]["height"]) == (60, 40), endpoint
        assert submit_log(http, endpoint).get("note") is None
    result_of(http, "fal-ai/recraft-clarity-upscale", {"image_url": png})
    note = submit_log(http, "fal-ai/recraft-clarity-upscale")["note"]
    assert "retired" in note and "fal-ai/recraft/upscale/crisp" in note
    assert (
        ENDPOINTS["fal-ai/recraft-creative-upscale"].retired_for
        == "fal-ai/recraft/upscale/creative"
    )
    buf = io.BytesIO()
    Image.new("RGB", (30, 20)).save(buf, "JPEG")
    r = result_of(
        http, "fal-ai/recraft/upscale/crisp", {"image_url": data_uri(buf.getvalue(), "image/jpeg")}
    )
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "image_load_error"


def test_refused_loopback_url_and_non_image_bytes_are_image_load_errors(
    emulator: EmulatorServer, http: httpx2.Client
) -> None:
    """A loopback port nobody listens on, a 404 and bytes that are no image all fail as fal does."""
    cases = [
        "http://127.0.0.1:9/nothing.png",
        f"{emulator.root}/files/{'0' * 32}/gone.png",
        emulator.files.put(b"not an image", "image/png", "fake.png"),
        data_uri(b"not an image"),
    ]
    for url in cases:
        r = result_of(http, "fal-ai/esrgan", {"image_url": url})
        assert r.status_code == 422, url
        assert r.json()["detail"][0]["type"] == "image_load_error", url


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:99999/x.png",
        "http://[::1/x.png",
        "http://",
        "https://user@:80/x.png",
        "ftp://127.0.0.1/x.png",
        "not a url at all",
        "http://127.0.0.1:8080\x00/x.png",
    ],
)
def test_malformed_urls_are_input_errors_and_the_server_lives(
    http: httpx2.Client, url: str
) -> None:
    """Garbage in an ``*_url`` argument is a 422 on the result call, never a crash."""
    r = result_of(http, "fal-ai/flux-lora/image-to-image", {"prompt": "p", "image_url": url})
    assert r.status_code == 422
    assert r.json()["detail"][0]["type"] in {"image_load_error", "url_parsing"}
    r = result_of(http, "acme/edit", {"prompt": "p", "image_url": url})
    assert r.status_code == 422
    assert http.get("/_emulator/stats").status_code == 200


def test_loopback_urls_are_fetched_over_http(http: httpx2.Client) -> None:
    """An input served by another local server is downloaded and used (not a stand-in)."""
    with running_emulator(apps={}) as other:
        url = other.files.put(png_bytes((48, 32)), "image/png", "in.png")
        out = result_of(http, "fal-ai/esrgan", {"image_url": url, "scale": 2}).json()
        assert (out["image"]["width"], out["image"]["height"]) == (96, 64)
        assert other.stats.get("downloads") == 1


def test_remote_hosts_need_fetch_remote() -> None:
    """Only loopback hosts are fetched by default; ``fetch_remote`` opens the rest."""
    assert is_loopback("127.0.0.5") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("example.com") and not is_loopback("10.0.0.1")
    with running_emulator(apps={}) as server:
        with pytest.raises(InputError, match="fetch-remote"):
            InputFetcher(server)._check("https://example.com/x.png")
        InputFetcher(server, fetch_remote=True)._check("https://example.com/x.png")
    with running_emulator(apps={}, fetch_remote=True) as server:
        assert server.inputs.fetch_remote


def test_large_loopback_input_is_read_whole(http: httpx2.Client) -> None:
    """An input bigger than one network read arrives whole (a 1.5 MB PNG, not a truncated one)."""
    import os

    noise = Image.frombytes("RGB", (800, 640), os.urandom(800 * 640 * 3))
    buf = io.BytesIO()
    noise.save(buf, "PNG", compress_level=0)
    assert len(buf.getvalue()) > 1_000_000
    with running_emulator(apps={}) as other:
        url = other.files.put(buf.getvalue(), "image/png", "big.png")
        out = result_of(http, "fal-ai/esrgan", {"image_url": url, "scale": 1}).json()
    assert (out["image"]["width"], out["image"]["height"]) == (800, 640)
