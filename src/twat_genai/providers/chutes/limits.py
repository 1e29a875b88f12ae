"""Chutes' value ranges, checked before any request: the gateway answers a vague 400 (and only
after a cold start) for a value out of range (PROTOCOLS §4.3, §4.4)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from twat_genai.core.errors import UsageError

HIDREAM_RESOLUTIONS = (
    "1024x1024",
    "768x1360",
    "1360x768",
    "880x1168",
    "1168x880",
    "1248x832",
    "832x1248",
)
#: SkyReels resolutions and the frame size an image2video first frame is cover-cropped to.
SKYREELS_FRAMES: dict[str, tuple[int, int]] = {"540P": (960, 544), "720P": (1280, 720)}
FLF2V_RESOLUTIONS = ("1280*720", "720*1280", "832*480", "480*832", "1024*1024")
#: SkyReels names accepted for flf2video; Wan 2.1 has no 540P, its nearest is 480p.
FLF2V_ALIASES = {"720P": "1280*720", "540P": "832*480"}
SEED_MAX = 2**32 - 1

# --------------------------------------------------------------------------- limits


@dataclass(frozen=True)
class Range:
    """A numeric field's allowed range (``hi=None``: no upper bound)."""

    lo: float
    hi: float | None = None
    integer: bool = False

    def check(self, name: str, value: Any) -> None:
        kind = "an integer" if self.integer else "a number"
        ok_type = isinstance(value, int) if self.integer else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok_type or not math.isfinite(value):
            raise UsageError(f"chutes: {name} must be {kind} (got {value!r})")
        if value < self.lo or (self.hi is not None and value > self.hi):
            bounds = f"{_num(self.lo)}–{_num(self.hi)}" if self.hi is not None else f"≥ {self.lo}"
            raise UsageError(f"chutes: {name} must be in {bounds} (got {value!r})")


@dataclass(frozen=True)
class OneOf:
    """An enum field."""

    values: tuple[str, ...]

    def check(self, name: str, value: Any) -> None:
        if value not in self.values:
            raise UsageError(
                f"chutes: {name} must be one of {', '.join(self.values)} (got {value!r})"
            )


@dataclass(frozen=True)
class FourNPlusOne:
    """Wan 2.1 frame counts: 4n+1 (its VAE compresses time by 4)."""

    lo: int = 5

    def check(self, name: str, value: Any) -> None:
        Range(self.lo, integer=True).check(name, value)
        if (value - 1) % 4:
            lower = value - (value - 1) % 4
            raise UsageError(
                f"chutes: {name} must be 4n+1, e.g. {lower} or {lower + 4} (got {value})"
            )


Check = Range | OneOf | FourNPlusOne

SEED = Range(0, SEED_MAX, integer=True)
STEPS = Range(1, 50, integer=True)
GUIDANCE = Range(1, 20)
SIDE = Range(128, 2048, integer=True)
FPS = Range(1, 60, integer=True)

DIFFUSION_LIMITS: dict[str, Check] = {
    "width": SIDE,
    "height": SIDE,
    "num_inference_steps": STEPS,
    "guidance_scale": GUIDANCE,
    "seed": SEED,
}
HIDREAM_LIMITS: dict[str, Check] = {
    "resolution": OneOf(HIDREAM_RESOLUTIONS),
    "num_inference_steps": STEPS,
    "guidance_scale": GUIDANCE,
    "seed": SEED,
}
HIDREAM_EDIT_LIMITS: dict[str, Check] = {
    "num_inference_steps": STEPS,
    "guidance_scale": GUIDANCE,
    "image_guidance_scale": GUIDANCE,
    "seed": SEED,
}
SKYREELS_LIMITS: dict[str, Check] = {
    "resolution": OneOf(tuple(SKYREELS_FRAMES)),
    "fps": FPS,
    "num_frames": Range(1, integer=True),
    "guidance_scale": GUIDANCE,
    "inference_steps": STEPS,
    "shift": Range(0),
    "seed": SEED,
}
FLF2V_LIMITS: dict[str, Check] = {
    "resolution": OneOf(FLF2V_RESOLUTIONS),
    "fps": FPS,
    "frames": FourNPlusOne(),
    "guidance_scale": GUIDANCE,
    "steps": STEPS,
    "seed": SEED,
}


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)
