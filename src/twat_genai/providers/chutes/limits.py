"""Chutes' fixed value sets (resolutions, frame sizes) and the one rule the catalog cannot
state (Wan's 4n+1 frame counts); ranges come from the model catalog (PROTOCOLS §4.3, §4.4)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from twat_genai.core.errors import UsageError

if TYPE_CHECKING:
    from twat_genai.providers.catalog import ModelInfo

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

# --------------------------------------------------------------------------- checks


@dataclass(frozen=True)
class FourNPlusOne:
    """Wan 2.1 frame counts: 4n+1 (its VAE compresses time by 4); the range is the
    catalog's."""

    def check(self, model: str, name: str, value: Any) -> None:
        if isinstance(value, int) and not isinstance(value, bool) and (value - 1) % 4:
            lower = value - (value - 1) % 4
            raise UsageError(
                f"{model}: {name} must be 4n+1, e.g. {lower} or {lower + 4} (got {value})"
            )


def check_body(info: ModelInfo, body: Mapping[str, Any], rules: Mapping[str, FourNPlusOne]) -> None:
    """Refuse a body value the model's catalog entry does not allow (or that breaks one of the
    cord's own ``rules``), before any request: the gateway would answer a vague 400, and only
    after a cold start."""
    for name, value in body.items():
        spec = info.params.get(name)
        if spec is not None and value is not None:
            spec.check(info.id, name, value)
        rule = rules.get(name)
        if rule is not None and value is not None:
            rule.check(info.id, name, value)
