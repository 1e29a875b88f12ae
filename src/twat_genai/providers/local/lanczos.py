"""Lanczos resizing with Pillow: the fast classical upscaler, any factor, no extra needed.

It invents no detail, which is its use: a baseline next to Real-ESRGAN, a preview, and the
fallback where ncnn cannot be installed. Pillow premultiplies alpha while resampling, so edges of
transparent regions do not pick up the colour hidden under fully transparent pixels.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from twat_genai.core.errors import UsageError
from twat_genai.providers.local._images import check_output_size, load_image

if TYPE_CHECKING:
    from PIL import Image as PILImage

__all__ = ["lanczos"]


def lanczos(
    image: PILImage.Image | bytes,
    scale: float | None = None,
    *,
    size: tuple[int, int] | None = None,
) -> PILImage.Image:
    """Resize ``image`` by ``scale`` (any positive factor) or to ``size`` (width, height).

    Exactly one of the two is given. With ``scale`` the output is the input's size times the
    factor, rounded, and at least 1×1. The mode is kept (palette and 1-bit images are resampled
    as RGB/RGBA or L, where Lanczos means something).
    """
    from PIL import Image

    if (scale is None) == (size is None):
        raise UsageError("lanczos: give exactly one of scale or size")
    img = load_image(image)
    if size is None:
        factor = 0.0 if scale is None else float(scale)
        if not (factor > 0 and math.isfinite(factor)):  # also refuses NaN
            raise UsageError(f"lanczos: scale must be positive, got {scale}")
        size = (max(1, round(img.width * factor)), max(1, round(img.height * factor)))
    width, height = size
    check_output_size(width, height, "lanczos")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif img.mode == "1":
        img = img.convert("L")
    return img.resize((width, height), Image.Resampling.LANCZOS)
