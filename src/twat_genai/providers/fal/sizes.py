"""How a size reaches fal: ``image_size`` as one of fal's six preset strings, else
``{"width", "height"}`` (never top-level width/height: the previous implementation did that,
and fal silently made 1024x1024). https://fal.ai/models/fal-ai/flux-lora/api
"""

from __future__ import annotations

from typing import Any

from twat_genai.core.sizes import ImageSizes, parse_image_size, size_to_wh

#: fal's ``image_size`` presets for the named sizes that have one.
FAL_PRESETS: dict[ImageSizes, str] = {
    ImageSizes.SQ: "square_hd",
    ImageSizes.SQL: "square",
    ImageSizes.SDV: "portrait_4_3",
    ImageSizes.HDV: "portrait_16_9",
    ImageSizes.SD: "landscape_4_3",
    ImageSizes.HD: "landscape_16_9",
}


def fal_image_size(size: Any) -> str | dict[str, int]:
    """fal's ``image_size`` for any accepted size spelling: a preset string for its six
    presets, else ``{"width", "height"}``."""
    parsed = parse_image_size(size)
    if isinstance(parsed, ImageSizes) and parsed in FAL_PRESETS:
        return FAL_PRESETS[parsed]
    wh = size_to_wh(parsed)
    return {"width": wh.width, "height": wh.height}
