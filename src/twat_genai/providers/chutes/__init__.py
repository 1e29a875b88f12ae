"""Chutes: the diffusion router, HiDream, rembg and the video chutes."""

from twat_genai.providers.chutes.endpoints import ENDPOINTS, Endpoint, operation_for
from twat_genai.providers.chutes.provider import ChutesProvider
from twat_genai.providers.chutes.wire import chutes_error_info

__all__ = ["ENDPOINTS", "ChutesProvider", "Endpoint", "chutes_error_info", "operation_for"]
