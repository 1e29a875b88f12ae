"""Every import path the README documents keeps working, whatever module holds the name now."""

from __future__ import annotations

import importlib

import pytest

DOCUMENTED = {
    "twat_genai.core.config": ("ImageInput", "ImageResult", "ImageSizeWH"),
    "twat_genai.core.lora": ("LoraRecord", "LoraLib", "LoraSpecEntry", "CombinedLoraSpecEntry"),
    "twat_genai.core.prompt": ("normalize_prompts",),
    "twat_genai.engines.base": ("ImageGenerationEngine", "EngineConfig"),
    "twat_genai.engines.fal.config": (
        "ModelTypes",
        "ImageToImageConfig",
        "UpscaleConfig",
        "OutpaintConfig",
        "UPSCALE_TOOL_MAX_INPUT_SIZES",
    ),
    "twat_genai.engines.fal.models": ("FALImageInput",),
    "twat_genai.cli": ("TwatGenAiCLI",),
    "twat_genai": (
        "FALEngine",
        "ModelTypes",
        "EngineConfig",
        "ImageInput",
        "FALImageInput",
        "ImageToImageConfig",
        "UpscaleConfig",
        "OutpaintConfig",
        "ChutesClient",
        "OpenAIImageClient",
        "GeminiImageClient",
        "TwatGenAiCLI",
        "generate",
        "agenerate",
        "generate_video",
    ),
}


@pytest.mark.parametrize(("module", "names"), sorted(DOCUMENTED.items()))
def test_documented_import_paths(module: str, names: tuple[str, ...]) -> None:
    """``from <module> import <name>`` works for each documented pair."""
    mod = importlib.import_module(module)
    for name in names:
        assert getattr(mod, name) is not None, f"{module}.{name}"


def test_upscale_input_limits_come_from_the_catalog() -> None:
    """The documented table holds each upscaler's longest input side (SPEC §6.3)."""
    from twat_genai.engines.fal.config import UPSCALE_TOOL_MAX_INPUT_SIZES, ModelTypes

    assert UPSCALE_TOOL_MAX_INPUT_SIZES[ModelTypes.UPSCALER_CLARITY] == 1024
    assert UPSCALE_TOOL_MAX_INPUT_SIZES[ModelTypes.UPSCALER_ESRGAN] == 2048
