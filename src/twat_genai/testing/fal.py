"""Compatibility: the fal emulator now lives in :mod:`twat_genai.testing.emulator.fal`."""

from __future__ import annotations

from .emulator.fal import (
    ENDPOINTS,
    IMAGE_SIZE_PRESETS,
    NAMESPACES,
    FalEmulator,
    FalJob,
    FalModelError,
    error_for_code,
    install,
    validation_error,
)

__all__ = [
    "ENDPOINTS",
    "IMAGE_SIZE_PRESETS",
    "NAMESPACES",
    "FalEmulator",
    "FalJob",
    "FalModelError",
    "error_for_code",
    "install",
    "validation_error",
]
