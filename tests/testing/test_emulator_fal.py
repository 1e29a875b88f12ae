"""The fal.ai emulator over real HTTP: queue lifecycle, outputs, storage, scenarios, log, serve."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from PIL import Image

from twat_genai.testing import (
    EmulatorApp,
    EmulatorRequest,
    EmulatorResponse,
    EmulatorServer,
    running_emulator,
)
from twat_genai.testing.scenarios import parse_scenarios, strip_scenarios

from .conftest import AUTH

Json = dict[str, Any]


def png_bytes(size: tuple[int, int], color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def submit(http: httpx2.Client, endpoint: str, args: Json) -> Json:
    r = http.post(f"/fal/queue/{endpoint}", json=args)
    assert r.status_code == 200, r.text
    body: Json = r.json()
    return body


def wait_done(http: httpx2.Client, job: Json, timeout: float = 10) -> Json:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = http.get(job["status_url"])
        if r.status_code == 200:
            status: Json = r.json()
            assert status["status"] == "COMPLETED"
            return status
        assert r.status_code == 202
        time.sleep(0.02)
    raise AssertionError("job did not complete")


def result_of(http: httpx2.Client, endpoint: str, args: Json) -> httpx2.Response:
    job = submit(http, endpoint, args)
    wait_done(http, job)
    return http.get(job["response_url"])


def download(http: httpx2.Client, url: str) -> Image.Image:
    r = http.get(url)
    assert r.status_code == 200
    img = Image.open(io.BytesIO(r.content))
    img.load()
    return img


def test_queue_lifecycle_with_preset_size(emulator: EmulatorServer, http: httpx2.Client) -> None:
    """Submit, 202 while pending, 200 COMPLETED, result, and a JPEG of the preset's size."""
    emulator.latency = 0.3
    job = submit(
        http, "fal-ai/flux-lora", {"prompt": "a lighthouse", "image_size": "portrait_16_9"}
    )
    assert job["status"] == "IN_QUEUE" and job["queue_position"] == 0
    assert job["status_url"].startswith(emulator.root + "/fal/queue/fal-ai/flux-lora/requests/")
    assert job["status_url"] == job["response_url"] + "/status"
    assert job["cancel_url"] == job["response_url"] + "/cancel"
    first = http.get(job["status_url"], params={"logs": "1"})
    assert first.status_code == 202
    assert first.json()["status"] in {"IN_QUEUE", "IN_PROGRESS"}
    assert first.json()["response_url"] == job["response_url"]
    early = http.get(job["response_url"])
    assert early.status_code == 400
    assert early.json() == {"detail": "Request is still in progress"}
    done = wait_done(http, job)
    assert done["logs"] is None and done["metrics"]["inference_time"] >= 0.25
    with_logs = http.get(job["status_url"], params={"logs": "true"}).json()
    assert [entry["message"] for entry in with_logs["logs"]][-1] == "step 4/4"
    assert set(with_logs["logs"][0]) == {"message", "level", "source", "timestamp"}
    r = http.get(job["response_url"])
    assert r.status_code == 200
    assert r.headers["x-fal-request-id"] == job["request_id"]
    out = r.json()
    assert out["has_nsfw_concepts"] == [False] and isinstance(out["seed"], int)
    assert out["prompt"] == "a lighthouse" and "inference" in out["timings"]
    image = out["images"][0]
    assert (image["width"], image["height"], image["content_type"]) == (576, 1024, "image/jpeg")
    img = download(http, image["url"])
    assert (img.format, img.size) == ("JPEG", (576, 1024))


def test_custom_size_png_and_several_images(http: httpx2.Client) -> None:
    """``{width, height}`` sizes, ``output_format: png`` and ``num_images`` shape the output."""
    args = {"prompt": "x", "image_size": {"width": 640, "height": 320}, "output_format": "png"}
    out = result_of(http, "fal-ai/flux-lora", {**args, "num_images": 2, "seed": 7}).json()
    assert len(out["images"]) == 2 and out["seed"] == 7
    assert out["has_nsfw_concepts"] == [False, False]
    a, b = (download(http, i["url"]) for i in out["images"])
    assert (a.format, a.size, b.size) == ("PNG", (640, 320), (640, 320))
    assert a.tobytes() != b.tobytes()  # seed and seed + 1 differ


