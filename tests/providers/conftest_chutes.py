"""Fixtures for the Chutes tests (imported explicitly by ``test_chutes.py``): one emulator per
module with the Chutes app mounted, reset per test, and the environment pointing at it with a
recognisable secret key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

from twat_genai.testing import EmulatorServer, running_emulator
from twat_genai.testing.chutes import ChutesEmulator
from twat_genai.transport.retry import RetryPolicy

#: Well formed (the emulator checks the shape) and recognisable: it must never be written out.
CHUTES_SECRET = (
    "cpk_" + "5ec7e7" * 5 + "ab" + "." + "0badc0de" * 4 + "." + "ChutesTestSecretDoNotLeak0123456"
)

#: Retries without real waiting, so cold starts and 503s cost milliseconds.
FAST_RETRY = RetryPolicy(attempts=4, base_delay=0.001, max_delay=0.002)

_CLEAR = (
    "CHUTES_API_KEY",
    "CHUTES_API_TOKEN",
    "TWAT_GENAI_CHUTES_BASE_URL",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


def mount_chutes(server: EmulatorServer) -> ChutesEmulator:
    """The server's Chutes app, mounted at ``/chutes`` unless the default apps already did."""
    app = server.apps.get("/chutes")
    if app is None:
        app = server.mount("/chutes", ChutesEmulator())
    assert isinstance(app, ChutesEmulator)
    return app


@pytest.fixture(scope="module")
def _chutes_module_server() -> Iterator[EmulatorServer]:
    with running_emulator() as server:
        mount_chutes(server)
        yield server


@pytest.fixture
def chutes_server(
    _chutes_module_server: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> EmulatorServer:
    """The emulator with a fresh log and scenario memory; Chutes env pointing at it; cwd tmp."""
    for name in _CLEAR:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("TWAT_GENAI_CHUTES_BASE_URL", f"{_chutes_module_server.root}/chutes")
    monkeypatch.setenv("CHUTES_API_KEY", CHUTES_SECRET)
    monkeypatch.chdir(tmp_path)
    _chutes_module_server.reset()
    return _chutes_module_server


def chutes_calls(server: EmulatorServer) -> list[dict[str, Any]]:
    """The request log entries of the Chutes app."""
    return [e for e in server.requests if e["provider"] == "chutes"]


def picture(path: Path, size: tuple[int, int] = (400, 300)) -> Path:
    """Write a non-uniform RGB test image (format from the suffix)."""
    img = Image.new("RGB", size, (40, 90, 160))
    w, h = size
    ImageDraw.Draw(img).ellipse([w // 4, h // 4, 3 * w // 4, 3 * h // 4], fill=(230, 200, 30))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path
