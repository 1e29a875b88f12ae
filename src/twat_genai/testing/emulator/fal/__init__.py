"""fal.ai emulator: the queue, sync-run, storage and CDN protocols, with real image outputs.

Rooms: :mod:`.app` (routing, submit, status, result, cancel), :mod:`.queue` (lanes, jobs, SSE),
:mod:`.storage` (REST token, uploads, CDN), :mod:`.models` (what each model answers),
:mod:`.args` (argument reading), :mod:`.errors` (fal's error shapes), :mod:`.auth`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .app import NAMESPACES, FalEmulator
from .args import IMAGE_SIZE_PRESETS
from .errors import FalModelError, Outcome, error_for_code, validation_error
from .models import FLUX_ENDPOINTS, UPSCALERS
from .queue import FalJob

if TYPE_CHECKING:
    from ..server import EmulatorServer


def install(server: EmulatorServer) -> FalEmulator:
    """Mount the fal emulator at ``/fal`` (one of the server's built-in apps)."""
    app = FalEmulator()
    server.mount("/fal", app)
    return app


__all__ = [
    "FLUX_ENDPOINTS",
    "IMAGE_SIZE_PRESETS",
    "NAMESPACES",
    "UPSCALERS",
    "FalEmulator",
    "FalJob",
    "FalModelError",
    "Outcome",
    "error_for_code",
    "install",
    "validation_error",
]
