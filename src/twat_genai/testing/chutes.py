"""Compatibility: the Chutes emulator now lives in :mod:`twat_genai.testing.emulator.chutes`."""

from __future__ import annotations

from .emulator.chutes import (
    DUMMY_KEY,
    KNOWN_MODELS,
    ChuteError,
    ChutesEmulator,
    install,
    mp4_from_jpegs,
    tiny_video,
)

__all__ = [
    "DUMMY_KEY",
    "KNOWN_MODELS",
    "ChuteError",
    "ChutesEmulator",
    "install",
    "mp4_from_jpegs",
    "tiny_video",
]
