"""Image plumbing shared by the local operations: accept bytes or Pillow images, keep the mode.

Every operation works on RGB (what the networks and OpenCV expect) and hands back the mode it was
given: an RGBA input stays RGBA, an L input stays L. The alpha channel travels separately, so an
operation decides how alpha is treated (resampled, filled) instead of having it mixed into colour.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from twat_genai.core.errors import UsageError
from twat_genai.core.media import MAX_PIXELS, decode_image

if TYPE_CHECKING:
    from PIL import Image as PILImage

__all__ = ["MAX_OUTPUT_PIXELS", "check_output_size", "load_image", "merge", "split"]

#: Largest output accepted (pixels): 16384×16384, about 0.8 GB as RGB bytes. An x4 upscale of
#: the largest accepted input would otherwise ask for 3 GB before any work is done.
MAX_OUTPUT_PIXELS = 4 * MAX_PIXELS

# Modes kept as they are; any other mode is converted to RGB, or to RGBA when it carries alpha.
_KEPT = frozenset({"RGB", "RGBA", "L", "LA"})


def load_image(image: PILImage.Image | bytes, *, source: str = "input") -> PILImage.Image:
    """A loaded Pillow image from ``image``; bytes go through the project's bomb-safe decoder."""
    from PIL import Image

    if isinstance(image, (bytes, bytearray, memoryview)):
        return decode_image(bytes(image), source=source)
    if not isinstance(image, Image.Image):
        raise UsageError(f"{source}: expected a Pillow image or encoded bytes, got {type(image)!r}")
    image.load()
    return image


def _has_alpha(img: PILImage.Image) -> bool:
    return img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info


def split(img: PILImage.Image) -> tuple[PILImage.Image, PILImage.Image | None, str]:
    """``(rgb, alpha or None, mode to hand back)`` for ``img``."""
    out_mode = img.mode if img.mode in _KEPT else ("RGBA" if _has_alpha(img) else "RGB")
    if img.mode not in _KEPT:
        img = img.convert(out_mode)
    if out_mode in ("RGBA", "LA"):
        alpha = img.getchannel("A")
        return img.convert("RGB"), alpha, out_mode
    return (img if img.mode == "RGB" else img.convert("RGB")), None, out_mode


def merge(rgb: PILImage.Image, alpha: PILImage.Image | None, mode: str) -> PILImage.Image:
    """The inverse of :func:`split`: ``rgb`` with ``alpha`` attached, in ``mode``."""
    if alpha is not None:
        if alpha.size != rgb.size:
            raise ValueError(f"alpha {alpha.size} does not match colour {rgb.size}")
        out = rgb.convert("RGBA")
        out.putalpha(alpha)
        return out if mode == "RGBA" else out.convert(mode)
    return rgb if mode == rgb.mode else rgb.convert(mode)


def check_output_size(width: int, height: int, what: str) -> None:
    """Refuse an output above :data:`MAX_OUTPUT_PIXELS` before allocating it."""
    if width < 1 or height < 1:
        raise UsageError(f"{what}: output size {width}x{height} is empty")
    if width * height > MAX_OUTPUT_PIXELS:
        raise UsageError(
            f"{what}: output {width}x{height} is above the {MAX_OUTPUT_PIXELS:,}-pixel limit; "
            "use a smaller input or factor"
        )
