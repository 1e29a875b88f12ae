"""The documented import path of the FAL operations and settings (``from
twat_genai.engines.fal.config import ModelTypes, ImageToImageConfig, UpscaleConfig,
OutpaintConfig, UPSCALE_TOOL_MAX_INPUT_SIZES``); they live in
:mod:`twat_genai.engines.fal.operations` and :mod:`twat_genai.engines.fal.settings`."""

from typing import Any

from twat_genai.engines.fal.operations import UPSCALE_TOOLS, ModelTypes, upscale_max_input_sizes
from twat_genai.engines.fal.settings import (
    ImageToImageConfig,
    OutpaintConfig,
    UpscaleConfig,
    upscale_arguments,
)

__all__ = [
    "UPSCALE_TOOLS",
    "ImageToImageConfig",
    "ModelTypes",
    "OutpaintConfig",
    "UpscaleConfig",
    "upscale_arguments",
]


def __getattr__(name: str) -> Any:
    if name == "UPSCALE_TOOL_MAX_INPUT_SIZES":
        return upscale_max_input_sizes()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
