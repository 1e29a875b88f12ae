"""Helpers for the gallery tests: images written with a hand-made sidecar (or none)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw


def sidecar_image(
    path: Path,
    sidecar: dict[str, Any] | None,
    *,
    size: tuple[int, int] = (640, 480),
    mode: str = "RGB",
) -> Path:
    """Write a small non-uniform image at ``path`` (format from the suffix) and, unless
    ``sidecar`` is None, ``{name}.json`` beside it holding ``sidecar``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new(mode, size, (40, 90, 160, 255)[: len(mode)])
    ImageDraw.Draw(image).ellipse(
        [size[0] // 4, size[1] // 4, 3 * size[0] // 4, 3 * size[1] // 4],
        fill=(230, 200, 30, 120)[: len(mode)],
    )
    image.save(path, format="PNG" if path.suffix.lower() not in (".jpg", ".jpeg") else "JPEG")
    if sidecar is not None:
        path.with_suffix(".json").write_text(json.dumps(sidecar), encoding="utf-8")
    return path
