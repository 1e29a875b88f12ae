"""fal outpainting geometry (SPEC §6.4, §6.5): where Bria puts the original on its canvas, the
GenFill border mask over the seam, and the padded canvas plus mask for Flux inpainting.

Rectangles follow Pillow's ``ImageDraw.rectangle``: both corner pixels are *inclusive*.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from twat_genai.core.errors import UsageError
from twat_genai.core.media import decode_image, encode_png

if TYPE_CHECKING:
    from PIL import Image as PILImage


def center_location(canvas_w: int, canvas_h: int, w: int, h: int) -> tuple[int, int]:
    """Top-left corner that centres a w×h image on a canvas (floor division, as Bria expects)."""
    return (canvas_w - w) // 2, (canvas_h - h) // 2


@dataclass(frozen=True)
class GenfillGeometry:
    """Numbers behind the GenFill border mask (SPEC §6.4). Boxes are inclusive (Pillow)."""

    thickness: int
    inside: int
    outside: int
    left: int
    top: int
    right: int
    bottom: int
    #: White band (x0, y0, x1, y1), clamped to the canvas.
    band: tuple[int, int, int, int]
    #: Black hole inside the band, or None when degenerate.
    hole: tuple[int, int, int, int] | None


def genfill_geometry(
    out_w: int, out_h: int, orig_w: int, orig_h: int, factor: float
) -> GenfillGeometry | None:
    """Where the seam band goes; None when the thickness rounds to zero (no GenFill)."""
    if min(out_w, out_h, orig_w, orig_h) <= 0:
        raise ValueError("sizes must be positive")
    t = round(min(out_w, out_h) * factor)
    if t <= 0:
        return None
    inside = round(t * 0.10)
    outside = t - inside
    left, top = center_location(out_w, out_h, orig_w, orig_h)
    right, bottom = left + orig_w, top + orig_h
    band = (
        max(0, left - outside),
        max(0, top - outside),
        min(out_w - 1, right + outside),
        min(out_h - 1, bottom + outside),
    )
    hx0, hy0, hx1, hy1 = left + inside, top + inside, right - inside, bottom - inside
    hole = (hx0, hy0, hx1, hy1) if hx1 > hx0 and hy1 > hy0 else None
    return GenfillGeometry(t, inside, outside, left, top, right, bottom, band, hole)


def create_genfill_border_mask(
    out_w: int, out_h: int, orig_w: int, orig_h: int, factor: float
) -> PILImage.Image | None:
    """Mode-L mask: white band over the outpaint seam, black elsewhere; None when t ≤ 0."""
    from PIL import Image, ImageDraw

    geo = genfill_geometry(out_w, out_h, orig_w, orig_h, factor)
    if geo is None:
        return None
    mask = Image.new("L", (out_w, out_h), 0)
    draw = ImageDraw.Draw(mask)
    bx0, by0, bx1, by1 = geo.band
    if bx1 >= bx0 and by1 >= by0:
        draw.rectangle(geo.band, fill=255)
    if geo.hole is not None:
        draw.rectangle(geo.hole, fill=0)
    return mask


def create_flux_inpainting_assets(
    img_bytes: bytes, canvas_w: int, canvas_h: int
) -> tuple[bytes, bytes]:
    """(big image, mask) PNGs for Flux inpainting outpaint (SPEC §6.5).

    The mask is white (generate) except the original, black (keep) — or ``255 − alpha`` where
    the input is transparent — shrunk by 2 px on each side so the seam is regenerated. The big
    image is a transparent canvas with the input's own RGBA pixels at the centre.
    """
    from PIL import Image, ImageChops

    img = decode_image(img_bytes)
    try:
        w, h = img.size
        if w > canvas_w or h > canvas_h:
            raise UsageError(
                f"input image {w}x{h} does not fit the {canvas_w}x{canvas_h} outpaint canvas"
            )
        pos = center_location(canvas_w, canvas_h, w, h)
        has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info
        rgba = img.convert("RGBA")
    finally:
        img.close()
    small = ImageChops.invert(rgba.getchannel("A")) if has_alpha else Image.new("L", (w, h), 0)
    mask = Image.new("L", (canvas_w, canvas_h), 255)
    if w > 4 and h > 4:
        mask.paste(small.crop((2, 2, w - 2, h - 2)), (pos[0] + 2, pos[1] + 2))
    else:
        mask.paste(small, pos)
    big = Image.new("RGBA", (canvas_w, canvas_h), (0, 0, 0, 0))
    # Pasting onto a fully transparent canvas keeps the input's RGBA exactly (its own alpha).
    big.paste(rgba, pos)
    return encode_png(big), encode_png(mask)
