"""Reading a fal request's arguments in fal's validation style (422 ``detail`` on bad input)."""

from __future__ import annotations

import hashlib
import json
from typing import Any, TypeGuard

from .errors import validation_error

#: fal's ``image_size`` presets.
IMAGE_SIZE_PRESETS: dict[str, tuple[int, int]] = {
    "square_hd": (1024, 1024),
    "square": (512, 512),
    "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024),
    "landscape_4_3": (1024, 768),
    "landscape_16_9": (1024, 576),
}


def is_int(value: object) -> TypeGuard[int]:
    """An int that is not a bool (JSON ``true`` is not a count)."""
    return isinstance(value, int) and not isinstance(value, bool)


def image_size(args: dict[str, Any], default: tuple[int, int]) -> tuple[int, int]:
    """``image_size`` as a preset name or ``{width, height}``; ``default`` when absent."""
    value = args.get("image_size")
    if value is None:
        return default
    if isinstance(value, str):
        if value in IMAGE_SIZE_PRESETS:
            return IMAGE_SIZE_PRESETS[value]
        allowed = ", ".join(f"'{k}'" for k in IMAGE_SIZE_PRESETS)
        raise validation_error("image_size", f"Input should be {allowed}", "literal_error", value)
    if isinstance(value, dict):
        w, h = value.get("width"), value.get("height")
        if is_int(w) and is_int(h) and 1 <= w <= 14142 and 1 <= h <= 14142:
            return int(w), int(h)
    raise validation_error(
        "image_size",
        "Input should be a preset or {width, height} in 1..14142",
        "value_error",
        value,
    )


def output_format(args: dict[str, Any], default: str) -> str:
    """``output_format``: ``jpeg`` or ``png``."""
    value = args.get("output_format", default)
    if value not in {"jpeg", "png"}:
        raise validation_error(
            "output_format", "Input should be 'jpeg' or 'png'", "literal_error", value
        )
    return str(value)


def int_arg(args: dict[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    """An integer argument within ``lo..hi``."""
    value = args.get(key, default)
    if not is_int(value) or not lo <= value <= hi:
        msg = f"Input should be an integer between {lo} and {hi}"
        raise validation_error(key, msg, "value_error", value)
    return int(value)


def float_arg(args: dict[str, Any], key: str, default: float, lo: float, hi: float) -> float:
    """A number argument within ``lo..hi``."""
    value = args.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        msg = f"Input should be a number between {lo} and {hi}"
        raise validation_error(key, msg, "value_error", value)
    return float(value)


def pair(
    args: dict[str, Any], key: str, default: tuple[int, int] | None, lo: int, hi: int
) -> tuple[int, int]:
    """A ``[a, b]`` integer pair (Bria's canvas sizes and locations)."""
    value = args.get(key)
    if value is None:
        if default is None:
            raise validation_error(key, "Field required", "missing", args)
        return default
    if (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(is_int(v) and lo <= v <= hi for v in value)
    ):
        return int(value[0]), int(value[1])
    msg = f"Input should be a list of two integers in {lo}..{hi}"
    raise validation_error(key, msg, "value_error", value)


def seed(args: dict[str, Any], salt: str) -> int:
    """The given seed, else one derived from the arguments (same request, same picture)."""
    value = args.get("seed")
    if is_int(value):
        return int(value)
    blob = json.dumps(args, sort_keys=True, default=str) + salt
    return int.from_bytes(hashlib.sha256(blob.encode()).digest()[:4], "big") >> 1