def test_default_size_and_determinism(http: httpx2.Client) -> None:
    """Without ``image_size`` flux-lora answers landscape_4_3; same prompt + seed, same pixels."""
    args = {"prompt": "same", "seed": 42}
    one = result_of(http, "fal-ai/flux-lora", args).json()["images"][0]
    two = result_of(http, "fal-ai/flux-lora", args).json()["images"][0]
    assert (one["width"], one["height"]) == (1024, 768)
    assert http.get(one["url"]).content == http.get(two["url"]).content


def test_sync_run(http: httpx2.Client) -> None:
    """``POST /fal/run/...`` answers the model output directly."""
    r = http.post(
        "/fal/run/fal-ai/flux-lora",
        params={"fal_webhook": "https://example.com/hook"},  # accepted and ignored
        json={"prompt": "now", "image_size": "square"},
    )
    assert r.status_code == 200
    assert r.json()["images"][0]["width"] == 512
    assert r.headers["x-fal-request-id"]


def test_subpath_dropped_in_queue_urls(emulator: EmulatorServer, http: httpx2.Client) -> None:
    """A submit to ``fal-ai/bria/expand`` is polled under ``fal-ai/bria``, as on fal."""
    args = {"image_url": data_uri(png_bytes((40, 30))), "canvas_size": [80, 60]}
    job = submit(http, "fal-ai/bria/expand", args)
    base = f"{emulator.root}/fal/queue/fal-ai/bria/requests/{job['request_id']}"
    assert (job["response_url"], job["status_url"]) == (base, base + "/status")
    wait_done(http, job)
    with_subpath = base.replace("/fal-ai/bria/", "/fal-ai/bria/expand/") + "/status"
    assert http.get(with_subpath).status_code == 404
    other_app = base.replace("/fal-ai/bria/", "/fal-ai/flux-lora/") + "/status"
    assert http.get(other_app).json() == {"detail": "Request not found"}


def test_queue_positions_fall_as_slots_free(emulator: EmulatorServer, http: httpx2.Client) -> None:
    """Capacity 1: the second waiting job reports position 1, then 0, then runs and completes."""
    emulator.capacity, emulator.latency = 1, 0.4
    jobs = [submit(http, "fal-ai/flux-lora", {"prompt": f"job {i}"}) for i in range(3)]
    assert [j["queue_position"] for j in jobs] == [0, 0, 1]
    third = http.get(jobs[2]["status_url"])
    assert third.status_code == 202
    assert third.json()["status"] == "IN_QUEUE" and third.json()["queue_position"] == 1
    assert "logs" not in third.json()
    seen: list[tuple[str, int | None]] = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        body = http.get(jobs[2]["status_url"]).json()
        state = (body["status"], body.get("queue_position"))
        if not seen or seen[-1] != state:
            seen.append(state)
        if body["status"] == "COMPLETED":
            break
        time.sleep(0.02)
    assert seen[:2] == [("IN_QUEUE", 1), ("IN_QUEUE", 0)]
    assert seen[-2:] == [("IN_PROGRESS", None), ("COMPLETED", None)]
    for job in jobs[:2]:
        assert wait_done(http, job)["status"] == "COMPLETED"


