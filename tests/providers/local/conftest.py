"""Fixtures for the local provider: no network at all, and small images the tests draw."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from PIL import Image, ImageDraw


class NetworkUsed(AssertionError):
    """Raised by the socket guard when anything tries to reach the network."""


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every connect or name lookup fails the test: the local provider must work offline."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise NetworkUsed(f"network access attempted: {args[1:] or args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    yield


def draw_scene(size: tuple[int, int] = (64, 48), mode: str = "RGB", seed: int = 0) -> Image.Image:
    """A small image with edges, gradients and texture, so upscalers have something to do.

    No pixel is darker than 40 in any channel, so a black fill is easy to detect.
    """
    import numpy as np

    w, h = size
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([60 + 120 * xx / max(1, w - 1), 90 + 60 * yy / max(1, h - 1), 170 + 0 * xx], -1)
    base += rng.normal(0, 6, base.shape)
    img = Image.fromarray(np.clip(base, 40, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    draw.ellipse([w // 4, h // 4, 3 * w // 4, 3 * h // 4], fill=(235, 205, 60))
    draw.line([0, h - 1, w - 1, 0], fill=(200, 60, 60), width=max(1, w // 32))
    draw.rectangle([w // 8, h // 8, w // 8 + w // 10, h // 8 + h // 10], fill=(240, 240, 240))
    if mode in ("RGBA", "LA"):
        alpha = Image.new("L", size, 0)
        ImageDraw.Draw(alpha).ellipse([2, 2, w - 3, h - 3], fill=255)
        alpha.paste(128, (0, 0, w // 2, h // 4))
        img.putalpha(alpha)
    return img if img.mode == mode else img.convert(mode)


@pytest.fixture
def scene() -> Callable[..., Image.Image]:
    """``scene(size=(64, 48), mode="RGB", seed=0)``: a fresh test image."""
    return draw_scene
