"""Canny edge maps (OpenCV), the control image that Canny ControlNets take.

Thresholds default to the "auto Canny" rule that ControlNet-style preprocessors use when no
thresholds are given: ``(1 ± sigma) × median`` of the grey levels, so a dark photograph and a
bright drawing both give a usable map without tuning. A light 3×3 blur first keeps sensor noise
and JPEG ringing from becoming edges.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from twat_genai.core.errors import UsageError
from twat_genai.providers.local._deps import require_cv2, require_numpy
from twat_genai.providers.local._images import load_image, split

if TYPE_CHECKING:
    from PIL import Image as PILImage

__all__ = ["auto_thresholds", "canny"]


def auto_thresholds(median: float, sigma: float = 0.33) -> tuple[int, int]:
    """``(low, high)`` Canny thresholds around ``median`` grey level, ``high > low``."""
    low = int(max(0.0, (1.0 - sigma) * median))
    high = int(min(255.0, (1.0 + sigma) * median))
    return low, max(high, low + 1)


def canny(
    image: PILImage.Image | bytes,
    *,
    low: int | None = None,
    high: int | None = None,
    sigma: float = 0.33,
    blur: bool = True,
    mode: Literal["RGB", "L"] = "RGB",
) -> PILImage.Image:
    """An edge map of ``image``: white (255) edges on black (0), the input's size.

    ``low``/``high`` are Canny's hysteresis thresholds; a missing one comes from
    :func:`auto_thresholds`. ``mode`` is ``"RGB"`` (what ControlNet pipelines expect) or ``"L"``.
    Transparent areas are laid on white first, so a cut-out's outline becomes an edge.
    """
    from PIL import Image

    if mode not in ("RGB", "L"):
        raise UsageError(f"canny: mode must be 'RGB' or 'L', got {mode!r}")
    if not 0.0 <= sigma <= 1.0:
        raise UsageError(f"canny: sigma must be between 0 and 1, got {sigma}")
    for name, value in (("low", low), ("high", high)):
        if value is not None and not 0 <= value <= 1024:
            raise UsageError(f"canny: {name} threshold must be between 0 and 1024, got {value}")
    cv2 = require_cv2()
    np = require_numpy()
    rgb, alpha, _ = split(load_image(image))
    if alpha is not None:
        flat = Image.new("RGB", rgb.size, (255, 255, 255))
        flat.paste(rgb, mask=alpha)
        rgb = flat
    grey = np.asarray(rgb.convert("L"), dtype=np.uint8)
    if blur:
        grey = cv2.GaussianBlur(grey, (3, 3), 0)
    auto_low, auto_high = auto_thresholds(float(np.median(grey)), sigma)
    lo = auto_low if low is None else low
    hi = auto_high if high is None else high
    edges = cv2.Canny(grey, lo, max(hi, lo), L2gradient=True)
    out = Image.fromarray(np.ascontiguousarray(edges, dtype=np.uint8))  # 2-D uint8: mode L
    return out if mode == "L" else out.convert("RGB")
