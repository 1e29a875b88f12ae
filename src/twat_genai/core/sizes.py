"""Image sizes and output formats, and the one parser every entry point uses for sizes.

The CLI, the engine configs and the providers all go through :func:`parse_image_size`, so
``"HD"``, ``"landscape_16_9"``, ``"1024,768"``, ``"1024x768"`` and ``(1024, 768)`` mean the same
thing everywhere. How a size reaches the wire (a provider's preset name, ``W×H``, an aspect
ratio) is each provider's business.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any

from twat_genai.core.errors import UsageError
from twat_genai.core.inputs import ImageSizeWH

#: Largest side accepted for an explicit size (matches :class:`ImageSizeWH`).
MAX_SIDE = 16384


class ImageSizes(str, Enum):
    """Named sizes (SPEC §5.1). Each value is another accepted spelling of the name (the common
    preset names such as ``landscape_16_9``, or ``"WxH"``)."""

    SQ = "square_hd"
    SQL = "square"
    SDV = "portrait_4_3"
    HDV = "portrait_16_9"
    SD = "landscape_4_3"
    HD = "landscape_16_9"
    PORT = "768x1024"
    LAND = "1024x768"
    WIDE = "1216x832"
    ULTRA = "1344x768"

    def __str__(self) -> str:
        return self.value

    @property
    def width(self) -> int:
        return _PIXELS[self.name][0]

    @property
    def height(self) -> int:
        return _PIXELS[self.name][1]

    @property
    def wh(self) -> ImageSizeWH:
        return ImageSizeWH(width=self.width, height=self.height)


_PIXELS: dict[str, tuple[int, int]] = {
    "SQ": (1024, 1024),
    "SQL": (512, 512),
    "SDV": (768, 1024),
    "HDV": (576, 1024),
    "SD": (1024, 768),
    "HD": (1024, 576),
    "PORT": (768, 1024),
    "LAND": (1024, 768),
    "WIDE": (1216, 832),
    "ULTRA": (1344, 768),
}


class ImageFormats(str, Enum):
    """Output encodings; the value is the name providers and Pillow use."""

    JPG = "jpeg"
    PNG = "png"
    WEBP = "webp"

    def __str__(self) -> str:
        return self.value

    @property
    def extension(self) -> str:
        """File extension without the dot (``jpg`` for JPEG, the short conventional form)."""
        return "jpg" if self is ImageFormats.JPG else self.value

    @property
    def mime(self) -> str:
        return f"image/{self.value}"

    @classmethod
    def parse(cls, value: str | ImageFormats) -> ImageFormats:
        """Accept ``jpg``/``jpeg``/``png``/``webp`` in any case, a ``.ext`` or a MIME type."""
        if isinstance(value, ImageFormats):
            return value
        key = str(value).strip().lower().removeprefix("image/").lstrip(".")
        key = "jpeg" if key in ("jpg", "jpe") else key
        for member in cls:
            if member.value == key:
                return member
        raise UsageError(f"invalid image format {value!r}: use jpeg, png or webp")


_PRESET_NAMES = ", ".join(m.name for m in ImageSizes)
_WH_RE = re.compile(r"^\s*([+-]?\d+)\s*[,xX×]\s*([+-]?\d+)\s*$")


def _bad_size(value: Any) -> UsageError:
    shown = value if isinstance(value, str) else repr(value)
    return UsageError(
        f"invalid image size {shown!r}: use a preset ({_PRESET_NAMES}) "
        "or WIDTH,HEIGHT such as 1024,768"
    )


def _make_wh(value: Any, width: Any, height: Any) -> ImageSizeWH:
    """Build an explicit size, refusing non-integers and sides outside 1..MAX_SIDE."""
    sides: list[int] = []
    for side in (width, height):
        whole = (
            (isinstance(side, int) and not isinstance(side, bool))
            or (isinstance(side, float) and side.is_integer())
            or (isinstance(side, str) and re.fullmatch(r"\s*[+-]?\d+\s*", side) is not None)
        )
        if not whole:
            raise _bad_size(value)
        sides.append(int(side))
    w, h = sides
    if not (0 < w <= MAX_SIDE and 0 < h <= MAX_SIDE):
        shown = value if isinstance(value, str) else repr(value)
        raise UsageError(
            f"invalid image size {shown!r}: width and height must be between 1 and {MAX_SIDE}"
        )
    return ImageSizeWH(width=w, height=h)


def parse_image_size(value: Any) -> ImageSizes | ImageSizeWH:
    """Turn any accepted spelling of a size into a preset or an explicit size.

    Accepts an :class:`ImageSizes`, an :class:`ImageSizeWH`, a preset name in any case
    (``"HD"``), a FAL preset value (``"landscape_16_9"``), ``"W,H"`` / ``"WxH"`` (``X``, ``×`` and
    spaces allowed), a ``(w, h)`` tuple or list, or a ``{"width", "height"}`` mapping. A ``W,H``
    string always gives an :class:`ImageSizeWH`, even when it equals a preset's pixels.
    """
    if isinstance(value, ImageSizes | ImageSizeWH):
        return value
    if isinstance(value, str):
        text = value.strip()
        match = _WH_RE.match(text)
        if match:
            return _make_wh(value, match.group(1), match.group(2))
        upper = text.upper()
        if upper in ImageSizes.__members__:
            return ImageSizes[upper]
        for member in ImageSizes:
            if member.value == text.lower():
                return member
        raise _bad_size(value)
    if isinstance(value, Mapping):
        if set(value) != {"width", "height"}:
            raise _bad_size(value)
        return _make_wh(value, value["width"], value["height"])
    if isinstance(value, tuple | list) and len(value) == 2:
        return _make_wh(value, value[0], value[1])
    raise _bad_size(value)


def size_to_wh(size: Any) -> ImageSizeWH:
    """Pixels for any accepted size spelling."""
    parsed = parse_image_size(size)
    return parsed.wh if isinstance(parsed, ImageSizes) else parsed


def _ratio(choice: str) -> float:
    parts = re.split(r"\s*[:/xX]\s*", choice.strip())
    try:
        a, b = (float(p) for p in parts)
    except ValueError:
        raise UsageError(
            f"invalid aspect ratio {choice!r}: use WIDTH:HEIGHT such as 16:9"
        ) from None
    if not (a > 0 and b > 0 and math.isfinite(a) and math.isfinite(b)):
        raise UsageError(f"invalid aspect ratio {choice!r}: both sides must be positive")
    return a / b


def nearest_aspect_ratio(width: float, height: float, choices: Sequence[str]) -> str:
    """The choice (``"W:H"``) closest to ``width/height`` by log-ratio distance; first wins ties.

    Log distance treats 2:1 and 1:2 as equally far from 1:1, which plain ratio difference does not.
    """
    if not choices:
        raise UsageError("nearest_aspect_ratio needs at least one choice such as '1:1'")
    if not (width > 0 and height > 0):
        raise UsageError(f"invalid size {width}x{height}: width and height must be positive")
    target = math.log(width / height)
    return min(choices, key=lambda c: abs(math.log(_ratio(c)) - target))


def size_for_aspect_ratio(
    ratio: str, *, area: int = 1024 * 1024, multiple: int = 16
) -> ImageSizeWH:
    """Pixels for an aspect ratio (``"16:9"``) at about ``area`` pixels, both sides multiples
    of ``multiple``: how ``--ar`` reaches a provider that takes sizes, not ratios."""
    r = _ratio(ratio)
    width = max(multiple, round(math.sqrt(area * r) / multiple) * multiple)
    height = max(multiple, round(math.sqrt(area / r) / multiple) * multiple)
    return ImageSizeWH(width=width, height=height)
