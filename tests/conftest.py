"""Shared fixtures: a fal emulator over real HTTP, the environment pointing at it, helpers.

Packages with their own ``conftest.py`` (tests/testing, tests/core, ...) may override these.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from twat_genai.testing import EmulatorServer, running_emulator

#: A recognisable key: no file, log or output may ever contain it.
SECRET_KEY = "fal-secret-key-0123456789"

# Talk to 127.0.0.1 directly, whatever proxy the machine has configured.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(url: str) -> bytes:
    """GET ``url`` without any proxy and return the body."""
    with _DIRECT.open(url, timeout=30) as resp:
        return bytes(resp.read())


def _post(url: str) -> bytes:
    req = urllib.request.Request(url, data=b"", method="POST")
    with _DIRECT.open(req, timeout=30) as resp:
        return bytes(resp.read())


@pytest.fixture(autouse=True)
def _no_user_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No test reads the developer's own config, catalog, aliases or LoRA files."""
    home = tmp_path_factory.mktemp("config-home")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    for name in ("TWAT_GENAI_CONFIG", "TWAT_GENAI_MODELS", "TWAT_GENAI_LORA_LIB"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def _emulator_module() -> Iterator[EmulatorServer]:
    """One emulator (latency 0) per test module."""
    with running_emulator(port=0) as server:
        yield server


@pytest.fixture
def emulator(_emulator_module: EmulatorServer) -> EmulatorServer:
    """The module's emulator, reset (log, stats, jobs) through ``POST /_emulator/reset``."""
    _post(f"{_emulator_module.root}/_emulator/reset")
    return _emulator_module


@pytest.fixture
def fal_env(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> dict[str, str]:
    """Point fal at the emulator with :data:`SECRET_KEY` and run in ``tmp_path``; the env set."""
    env = {
        "FAL_KEY": SECRET_KEY,
        "TWAT_GENAI_FAL_BASE_URL": f"{emulator.root}/fal",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("TWAT_GENAI_LORA_LIB", raising=False)
    monkeypatch.chdir(tmp_path)
    return env


@pytest.fixture
def requests_log(emulator: EmulatorServer) -> Callable[[], list[dict[str, Any]]]:
    """``requests_log()``: the emulator's request log, fetched from ``/_emulator/requests``."""

    def fetch() -> list[dict[str, Any]]:
        log: list[dict[str, Any]] = json.loads(http_get(f"{emulator.root}/_emulator/requests"))
        return log

    return fetch


def create_image(path: Path, size: tuple[int, int] = (1024, 768), mode: str = "RGB") -> Path:
    """Write a non-uniform test image; the format follows the suffix (``.png``, ``.jpg``)."""
    from PIL import Image, ImageDraw

    w, h = size
    img = Image.new(mode, size, (40, 90, 160, 255)[: len(mode)] if mode != "L" else 100)
    draw = ImageDraw.Draw(img)
    fill = (230, 200, 30, 200)[: len(mode)] if mode != "L" else 220
    draw.ellipse([w // 4, h // 4, 3 * w // 4, 3 * h // 4], fill=fill)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


@pytest.fixture
def make_image() -> Callable[..., Path]:
    """``make_image(path, size=(1024, 768), mode="RGB")`` writes an image and returns its path."""
    return create_image


@pytest.fixture
def fetch() -> Callable[[str], bytes]:
    """``fetch(url)``: the body of a GET over real HTTP, bypassing proxies."""
    return http_get


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """``run_cli(*argv)`` runs ``twat_genai.cli.main`` in-process: (exit code, stdout, stderr).

    argparse errors (``SystemExit``) count as exit codes too.
    """
    from twat_genai.cli import main

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            code = main(list(argv))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        return code, out, err

    return run
