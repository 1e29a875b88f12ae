"""The emulator's server itself: plain pictures, the bounded request log, HEAD, plugins."""

from __future__ import annotations

import io
import sys
import textwrap
from pathlib import Path

import httpx2
import pytest
from PIL import Image

from twat_genai.testing import EmulatorServer, running_emulator
from twat_genai.testing.emulator.plugins import ENTRY_POINT_GROUP

from .conftest import AUTH


def _run(server: EmulatorServer, endpoint: str, args: dict[str, object]) -> httpx2.Response:
    return httpx2.post(
        f"{server.root}/fal/run/{endpoint}", json=args, headers=AUTH, trust_env=False, timeout=30
    )


def test_plain_images_are_flat_pictures_of_the_requested_size() -> None:
    """``plain_images``: one flat picture per size and format, the same for every prompt."""
    with running_emulator(plain_images=True) as server:
        urls = [
            _run(server, "fal-ai/flux-lora", {"prompt": p, "image_size": "square"}).json()[
                "images"
            ][0]["url"]
            for p in ("a cat", "a dog")
        ]
        blobs = [httpx2.get(u, trust_env=False).content for u in urls]
    assert blobs[0] == blobs[1]
    img = Image.open(io.BytesIO(blobs[0]))
    assert (
        img.size == (512, 512)
        and img.convert("L").getextrema()[0] == img.convert("L").getextrema()[1]
    )


def test_request_log_keeps_the_last_entries_only() -> None:
    """The log is capped: the oldest entries go first, so memory stays bounded."""
    with running_emulator(log_cap=3) as server, httpx2.Client(trust_env=False) as c:
        for i in range(5):
            c.get(f"{server.root}/nowhere/{i}")
        log = c.get(f"{server.root}/_emulator/requests").json()
    assert [e["path"] for e in log] == ["/nowhere/2", "/nowhere/3", "/nowhere/4"]


def test_head_answers_headers_without_a_body() -> None:
    """HEAD on a stored file gives its length and type but no bytes."""
    with running_emulator() as server:
        url = server.files.put(b"0123456789", "text/plain", "n.txt")
        r = httpx2.head(url, trust_env=False)
    assert r.status_code == 200 and r.headers["content-length"] == "10" and r.content == b""


def test_plugin_app_is_found_through_its_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A distribution declaring a ``twat_genai.emulators`` entry point gets its app mounted."""
    (tmp_path / "tiny_emulator_plugin.py").write_text(
        textwrap.dedent(
            """
            from twat_genai.testing import EmulatorApp, EmulatorResponse

            class Tiny(EmulatorApp):
                name = "tiny"

                async def handle(self, req):
                    return EmulatorResponse.json({"hello": req.path})

            def install(server):
                server.mount("/tiny", Tiny())
            """
        )
    )
    dist = tmp_path / "tiny_emulator_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: tiny-emulator-plugin\nVersion: 0.1\n"
    )
    (dist / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\ntiny = tiny_emulator_plugin:install\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with running_emulator() as server:
            assert "/tiny" in server.apps and "/fal" in server.apps
            r = httpx2.get(f"{server.root}/tiny/x", trust_env=False)
    finally:
        sys.modules.pop("tiny_emulator_plugin", None)
    assert r.json() == {"hello": "/x"}


def test_stop_does_not_wait_for_open_status_streams() -> None:
    """A client still watching a long job's status stream does not hold the server's stop."""
    import threading
    import time

    ended = threading.Event()
    with running_emulator() as server:
        job = _submit(server, "x [emulate:slow=30]")

        def watch() -> None:
            try:
                with httpx2.stream(
                    "GET", job["status_url"] + "/stream", headers=AUTH, trust_env=False, timeout=60
                ) as r:
                    for _ in r.iter_lines():
                        pass
            except httpx2.HTTPError:
                pass
            ended.set()

        threading.Thread(target=watch, daemon=True).start()
        time.sleep(0.3)
        started = time.monotonic()
    assert time.monotonic() - started < 3
    assert ended.wait(5)


def _submit(server: EmulatorServer, prompt: str) -> dict[str, str]:
    r = httpx2.post(
        f"{server.root}/fal/queue/fal-ai/flux-lora",
        json={"prompt": prompt},
        headers=AUTH,
        trust_env=False,
    )
    job: dict[str, str] = r.json()
    return job
