"""The official ``fal_client`` against the emulator: proof that the emulator speaks fal's protocol.

``fal_client`` hard-codes ``https://`` hosts, so each test points its module globals at the
emulator (PROTOCOLS §0, option A); they are read when each call is made.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from pathlib import Path

import fal_client
import fal_client.client as fal_client_module
import httpx2
import pytest
from PIL import Image

from twat_genai.testing import EmulatorServer

KEY = "oracle-key-id:oracle-key-secret"
APP = "fal-ai/flux-lora"


@pytest.fixture
def fal(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[fal_client.SyncClient]:
    """A fresh ``SyncClient`` (its own CDN token cache) aimed at the emulator."""
    root = emulator.root
    monkeypatch.setattr(fal_client_module, "QUEUE_URL_FORMAT", root + "/fal/queue/")
    monkeypatch.setattr(fal_client_module, "RUN_URL_FORMAT", root + "/fal/run/")
    monkeypatch.setattr(fal_client_module, "REST_URL", root + "/fal/rest")
    monkeypatch.setattr(fal_client_module, "CDN_URL", root + "/fal/cdn")
    monkeypatch.setenv("FAL_KEY", KEY)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    yield fal_client.SyncClient(key=KEY)


def fetch(url: str) -> bytes:
    r = httpx2.get(url, trust_env=False)
    r.raise_for_status()
    return r.content


def test_submit_status_result(fal: fal_client.SyncClient, emulator: EmulatorServer) -> None:
    """submit -> status(with_logs) -> get: the handle follows the URLs the emulator returned."""
    emulator.latency = 0.2
    handle = fal.submit(APP, {"prompt": "oracle", "image_size": "square_hd"})
    assert handle.status_url.startswith(emulator.root + "/fal/queue/fal-ai/flux-lora/requests/")
    first = handle.status(with_logs=True)
    assert isinstance(first, (fal_client.Queued, fal_client.InProgress))
    if isinstance(first, fal_client.InProgress):
        assert isinstance(first.logs, list)
    result = handle.get()
    image = result["images"][0]
    assert (image["width"], image["height"]) == (1024, 1024)
    done = handle.status(with_logs=True)
    assert isinstance(done, fal_client.Completed)
    assert done.logs and done.logs[-1]["message"] == "step 4/4"
    assert "inference_time" in done.metrics
    assert Image.open(io.BytesIO(fetch(image["url"]))).size == (1024, 1024)
    # Module-level helpers rebuild URLs from QUEUE_URL_FORMAT (get_handle), for re-attaching.
    again = fal_client.status(APP, handle.request_id, with_logs=True)
    assert isinstance(again, fal_client.Completed)
    assert fal_client.result(APP, handle.request_id)["seed"] == result["seed"]


def test_subscribe_reports_queue_updates(
    fal: fal_client.SyncClient, emulator: EmulatorServer
) -> None:
    """subscribe() polls with logs and hands each status to ``on_queue_update``."""
    emulator.latency = 0.25
    updates: list[fal_client.Status] = []
    result = fal.subscribe(
        "fal-ai/bria/expand",
        {
            "image_url": fal.upload_image(Image.new("RGB", (40, 20), "blue")),
            "canvas_size": [80, 40],
        },
        with_logs=True,
        on_queue_update=updates.append,
    )
    assert result["image"]["width"] == 80 and result["image"]["height"] == 40
    assert any(isinstance(u, fal_client.InProgress) for u in updates)
    assert any(isinstance(u, fal_client.InProgress) and u.logs for u in updates)


def test_run_sync_endpoint(fal: fal_client.SyncClient) -> None:
    """run() posts to the sync host and returns the output directly."""
    result = fal.run("fal-ai/esrgan", {"image_url": fal.upload_image(Image.new("RGB", (30, 10)))})
    assert (result["image"]["width"], result["image"]["height"]) == (60, 20)


def test_uploads_round_trip(
    fal: fal_client.SyncClient, emulator: EmulatorServer, tmp_path: Path
) -> None:
    """upload / upload_file / upload_image return URLs that serve the uploaded bytes (via v3)."""
    url = fal.upload(b"hello bytes", "text/plain", file_name="note.txt")
    assert url.endswith("/note.txt") and fetch(url) == b"hello bytes"
    path = tmp_path / "pic.png"
    Image.new("RGB", (12, 8), "green").save(path)
    url = fal.upload_file(path)
    assert fetch(url) == path.read_bytes()
    url = fal.upload_image(Image.new("RGB", (7, 5), "red"), format="png")
    img = Image.open(io.BytesIO(fetch(url)))
    assert (img.format, img.size) == ("PNG", (7, 5))
    # fal_client silently falls back to the storage API when v3 fails: prove it did not.
    endpoints = [e["endpoint"] for e in emulator.requests if e["method"] == "POST"]
    assert endpoints == ["storage/auth/token"] + ["files/upload"] * 3


def test_async_client_submit_result(fal: fal_client.SyncClient) -> None:
    """AsyncClient submit + get and an async upload work against the same emulator."""

    async def main() -> dict[str, object]:
        client = fal_client.AsyncClient(key=KEY)
        url = await client.upload(b"async", "text/plain", file_name="a.txt")
        assert fetch(url) == b"async"
        handle = await client.submit(APP, {"prompt": "async", "image_size": "landscape_16_9"})
        status = await client.status(APP, handle.request_id)
        assert isinstance(status, (fal_client.Queued, fal_client.InProgress, fal_client.Completed))
        result: dict[str, object] = await handle.get()
        return result

    result = asyncio.run(main())
    images = result["images"]
    assert isinstance(images, list) and images[0]["width"] == 1024 and images[0]["height"] == 576


def test_cancel(fal: fal_client.SyncClient, emulator: EmulatorServer) -> None:
    """cancel() removes a queued job (it completes as cancelled); on a running job it is
    accepted but the job runs on; on a finished job fal_client raises the 400."""
    emulator.capacity = 1
    running = fal.submit(APP, {"prompt": "long [emulate:slow=0.5]"})
    queued = fal.submit(APP, {"prompt": "waiting"})
    queued.cancel()
    status = fal_client.status(APP, queued.request_id)
    assert isinstance(status, fal_client.Completed) and status.error_type == "client_cancelled"
    running.cancel()
    assert running.get()["images"]
    with pytest.raises(fal_client.FalClientHTTPError) as exc:
        running.cancel()
    assert exc.value.status_code == 400


def test_model_error_and_ratelimit(fal: fal_client.SyncClient, emulator: EmulatorServer) -> None:
    """A 422 surfaces from the result call; a 429 on submit is retried by the client."""
    handle = fal.submit(APP, {"image_size": "square"})  # no prompt
    with pytest.raises(fal_client.FalClientHTTPError) as exc:
        handle.get()
    assert exc.value.status_code == 422
    assert isinstance(exc.value.message, list) and exc.value.message[0]["loc"] == ["body", "prompt"]
    result = fal.subscribe(APP, {"prompt": "retry me [emulate:ratelimit]", "image_size": "square"})
    assert result["images"][0]["width"] == 512
    statuses = [
        e["status"] for e in emulator.requests if e["path"] == "/fal/queue/fal-ai/flux-lora"
    ]
    assert statuses[-2:] == [429, 200]
