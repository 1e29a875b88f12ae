"""What the project knows about each fal endpoint it calls (SPEC §6)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FalEndpoint:
    id: str
    operation: str
    #: Inputs with a longer side are resized down first (aspect kept, Lanczos).
    max_input_side: int | None = None
    takes_prompt: bool = True
    takes_loras: bool = False


_ALL = [
    FalEndpoint("fal-ai/flux-lora", "text", takes_loras=True),
    FalEndpoint("fal-ai/flux-lora/image-to-image", "image", takes_loras=True),
    FalEndpoint("fal-ai/flux-lora-canny", "canny", takes_loras=True),
    FalEndpoint("fal-ai/flux-lora-depth", "depth", takes_loras=True),
    FalEndpoint("fal-ai/drct-super-resolution", "upscale", 2048, takes_prompt=False),
    FalEndpoint("fal-ai/ideogram/upscale", "upscale", 1024),
    FalEndpoint("fal-ai/recraft-creative-upscale", "upscale", 2048, takes_prompt=False),
    FalEndpoint("fal-ai/recraft-clarity-upscale", "upscale", 2048, takes_prompt=False),
    FalEndpoint("fal-ai/ccsr", "upscale", 2048, takes_prompt=False),
    FalEndpoint("fal-ai/esrgan", "upscale", 2048, takes_prompt=False),
    FalEndpoint("fal-ai/aura-sr", "upscale", 1024, takes_prompt=False),
    FalEndpoint("fal-ai/clarity-upscaler", "upscale", 1024),
    FalEndpoint("fal-ai/bria/expand", "outpaint"),
    FalEndpoint("fal-ai/flux-lora/inpainting", "outpaint_flux", takes_loras=True),
    FalEndpoint("fal-ai/bria/genfill", "genfill"),
]

ENDPOINTS: dict[str, FalEndpoint] = {e.id: e for e in _ALL}

#: Default endpoint per operation.
BY_OPERATION: dict[str, str] = {}
for _e in _ALL:
    BY_OPERATION.setdefault(_e.operation, _e.id)


def endpoint_info(endpoint_id: str) -> FalEndpoint:
    """Known endpoint facts; an unknown endpoint is passed through with neutral defaults."""
    return ENDPOINTS.get(endpoint_id) or FalEndpoint(endpoint_id, "custom")
