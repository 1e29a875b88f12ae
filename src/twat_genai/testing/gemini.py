"""Compatibility: the Gemini emulator now lives in :mod:`twat_genai.testing.emulator.gemini`."""

from __future__ import annotations

from .emulator.gemini import ASPECT_RATIOS, GeminiEmulator, google_error, install

__all__ = ["ASPECT_RATIOS", "GeminiEmulator", "google_error", "install"]
