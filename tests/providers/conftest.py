"""Fixtures for the OpenAI and Gemini provider tests: one emulator per module (reset per test)
with both apps mounted, the environment pointing at it with recognisable secret keys, and
image helpers."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

from twat_genai.testing import EmulatorServer, running_emulator
from twat_genai.testing.gemini import GeminiEmulator
from twat_genai.testing.openai import OpenAIEmulator

#: Recognisable keys: no output file, sidecar or emulator log may ever contain them.
OPENAI_SECRET = "sk-test-OPENAI-SECRET-0123456789abcdef"
GEMINI_SECRET = "gemini-test-SECRET-0123456789abcdef"

_KEY_VARS = (
    "OPENAI_API_KEY",
    "CLIPROXY_API_KEY",
    "OPENAI_BASE_URL",
    "CLIPROXY_API_ENDPOINT",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "TWAT_GENAI_GEMINI_BASE_URL",
    "GOOGLE_GEMINI_BASE_URL",
    "GOOGLE_GENAI_API_VERSION",
    "GOOGLE_GENAI_USE_VERTEXAI",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


def mount_apps(server: EmulatorServer) -> EmulatorServer:
    """Mount the OpenAI and Gemini apps unless the default apps already did."""
    if "/openai" not in server.apps:
        server.mount("/openai", OpenAIEmulator())
    if "/gemini" not in server.apps:
        server.mount("/gemini", GeminiEmulator())
    return server


@pytest.fixture(scope="module")
def _module_server() -> Iterator[EmulatorServer]:
    with running_emulator() as server:
        yield mount_apps(server)


@pytest.fixture
def server(_module_server: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    """The module's emulator with a fresh log, stats and scenario memory; no proxies."""
    for name in _KEY_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    _module_server.reset()
    return _module_server


@pytest.fixture
def openai_env(server: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    """OPENAI_BASE_URL at the emulator and OPENAI_API_KEY set to :data:`OPENAI_SECRET`."""
    monkeypatch.setenv("OPENAI_BASE_URL", f"{server.root}/openai/v1")
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_SECRET)
    return server


@pytest.fixture
def gemini_env(server: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    """TWAT_GENAI_GEMINI_BASE_URL at the emulator and GEMINI_API_KEY = :data:`GEMINI_SECRET`."""
    monkeypatch.setenv("TWAT_GENAI_GEMINI_BASE_URL", f"{server.root}/gemini")
    monkeypatch.setenv("GEMINI_API_KEY", GEMINI_SECRET)
    return server


def make_image(
    path: Path, size: tuple[int, int] = (640, 480), color: tuple[int, int, int] = (40, 90, 160)
) -> Path:
    """Write a non-uniform test image; the format follows the suffix."""
    img = Image.new("RGB", size, color)
    w, h = size
    ImageDraw.Draw(img).ellipse([w // 4, h // 4, 3 * w // 4, 3 * h // 4], fill=(230, 200, 30))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


def make_mask(path: Path, size: tuple[int, int]) -> Path:
    """An OpenAI-style mask: opaque everywhere except a transparent square to repaint."""
    mask = Image.new("RGBA", size, (0, 0, 0, 255))
    w, h = size
    ImageDraw.Draw(mask).rectangle([w // 4, h // 4, w // 2, h // 2], fill=(0, 0, 0, 0))
    mask.save(path)
    return path


@pytest.fixture
def image_factory(tmp_path: Path) -> Callable[..., Path]:
    """``image_factory(name, size=(640, 480))`` writes an input image under ``tmp_path/in``."""

    def make(name: str, size: tuple[int, int] = (640, 480), **kw: Any) -> Path:
        return make_image(tmp_path / "in" / name, size, **kw)

    return make


def assert_no_secret(secret: str, out_dir: Path, server: EmulatorServer) -> None:
    """Neither any file under ``out_dir`` nor the emulator's request log holds ``secret``."""
    needle = secret.encode()
    if out_dir.exists():
        for path in out_dir.rglob("*"):
            if path.is_file():
                assert needle not in path.read_bytes(), f"{secret!r} leaked into {path}"
    assert secret not in json.dumps(server.requests)


def calls(server: EmulatorServer, provider: str) -> list[dict[str, Any]]:
    """The request log entries of one provider."""
    return [e for e in server.requests if e["provider"] == provider]


def sidecar(path: Path | None) -> dict[str, Any]:
    """The JSON sidecar beside a saved file."""
    assert path is not None
    data: dict[str, Any] = json.loads(path.with_suffix(".json").read_text())
    return data
