"""Compatibility: the fal emulator now lives in :mod:`twat_genai.testing.emulator.fal`."""

from __future__ import annotations

from .emulator.fal import (
    FLUX_ENDPOINTS,
    IMAGE_SIZE_PRESETS,
    NAMESPACES,
    UPSCALERS,
    FalEmulator,
    FalJob,
    FalModelError,
    error_for_code,
    install,
    validation_error,
)

__all__ = [
    "FLUX_ENDPOINTS",
    "IMAGE_SIZE_PRESETS",
    "NAMESPACES",
    "UPSCALERS",
    "FalEmulator",
    "FalJob",
    "FalModelError",
    "error_for_code",
    "install",
    "validation_error",
]
