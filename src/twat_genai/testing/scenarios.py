"""Compatibility: fault scenarios now live in :mod:`twat_genai.testing.emulator.scenarios`."""

from __future__ import annotations

from .emulator.scenarios import (
    MAX_SLOW_SECONDS,
    NONE,
    Scenarios,
    parse_scenarios,
    scenarios_in,
    strip_scenarios,
)

__all__ = [
    "MAX_SLOW_SECONDS",
    "NONE",
    "Scenarios",
    "parse_scenarios",
    "scenarios_in",
    "strip_scenarios",
]
