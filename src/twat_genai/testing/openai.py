"""Compatibility: the OpenAI emulator now lives in :mod:`twat_genai.testing.emulator.openai`."""

from __future__ import annotations

from .emulator.openai import OpenAIEmulator, install, openai_error

__all__ = ["OpenAIEmulator", "install", "openai_error"]
