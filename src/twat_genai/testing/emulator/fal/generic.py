"""Any fal endpoint id the emulator does not know, answered by the shape of its request.

fal hosts hundreds of models and adds more each week; a client that builds ids (a new Flux
variant, a ``workflows/...`` id) must still be testable. The request decides the answer:

- a ``prompt`` and no image input: a text-to-image result (``images[]``, ``seed``,
  ``timings``, ``has_nsfw_concepts``, ``prompt``) of the requested ``image_size`` (preset or
  ``{width, height}``) or ``aspect_ratio`` (``"21:9"`` becomes about one megapixel of that
  shape), else 1024x768;
- an ``image_url`` or ``image_urls`` and a prompt: an edit result in the same shape, at the
  first input's size unless a size or ratio is asked for;
- an image input and no prompt: an image result (``{"image": ...}``), as utility models
  (upscalers, background removal) answer.

Input URLs are fetched as for known endpoints: one that cannot be loaded is a 422.
Arguments are not checked (the schema is unknown), so the log records no ``ignored`` list.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from .. import media
from ..host import Fetched
from ..scenarios import strip_scenarios
from . import args as fa
from .errors import validation_error

if TYPE_CHECKING:
    from PIL import Image

    from ..scenarios import Scenarios


class Models(Protocol):
    """What a generic answer needs of the model side (:class:`.models.FalModels`)."""

    def load(
        self, args: Mapping[str, Any], key: str, fetched: Fetched, value: Any = None
    ) -> Image.Image: ...

    def image(
        self,
        img: Image.Image | None,
        *,
        key: str,
        size: tuple[int, int],
        fmt: str,
        sc: Scenarios,
        sync: bool,
        caption: media.Caption | None = None,
    ) -> dict[str, Any]: ...


#: Pixels of a size chosen from an aspect ratio (about one megapixel, as fal's models do).
RATIO_PIXELS = 1024 * 1024
_RATIO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*:\s*(\d+(?:\.\d+)?)\s*$")
_IMAGE_KEYS = ("image_url", "image_urls", "mask_url")


def size_for_ratio(width: float, height: float, pixels: int = RATIO_PIXELS) -> tuple[int, int]:
    """About ``pixels`` pixels with aspect ``width:height``, sides in multiples of 16."""
    w = math.sqrt(pixels * width / height)
    h = w * height / width
    return max(16, round(w / 16) * 16), max(16, round(h / 16) * 16)


def generic_size(args: dict[str, Any], default: tuple[int, int]) -> tuple[int, int]:
    """The size a request asks for: ``image_size``, else ``aspect_ratio``, else ``default``."""
    size = args.get("image_size")
    if isinstance(size, dict) or (isinstance(size, str) and size in fa.IMAGE_SIZE_PRESETS):
        return fa.image_size(args, default)
    ratio = args.get("aspect_ratio")
    match = _RATIO.match(ratio) if isinstance(ratio, str) else None
    if match:
        rw, rh = float(match.group(1)), float(match.group(2))
        if rw > 0 and rh > 0:
            return size_for_ratio(rw, rh)
    return default  # "auto", other vocabularies: the model's default


def _sources(models: Models, args: dict[str, Any], fetched: Fetched) -> list[Image.Image]:
    out: list[Image.Image] = []
    for key in _IMAGE_KEYS:
        value = args.get(key)
        if key.endswith("_urls") and isinstance(value, list):
            out += [models.load(args, key, fetched, v) for v in value]
        elif value not in (None, ""):
            out.append(models.load(args, key, fetched))
    return out


def generic_output(
    models: Models,
    endpoint: str,
    args: dict[str, Any],
    *,
    sc: Scenarios,
    duration: float,
    fetched: Fetched,
) -> dict[str, Any]:
    """The answer of an endpoint not in the table (see the module docstring)."""
    for key, value in args.items():  # every other file input must load too
        if key.endswith("_url") and key not in _IMAGE_KEYS and isinstance(value, str):
            got = fetched.get(value)
            if got is not None and not isinstance(got, bytes):
                models.load(args, key, fetched)
    prompt = args.get("prompt")
    prompted = isinstance(prompt, str) and bool(prompt.strip())
    sources = _sources(models, args, fetched)
    if not prompted and not sources:
        raise validation_error("prompt", "Field required", "missing", args)
    fmt = args.get("output_format")
    if fmt not in {"jpeg", "png"}:
        fmt = "jpeg" if prompted else "png"
    default = sources[0].size if sources else fa.IMAGE_SIZE_PRESETS["landscape_4_3"]
    size = generic_size(args, default)
    sync = bool(args.get("sync_mode"))
    seed = fa.seed(args, endpoint)
    if not prompted:
        key = f"{endpoint}|{seed}"
        return {"image": models.image(None, key=key, size=size, fmt=fmt, sc=sc, sync=sync)}
    count = args.get("num_images", 1)
    count = count if fa.is_int(count) and 1 <= count <= 8 else 1
    shown = strip_scenarios(str(prompt))
    images = [
        models.image(
            None,
            key=f"{endpoint}|{prompt}|{seed + i}",
            size=size,
            fmt=fmt,
            sc=sc,
            sync=sync,
            caption=media.Caption(shown, seed + i),
        )
        for i in range(count)
    ]
    return {
        "images": images,
        "timings": {"inference": round(duration, 4)},
        "seed": seed,
        "has_nsfw_concepts": [sc.blocked] * count,
        "prompt": prompt,
    }
