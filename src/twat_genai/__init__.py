"""twat-genai: one interface for generative media across fal.ai, Chutes, OpenAI-compatible
image endpoints and Google Gemini.

Importing this package has no side effects and loads nothing heavy: public names resolve
lazily on first access (PEP 562), so ``twat-genai --help`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from twat_genai.core.version import __version__

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "FALEngine": "twat_genai.engines.fal",
    "ModelTypes": "twat_genai.engines.fal.operations",
    "ImageToImageConfig": "twat_genai.engines.fal.settings",
    "UpscaleConfig": "twat_genai.engines.fal.settings",
    "OutpaintConfig": "twat_genai.engines.fal.settings",
    "FALImageInput": "twat_genai.engines.fal.models",
    "ImageGenerationEngine": "twat_genai.engines.base",
    "EngineConfig": "twat_genai.engines.base",
    "ImageInput": "twat_genai.core.inputs",
    "ImageResult": "twat_genai.core.results",
    "ImageSizeWH": "twat_genai.core.inputs",
    "ImageSizes": "twat_genai.core.sizes",
    "ImageFormats": "twat_genai.core.sizes",
    "ImageGenerationRequest": "twat_genai.core.models",
    "ImageEditRequest": "twat_genai.core.models",
    "VideoGenerationRequest": "twat_genai.core.models",
    "BackgroundRemovalRequest": "twat_genai.core.models",
    "MediaFile": "twat_genai.core.models",
    "ProviderResponse": "twat_genai.core.models",
    "ProviderName": "twat_genai.core.models",
    "MediaKind": "twat_genai.core.models",
    "TwatGenAiError": "twat_genai.core.errors",
    "UsageError": "twat_genai.core.errors",
    "ProviderError": "twat_genai.core.errors",
    "AuthenticationError": "twat_genai.core.errors",
    "RateLimitError": "twat_genai.core.errors",
    "BlockedError": "twat_genai.core.errors",
    "ModelError": "twat_genai.core.errors",
    "ProviderTimeoutError": "twat_genai.core.errors",
    "ProviderConnectionError": "twat_genai.core.errors",
    "DownloadError": "twat_genai.core.errors",
    "AnswerLostError": "twat_genai.core.errors",
    "ChutesClient": "twat_genai.clients.chutes",
    "OpenAIImageClient": "twat_genai.clients.openai",
    "GeminiImageClient": "twat_genai.clients.gemini",
    "TwatGenAiCLI": "twat_genai.engines.fal.commands",
    "generate_video": "twat_genai.clients.generate",
    "generate": "twat_genai.clients.generate",
    "agenerate": "twat_genai.clients.generate",
}

__all__ = [
    "AnswerLostError",
    "AuthenticationError",
    "BackgroundRemovalRequest",
    "BlockedError",
    "ChutesClient",
    "DownloadError",
    "EngineConfig",
    "FALEngine",
    "FALImageInput",
    "GeminiImageClient",
    "ImageEditRequest",
    "ImageFormats",
    "ImageGenerationEngine",
    "ImageGenerationRequest",
    "ImageInput",
    "ImageResult",
    "ImageSizeWH",
    "ImageSizes",
    "ImageToImageConfig",
    "MediaFile",
    "MediaKind",
    "ModelError",
    "ModelTypes",
    "OpenAIImageClient",
    "OutpaintConfig",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderName",
    "ProviderResponse",
    "ProviderTimeoutError",
    "RateLimitError",
    "TwatGenAiCLI",
    "TwatGenAiError",
    "UpscaleConfig",
    "UsageError",
    "VideoGenerationRequest",
    "__version__",
    "agenerate",
    "generate",
    "generate_video",
    "main",
]


def main(argv: list[str] | None = None) -> int:
    """Console entry point (also what the ``twat.plugins`` host calls)."""
    from twat_genai.cli import main as _main

    return _main(argv)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'twat_genai' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from twat_genai.clients.chutes import ChutesClient
    from twat_genai.clients.gemini import GeminiImageClient
    from twat_genai.clients.generate import agenerate, generate, generate_video
    from twat_genai.clients.openai import OpenAIImageClient
    from twat_genai.core.errors import (
        AnswerLostError,
        AuthenticationError,
        BlockedError,
        DownloadError,
        ModelError,
        ProviderConnectionError,
        ProviderError,
        ProviderTimeoutError,
        RateLimitError,
        TwatGenAiError,
        UsageError,
    )
    from twat_genai.core.inputs import ImageInput, ImageSizeWH
    from twat_genai.core.models import (
        BackgroundRemovalRequest,
        ImageEditRequest,
        ImageGenerationRequest,
        MediaFile,
        MediaKind,
        ProviderName,
        ProviderResponse,
        VideoGenerationRequest,
    )
    from twat_genai.core.results import ImageResult
    from twat_genai.core.sizes import ImageFormats, ImageSizes
    from twat_genai.engines.base import EngineConfig, ImageGenerationEngine
    from twat_genai.engines.fal import FALEngine
    from twat_genai.engines.fal.commands import TwatGenAiCLI
    from twat_genai.engines.fal.models import FALImageInput
    from twat_genai.engines.fal.operations import ModelTypes
    from twat_genai.engines.fal.settings import ImageToImageConfig, OutpaintConfig, UpscaleConfig
