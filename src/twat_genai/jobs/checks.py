"""What the catalog lets the core refuse before anything is uploaded or paid for: a retired
model, a parameter the service refuses, a value outside a documented range, a size below the
model's minimum. Each refusal is one line naming the limit; a deprecated model is a warning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twat_genai.core.errors import UsageError

if TYPE_CHECKING:
    from twat_genai.core.models import Request
    from twat_genai.providers.base import Provider
    from twat_genai.providers.catalog import ModelInfo

#: Neutral request fields checked against the model's documented parameters, and how a user
#: writes each one on the command line (a resolution tier is each provider's to map first).
CHECKED_FIELDS = {
    "seed": "--seed",
    "guidance_scale": "--guidance_scale",
    "num_inference_steps": "--num_inference_steps",
    "strength": "--strength",
    "fps": "--fps",
    "num_frames": "--num_frames",
}


def retirement_line(info: ModelInfo) -> str:
    """``gemini-2.5-flash-image was shut down on 2026-10-02; use <id> (alias: nano)``."""
    line = f"{info.id} was shut down on {info.retired}"
    if info.replacement:
        from twat_genai.providers.registry import load_catalog

        catalog = load_catalog()
        target = f"{info.provider}:{info.replacement}"
        entry = catalog.get(info.provider, info.replacement)
        names = [a for a in (entry.aliases if entry else ()) if catalog.alias(a) == target]
        names += [a for a, t in sorted(catalog.aliases.items()) if t == target]
        alias = f" (alias: {names[0]})" if names else ""
        line += f"; use {info.replacement}{alias}"
    return line


def check_request(
    provider: Provider, info: ModelInfo, request: Request, *, allow_retired: bool = False
) -> list[str]:
    """Refuse what the model's catalog entry says the service would refuse; return warnings
    (deprecation, a retired model sent anyway)."""
    warnings: list[str] = []
    if info.retired:
        line = retirement_line(info)
        if allow_retired:
            warnings.append(f"{line} (sent anyway: --allow-retired)")
        elif provider.official_host():
            raise UsageError(f"{line} (--allow-retired sends it anyway)")
        else:
            warnings.append(f"{line}; sent anyway to {provider.base_url}, which may serve it")
    elif info.deprecated:
        instead = f"; {info.replacement} replaces it" if info.replacement else ""
        warnings.append(f"{info.id} is deprecated since {info.deprecated}{instead}")
    if not info.known:
        return warnings
    options: dict[str, Any] = getattr(request, "options", {}) or {}
    for name in info.unsupported:
        if name in options:
            raise UsageError(f"{info.id} does not take {name} (the service answers 400): drop it")
    for neutral in CHECKED_FIELDS:
        value = getattr(request, neutral, None)
        wire = info.wire(neutral)
        spec = info.params.get(wire) if wire else None
        if value is not None and spec is not None and wire is not None:
            spec.check(info.id, wire, value)
    size = getattr(request, "size", None)
    if size is not None and info.size.form != "none":
        pixels = size.width * size.height
        low, high = info.size.min_pixels, info.size.max_pixels
        if low is not None and pixels < low:
            raise UsageError(
                f"{info.id} needs at least {low:,} pixels: {size.width}x{size.height} is "
                f"{pixels:,}; choose a larger --image_size"
            )
        if high is not None and pixels > high:
            raise UsageError(
                f"{info.id} takes at most {high:,} pixels: {size.width}x{size.height} is "
                f"{pixels:,}; choose a smaller --image_size"
            )
    return warnings


__all__ = ["CHECKED_FIELDS", "check_request", "retirement_line"]