def test_status_stream_ends_with_completed(emulator: EmulatorServer, http: httpx2.Client) -> None:
    """The SSE status stream sends each state change and ends after COMPLETED."""
    emulator.latency = 0.2
    job = submit(http, "fal-ai/flux-lora", {"prompt": "stream me"})
    events: list[Json] = []
    with http.stream("GET", job["status_url"] + "/stream", params={"logs": "1"}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/event-stream"
        for line in r.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    assert events[-1]["status"] == "COMPLETED"
    assert any(e["status"] == "IN_PROGRESS" for e in events)
    assert isinstance(events[-1]["logs"], list)
    polls = http.get("/_emulator/stats").json()["polls"]
    assert polls == 1  # one stream counts as one status request


def test_upscalers_scale_by_their_factor(http: httpx2.Client) -> None:
    """Each upscaler's output is the input times its factor, in its own output shape."""
    src = data_uri(png_bytes((60, 40)))
    cases: list[tuple[str, Json, tuple[int, int], set[str]]] = [
        ("fal-ai/esrgan", {}, (120, 80), {"image"}),
        ("fal-ai/esrgan", {"scale": 3}, (180, 120), {"image"}),
        ("fal-ai/clarity-upscaler", {}, (120, 80), {"image", "seed", "timings"}),
        ("fal-ai/aura-sr", {}, (240, 160), {"image", "timings"}),
        ("fal-ai/drct-super-resolution", {}, (240, 160), {"image"}),
        ("fal-ai/ccsr", {}, (120, 80), {"image", "seed"}),
        ("fal-ai/ideogram/upscale", {}, (120, 80), {"images", "seed"}),
        ("fal-ai/recraft-creative-upscale", {}, (120, 80), {"image"}),
        ("fal-ai/recraft-clarity-upscale", {}, (120, 80), {"image"}),
    ]
    for endpoint, extra, size, keys in cases:
        out = result_of(http, endpoint, {"image_url": src, **extra}).json()
        assert set(out) == keys, endpoint
        image = out["images"][0] if "images" in out else out["image"]
        img = download(http, image["url"])
        assert img.size == size == (image["width"], image["height"]), endpoint
        assert img.format == "PNG"


def test_upload_then_use_as_input(emulator: EmulatorServer, http: httpx2.Client) -> None:
    """A CDN upload (token, then raw POST) is served back and usable as ``image_url``."""
    token = http.post(
        "/fal/rest/storage/auth/token", params={"storage_type": "fal-cdn-v3"}, json={}
    )
    assert token.status_code == 200
    t = token.json()
    assert t["token_type"] == "Bearer" and t["base_url"] == emulator.root + "/fal/cdn"
    assert t["expires_at"].endswith("+00:00")
    data = png_bytes((50, 25))
    headers = {
        "Authorization": f"Bearer {t['token']}",
        "Content-Type": "image/png",
        "X-Fal-File-Name": "in put.png",
    }
    up = http.post("/fal/cdn/files/upload", content=data, headers=headers)
    url = up.json()["access_url"]
    assert url.startswith(emulator.root + "/fal/cdn/files/") and url.endswith("/in_put.png")
    got = http.get(url)
    assert got.content == data and got.headers["content-type"] == "image/png"
    bad = http.post(
        "/fal/cdn/files/upload", content=data, headers={**headers, "Authorization": "Bearer no"}
    )
    assert bad.status_code == 401
    out = result_of(http, "fal-ai/esrgan", {"image_url": url, "scale": 4}).json()
    assert download(http, out["image"]["url"]).size == (200, 100)


def test_multipart_and_fallback_uploads(http: httpx2.Client) -> None:
    """The v3 multipart protocol (with ETags) and the fallback initiate + PUT both store files."""
    token = http.post("/fal/rest/storage/auth/token", json={}).json()["token"]
    bearer = {"Authorization": f"Bearer {token}", "X-Fal-File-Name": "big.bin"}
    start = http.post(
        "/fal/cdn/files/upload/multipart",
        headers={**bearer, "Content-Type": "application/octet-stream"},
    ).json()
    access, upload_id = start["access_url"], start["uploadId"]
    etags = []
    for n, chunk in enumerate([b"abc", b"def"], start=1):
        r = http.put(f"{access}/multipart/{upload_id}/{n}", content=chunk, headers=bearer)
        assert r.status_code == 200 and r.headers["etag"]
        etags.append({"partNumber": n, "etag": r.headers["etag"]})
    done = http.post(
        f"{access}/multipart/{upload_id}/complete", json={"parts": etags}, headers=bearer
    )
    assert done.json()["access_url"] == access
    assert http.get(access).content == b"abcdef"

    init = http.post(
        "/fal/rest/storage/upload/initiate",
        params={"storage_type": "gcs"},
        json={"file_name": "x.png", "content_type": "image/png"},
    ).json()
    data = png_bytes((3, 3))
    assert (
        httpx2.put(
            init["upload_url"], content=data, headers={"Content-Type": "image/png"}
        ).status_code
        == 200
    )
    got = http.get(init["file_url"])
    assert got.content == data and got.headers["content-type"] == "image/png"
    stats = http.get("/_emulator/stats").json()
    assert stats["uploads"] == 2 and stats["downloads"] == 2


def test_image_conditioned_endpoints_keep_input_size(http: httpx2.Client) -> None:
    """image-to-image, canny and depth answer at the input's size unless ``image_size`` is set."""
    src = data_uri(png_bytes((96, 64)))
    for endpoint in (
        "fal-ai/flux-lora/image-to-image",
        "fal-ai/flux-lora-canny",
        "fal-ai/flux-lora-depth",
    ):
        out = result_of(http, endpoint, {"prompt": "p", "image_url": src}).json()
        assert download(http, out["images"][0]["url"]).size == (96, 64), endpoint
    canny = result_of(http, "fal-ai/flux-lora-canny", {"prompt": "p", "image_url": src}).json()
    edges = download(http, canny["images"][0]["url"]).convert("L")
    pixel = edges.getpixel((48, 32))
    assert isinstance(pixel, int) and pixel < 40  # a flat input has no edges inside
    sized = {"prompt": "p", "image_url": src, "image_size": "square"}
    out = result_of(http, "fal-ai/flux-lora/image-to-image", sized).json()
    assert download(http, out["images"][0]["url"]).size == (512, 512)
    mask = data_uri(png_bytes((96, 64), (255, 255, 255)))
    inpaint = {
        "prompt": "p",
        "image_url": src,
        "mask_url": mask,
        "image_size": {"width": 200, "height": 100},
    }
    out = result_of(http, "fal-ai/flux-lora/inpainting", inpaint).json()
    assert download(http, out["images"][0]["url"]).size == (200, 100)


def test_bria_expand_and_genfill(http: httpx2.Client) -> None:
    """Expand answers the canvas size with the input pasted; GenFill keeps the input's size."""
    src = data_uri(png_bytes((100, 50), (255, 0, 0)))
    args = {
        "image_url": src,
        "canvas_size": [300, 200],
        "original_image_size": [100, 50],
        "original_image_location": [100, 75],
    }
    out = result_of(http, "fal-ai/bria/expand", {**args, "prompt": "sea"}).json()
    assert set(out) == {"image", "seed"}
    img = download(http, out["image"]["url"]).convert("RGB")
    assert img.size == (300, 200) == (out["image"]["width"], out["image"]["height"])
    assert img.getpixel((150, 100)) == (255, 0, 0)
    fill = {
        "image_url": out["image"]["url"],
        "mask_url": data_uri(png_bytes((300, 200), (0, 0, 0))),
        "prompt": "sea",
    }
    gen = result_of(http, "fal-ai/bria/genfill", fill).json()
    assert set(gen) == {"images", "seed"}
    filled = download(http, gen["images"][0]["url"]).convert("RGB")
    assert filled.size == (300, 200) and filled.getpixel((150, 100)) == (255, 0, 0)


def test_missing_key_is_401(emulator: EmulatorServer) -> None:
    """Queue calls without ``Authorization: Key ...`` get fal's 401 body."""
    r = httpx2.post(emulator.root + "/fal/queue/fal-ai/flux-lora", json={"prompt": "x"})
    assert r.status_code == 401
    assert r.json() == {"detail": "No user found for Key ID and Secret"}
    r = httpx2.post(
        emulator.root + "/fal/queue/fal-ai/flux-lora",
        json={"prompt": "x"},
        headers={"Authorization": "Key"},
    )
    assert r.status_code == 401


def test_validation_errors_surface_on_result(http: httpx2.Client) -> None:
    """Missing ``prompt``/``image_url`` complete normally and answer 422 on the result call."""
    r = result_of(http, "fal-ai/flux-lora", {"image_size": "square"})
    assert r.status_code == 422
    detail = r.json()["detail"][0]
    assert detail["loc"] == ["body", "prompt"] and detail["type"] == "missing"
    assert detail["url"].startswith("https://docs.fal.ai/errors/#")
    r = result_of(http, "fal-ai/esrgan", {"scale": 2})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "image_url"]
    r = result_of(http, "fal-ai/flux-lora", {"prompt": "x", "image_size": "huge"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "image_size"]
    r = http.post("/fal/run/fal-ai/flux-lora", json={})
    assert r.status_code == 422


def test_scenario_blocked(http: httpx2.Client) -> None:
    """``[emulate:blocked]`` answers black images flagged by ``has_nsfw_concepts``."""
    out = result_of(
        http, "fal-ai/flux-lora", {"prompt": "bad [emulate:blocked]", "num_images": 2}
    ).json()
    assert out["has_nsfw_concepts"] == [True, True]
    img = download(http, out["images"][0]["url"])
    assert img.convert("L").getextrema() == (0, 0)


def test_scenario_error_on_result(http: httpx2.Client) -> None:
    """``[emulate:error=422]`` completes, then the result call answers 422 in fal's shape."""
    job = submit(http, "fal-ai/flux-lora", {"prompt": "x [emulate:error=422]"})
    status = wait_done(http, job)
    assert "error" not in status
    r = http.get(job["response_url"])
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "prompt"]
    job = submit(http, "fal-ai/flux-lora", {"prompt": "x [emulate:error=503]"})
    status = wait_done(http, job)
    assert status["error_type"] == "runner_disconnected"
    r = http.get(job["response_url"])
    assert r.status_code == 503 and r.headers["x-fal-error-type"] == "runner_disconnected"


