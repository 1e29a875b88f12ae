"""What a request will cost, from the model's catalog price: per image, per megapixel, per
second or per call. A price the catalog does not know (or gives as 0) is "unknown", never 0:
an unknown price counts as exceeding any budget."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from twat_genai.core.models import Request
    from twat_genai.providers.catalog import ModelInfo

#: The size assumed for a per-megapixel price when the request names none.
DEFAULT_MEGAPIXELS = 1.0


@dataclass(frozen=True)
class Estimate:
    """The estimated price of one item; ``usd`` is None when unknown."""

    usd: float | None
    basis: str

    @property
    def known(self) -> bool:
        return self.usd is not None

    def text(self) -> str:
        return f"${self.usd:.4f}" if self.usd is not None else "unknown"

    def record(self) -> dict[str, Any]:
        return {
            "estimate_usd": self.usd if self.usd is not None else "unknown",
            "basis": self.basis,
        }


def estimate(info: ModelInfo, request: Request) -> Estimate:
    """The cost of ``request`` on the model ``info`` describes."""
    price = info.price
    if price is not None and price.per == "free":
        return Estimate(0.0, "free: runs on this machine")
    if price is None or not price.usd:
        return Estimate(None, f"{info.id}: no price in the catalog")
    n = int(getattr(request, "n", 1) or 1)
    per = price.per
    if per == "image":
        return Estimate(price.usd * n, f"${price.usd:g} per image x {n}")
    if per == "call":
        return Estimate(price.usd, f"${price.usd:g} per call")
    if per == "megapixel":
        size = getattr(request, "size", None)
        mp = size.width * size.height / 1e6 if size is not None else DEFAULT_MEGAPIXELS
        assumed = "" if size is not None else " (size not given: 1 MP assumed)"
        return Estimate(price.usd * mp * n, f"${price.usd:g} per MP x {mp:.2f} MP x {n}{assumed}")
    if per == "second":
        options = getattr(request, "options", {}) or {}
        seconds = options.get("duration")
        frames, fps = getattr(request, "num_frames", None), getattr(request, "fps", None)
        if seconds is None and frames and fps:
            seconds = frames / fps
        try:
            secs = float(str(seconds).rstrip("s")) if seconds is not None else None
        except ValueError:
            secs = None
        if secs is None:
            return Estimate(None, f"${price.usd:g} per second, duration unknown")
        return Estimate(price.usd * secs, f"${price.usd:g} per second x {secs:g} s")
    return Estimate(None, f"{info.id}: price per {per} is not understood")


__all__ = ["Estimate", "estimate"]
