"""FAL operations (``ModelTypes``): the README's names for the endpoints its commands call.

``ModelTypes.X.value`` is the fal endpoint id; the model catalog (``providers/fal/models.toml``)
holds what each endpoint takes.
"""

from __future__ import annotations

from enum import Enum
from typing import Any


class ModelTypes(str, Enum):
    """Each FAL operation and the endpoint it calls."""

    TEXT = "fal-ai/flux-lora"
    IMAGE = "fal-ai/flux-lora/image-to-image"
    CANNY = "fal-ai/flux-lora-canny"
    DEPTH = "fal-ai/flux-lora-depth"
    UPSCALER_DRCT = "fal-ai/drct-super-resolution"
    UPSCALER_IDEOGRAM = "fal-ai/ideogram/upscale"
    UPSCALER_RECRAFT_CREATIVE = "fal-ai/recraft/upscale/creative"
    UPSCALER_RECRAFT_CLARITY = "fal-ai/recraft/upscale/crisp"  # fal renamed "clarity" to crisp
    UPSCALER_CCSR = "fal-ai/ccsr"
    UPSCALER_ESRGAN = "fal-ai/esrgan"
    UPSCALER_AURA_SR = "fal-ai/aura-sr"
    UPSCALER_CLARITY = "fal-ai/clarity-upscaler"
    OUTPAINT_BRIA = "fal-ai/bria/expand"
    OUTPAINT_FLUX = "fal-ai/flux-lora/inpainting"

    def __str__(self) -> str:
        return self.value

    @property
    def operation(self) -> str:
        """text, image, canny, depth, upscale, outpaint or outpaint_flux."""
        return _OPERATIONS.get(self.name, "upscale")

    @property
    def is_upscaler(self) -> bool:
        return self.operation == "upscale"

    @classmethod
    def parse(cls, value: Any) -> ModelTypes:
        """A member from itself, its endpoint id or its name (any case); anything else is a
        :class:`~twat_genai.core.errors.UsageError` listing the names."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            for member in cls:
                if value in (member.value, member.name) or value.upper() == member.name:
                    return member
        from twat_genai.core.errors import UsageError

        raise UsageError(
            f"invalid model {value!r}: use a ModelTypes member such as ModelTypes.TEXT "
            f"({', '.join(m.name for m in cls)})"
        )


_OPERATIONS = {
    "TEXT": "text",
    "IMAGE": "image",
    "CANNY": "canny",
    "DEPTH": "depth",
    "OUTPAINT_BRIA": "outpaint",
    "OUTPAINT_FLUX": "outpaint_flux",
}

#: CLI ``--tool`` names of the upscalers.
UPSCALE_TOOLS: dict[str, ModelTypes] = {
    "aura_sr": ModelTypes.UPSCALER_AURA_SR,
    "ccsr": ModelTypes.UPSCALER_CCSR,
    "clarity": ModelTypes.UPSCALER_CLARITY,
    "drct": ModelTypes.UPSCALER_DRCT,
    "esrgan": ModelTypes.UPSCALER_ESRGAN,
    "ideogram": ModelTypes.UPSCALER_IDEOGRAM,
    "recraft_clarity": ModelTypes.UPSCALER_RECRAFT_CLARITY,
    "recraft_creative": ModelTypes.UPSCALER_RECRAFT_CREATIVE,
}
TOOL_OF = {v: k for k, v in UPSCALE_TOOLS.items()}


def upscale_max_input_sizes() -> dict[ModelTypes, int]:
    """Longest input side each upscaler takes (from the model catalog); larger inputs are
    resized first."""
    from twat_genai.providers.fal import FalProvider

    return {
        m: FalProvider.model_info(m.value).max_input_side or 2048 for m in UPSCALE_TOOLS.values()
    }


def __getattr__(name: str) -> Any:
    # Computed on first use: the catalog is a file, and importing must not read files.
    if name == "UPSCALE_TOOL_MAX_INPUT_SIZES":
        return upscale_max_input_sizes()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