def test_scenario_broken_url(http: httpx2.Client) -> None:
    """``[emulate:broken_url]`` yields a result whose file URL answers 500."""
    out = result_of(http, "fal-ai/flux-lora", {"prompt": "x [emulate:broken_url]"}).json()
    assert http.get(out["images"][0]["url"]).status_code == 500


def test_scenario_ratelimit_first_submit_only(http: httpx2.Client) -> None:
    """``[emulate:ratelimit]``: the first submit of a prompt gets 429 + Retry-After, the next works."""
    args = {"prompt": "busy [emulate:ratelimit]"}
    r = http.post("/fal/queue/fal-ai/flux-lora", json=args)
    assert r.status_code == 429 and r.headers["retry-after"] == "0"
    assert r.json() == {"detail": "Too many requests"}
    assert http.post("/fal/queue/fal-ai/flux-lora", json=args).status_code == 200


def test_scenario_slow(emulator: EmulatorServer, http: httpx2.Client) -> None:
    """``[emulate:slow=S]`` overrides the latency for that job only."""
    started = time.monotonic()
    job = submit(http, "fal-ai/flux-lora", {"prompt": "x [emulate:slow=0.3]"})
    wait_done(http, job)
    assert time.monotonic() - started >= 0.3


def test_scenario_parsing() -> None:
    """Tokens combine, unknown names are kept aside, and stripping leaves the prompt."""
    sc = parse_scenarios("a [emulate:slow=2,blocked] b [EMULATE:error=503] [emulate:nope]")
    assert (sc.slow, sc.blocked, sc.error, sc.unknown) == (2.0, True, 503, ("nope",))
    assert not parse_scenarios("plain prompt") and not parse_scenarios(None)
    assert parse_scenarios("[emulate:error=200]").error == 500
    assert strip_scenarios("a [emulate:blocked] cat") == "a cat"


