"""Google Gemini image models ("Nano Banana")."""

from twat_genai.providers.gemini.provider import (
    ASPECT_RATIOS,
    DEFAULT_MODEL,
    SAFETY_FINISH_REASONS,
    GeminiProvider,
    google_error_info,
)

__all__ = [
    "ASPECT_RATIOS",
    "DEFAULT_MODEL",
    "SAFETY_FINISH_REASONS",
    "GeminiProvider",
    "google_error_info",
]
