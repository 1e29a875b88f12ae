"""OpenAI Images API and OpenAI-compatible hosts."""

from twat_genai.providers.openai.provider import OpenAIProvider, openai_error_info, wire_size

__all__ = ["OpenAIProvider", "openai_error_info", "wire_size"]