def test_cancel_follows_the_job_state(emulator: EmulatorServer, http: httpx2.Client) -> None:
    """Cancel as fal documents it: a queued job is removed (202, then COMPLETED with
    ``client_cancelled``); a running one is told (202) but, with no cancel handler, runs on and
    completes; a finished one is 400 ``ALREADY_COMPLETED``; an unknown id 404."""
    emulator.capacity = 1
    running = submit(http, "fal-ai/flux-lora", {"prompt": "first [emulate:slow=0.5]"})
    queued = submit(http, "fal-ai/flux-lora", {"prompt": "second"})
    assert http.get(queued["status_url"]).json()["status"] == "IN_QUEUE"

    r = http.put(queued["cancel_url"])
    assert r.status_code == 202 and r.json() == {"status": "CANCELLATION_REQUESTED"}
    status = http.get(queued["status_url"])
    assert status.status_code == 200 and status.json()["error_type"] == "client_cancelled"
    result = http.get(queued["response_url"])
    assert result.status_code == 499 and result.json()["error_type"] == "client_cancelled"

    r = http.put(running["cancel_url"])
    assert r.status_code == 202 and r.json() == {"status": "CANCELLATION_REQUESTED"}
    done = wait_done(http, running)
    assert "error" not in done
    assert http.get(running["response_url"]).json()["images"]  # it ran to the end

    again = http.put(running["cancel_url"])
    assert again.status_code == 400 and again.json() == {"status": "ALREADY_COMPLETED"}
    unknown = http.put(running["cancel_url"].replace(running["request_id"], "nope"))
    assert unknown.status_code == 404 and unknown.json() == {"status": "NOT_FOUND"}
    assert http.get(running["status_url"].replace(running["request_id"], "nope")).status_code == 404

    cancels = [e for e in http.get("/_emulator/requests").json() if e["path"].endswith("/cancel")]
    assert [e["note"] for e in cancels] == [
        "cancel: removed from the queue",
        "cancel: running: the cancel did not stop it",
        "cancel: already completed",
        "cancel: no such request",
    ]
    fal = http.get("/_emulator/stats").json()["providers"]["fal"]
    assert fal["cancels"] == 4 and fal["cancels_unstopped"] == 1
    assert fal["submissions"] == 2


