"""fal.ai: the queue protocol client and the provider."""

from twat_genai.providers.fal.provider import FalProvider

__all__ = ["FalProvider"]