def test_request_log_stats_and_reset(emulator: EmulatorServer, http: httpx2.Client) -> None:
    """The log lists provider, endpoint, args (data URIs shortened), header names; no secret."""
    src = data_uri(png_bytes((20, 20)))
    job = submit(http, "fal-ai/esrgan", {"image_url": src, "scale": 2})
    wait_done(http, job)
    http.get(job["response_url"])
    http.get("/fal/nowhere")
    log = http.get("/_emulator/requests").json()
    first = log[0]
    assert first["provider"] == "fal" and first["method"] == "POST"
    assert first["endpoint"] == "fal-ai/esrgan" and first["status"] == 200
    assert first["path"] == "/fal/queue/fal-ai/esrgan"
    assert first["args"]["scale"] == 2
    assert first["args"]["image_url"].startswith("data:image/png;base64,<")
    assert "authorization" in first["headers"]
    assert "test-key-secret" not in json.dumps(log)
    assert log[-1]["status"] == 404 and log[-1]["path"] == "/fal/nowhere"
    assert [e["endpoint"] for e in log[1:-1]] == ["fal-ai/esrgan"] * (len(log) - 2)
    stats = http.get("/_emulator/stats").json()
    assert stats["submissions"] == 1 and stats["results"] == 1 and stats["polls"] >= 1
    assert stats["requests"] == len(log) and stats["bytes_in"] > len(src)
    assert stats["providers"]["fal"]["submissions"] == 1
    assert http.post("/_emulator/reset").status_code == 200
    assert http.get("/_emulator/requests").json() == []
    assert http.get("/_emulator/stats").json()["submissions"] == 0
    assert http.get(job["status_url"]).status_code == 404  # jobs forgotten


def test_unreachable_input_url_fails_on_the_result_call(http: httpx2.Client) -> None:
    """A URL the emulator cannot fetch (not loopback) is fal's 422 ``image_load_error``."""
    r = result_of(http, "fal-ai/esrgan", {"image_url": "https://example.com/cat.png"})
    assert r.status_code == 422
    detail = r.json()["detail"][0]
    assert detail["loc"] == ["body", "image_url"] and detail["type"] == "image_load_error"
    assert "example.com" in detail["ctx"]["reason"]


def test_many_concurrent_jobs(emulator: EmulatorServer) -> None:
    """Hundreds of concurrent submit/poll/result cycles complete (the server is not a bottleneck)."""
    emulator.latency = 0.05

    async def one(client: httpx2.AsyncClient, i: int) -> int:
        r = await client.post(
            "/fal/queue/fal-ai/flux-lora",
            json={"prompt": f"p{i % 7}", "image_size": "square", "seed": i % 5},
        )
        job = r.json()
        for _ in range(600):  # poll like a client would, bounded
            if (await client.get(job["status_url"])).status_code != 202:
                break
            await asyncio.sleep(0.05)
        res = await client.get(job["response_url"])
        return len(res.json()["images"])

    async def main() -> list[int]:
        limits = httpx2.Limits(max_connections=100)
        async with httpx2.AsyncClient(
            base_url=emulator.root, headers=AUTH, limits=limits, timeout=30, trust_env=False
        ) as c:
            return await asyncio.gather(*(one(c, i) for i in range(300)))

    started = time.monotonic()
    assert asyncio.run(main()) == [1] * 300
    assert time.monotonic() - started < 30
    assert emulator.stats.get("submissions") == 300


def test_running_emulator_starts_fast_and_stops() -> None:
    """``running_emulator`` is ready quickly and releases its port on exit."""
    started = time.monotonic()
    with running_emulator() as server:
        elapsed = time.monotonic() - started
        root = server.root
        assert httpx2.get(root + "/_emulator/stats", trust_env=False).status_code == 200
        assert server.env()["TWAT_GENAI_FAL_BASE_URL"] == root + "/fal"
    assert elapsed < 0.5
    with pytest.raises(httpx2.ConnectError):
        httpx2.get(root + "/_emulator/stats", trust_env=False)


def test_stopping_leaves_no_job_running_not_even_one_that_was_waiting() -> None:
    """A stop cancels the running jobs; the slots they free start none of the waiting ones."""

    async def main() -> set[asyncio.Task[Any]]:
        server = EmulatorServer(port=0, latency=30, capacity=1)
        async with server, httpx2.AsyncClient(headers=AUTH, trust_env=False) as client:
            for n in range(3):
                r = await client.post(f"{server.root}/fal/queue/fal-ai/flux/dev", json={"n": n})
                assert r.status_code == 200
        return asyncio.all_tasks() - {asyncio.current_task()}  # type: ignore[operator]

    assert asyncio.run(main()) == set()


def test_serve_prints_exports_and_exits_cleanly_on_sigint() -> None:
    """``serve()`` prints ``export`` lines and a blank line, serves, and exits 0 on SIGINT."""
    code = "from twat_genai.testing.server import serve; raise SystemExit(serve(port=0))"
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost"}
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        lines = []
        while (line := proc.stdout.readline()) not in {"\n", ""}:
            lines.append(line.rstrip("\n"))
        exports = dict(line.removeprefix("export ").split("=", 1) for line in lines)
        assert all(line.startswith("export ") for line in lines)
        assert exports["FAL_KEY"] == "emulator-fal-key"
        base = exports["TWAT_GENAI_FAL_BASE_URL"]
        assert base.startswith("http://127.0.0.1:") and base.endswith("/fal")
        r = httpx2.post(
            base + "/run/fal-ai/flux-lora", json={"prompt": "x"}, headers=AUTH, trust_env=False
        )
        assert r.status_code == 200
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    assert "Traceback" not in err


class EchoApp(EmulatorApp):
    """A minimal app, shaped like the later OpenAI/Gemini/Chutes ones."""

    name = "echo"

    async def handle(self, req: EmulatorRequest) -> EmulatorResponse:
        req.endpoint = req.path
        if req.path == "/form":
            form = req.form()
            upload = form.file("image[]")
            assert upload is not None
            url = self.server.files.put(upload.data, upload.content_type, upload.filename)
            return EmulatorResponse.json(
                {"fields": form.fields, "url": url, "n": len(form.files["image[]"])}
            )
        return self.not_found(req)

    def env(self, root: str) -> dict[str, str]:
        return {"ECHO_BASE_URL": root + self.prefix}


def test_custom_app_form_parsing_and_file_store() -> None:
    """A mounted app sees prefix-relative paths, multipart forms, the file store and its env."""
    with running_emulator(apps={"/echo": EchoApp()}) as server:
        assert server.env() == {"ECHO_BASE_URL": server.root + "/echo"}
        data = png_bytes((4, 4))
        files = [
            ("image[]", ("a.png", data, "image/png")),
            ("image[]", ("b.png", data, "image/png")),
        ]
        r = httpx2.post(
            server.root + "/echo/form",
            data={"prompt": "héllo", "n": "2"},
            files=files,
            trust_env=False,
        )
        assert r.status_code == 200
        body = r.json()
        assert body["fields"] == {"prompt": ["héllo"], "n": ["2"]} and body["n"] == 2
        assert body["url"].startswith(server.root + "/files/") and body["url"].endswith("/a.png")
        got = httpx2.get(body["url"], trust_env=False)
        assert got.content == data and got.headers["content-type"] == "image/png"
        missing = httpx2.get(server.root + "/echo/nothing", trust_env=False)
        assert missing.status_code == 404
        assert httpx2.get(server.root + "/nowhere", trust_env=False).status_code == 404
        entry = server.requests[0]
        assert entry["provider"] == "echo" and entry["endpoint"] == "/form"
        assert entry["args"]["image[]"][0].startswith("<file 'a.png' image/png")


def test_chunked_request_body_and_keep_alive(emulator: EmulatorServer) -> None:
    """Chunked uploads are read whole, and one connection serves many requests."""

    def chunks() -> Iterator[bytes]:
        yield b'{"prompt": '
        yield b'"chunked", "image_size": "square"}'

    with httpx2.Client(base_url=emulator.root, headers=AUTH, trust_env=False) as c:
        r = c.post(
            "/fal/run/fal-ai/flux-lora",
            content=chunks(),
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 200 and r.json()["prompt"] == "chunked"
        for _ in range(5):
            assert c.get("/_emulator/stats").status_code == 200
    log = emulator.requests
    assert log[0]["args"] == {"prompt": "chunked", "image_size": "square"}
