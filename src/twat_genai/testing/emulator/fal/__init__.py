"""fal.ai emulator: the queue, sync-run, storage and CDN protocols, with real image outputs.

Rooms: :mod:`.app` (routing, submit, status, result, cancel), :mod:`.queue` (lanes, jobs, SSE),
:mod:`.storage` (REST token, uploads, CDN), :mod:`.endpoints` (the endpoints it knows),
:mod:`.models` (what each model answers), :mod:`.generic` (any other endpoint id),
:mod:`.args` (argument reading), :mod:`.errors` (fal's error shapes), :mod:`.auth`.
"""

from __future__ import annotations

from ..host import Host
from .app import NAMESPACES, FalEmulator
from .args import IMAGE_SIZE_PRESETS
from .endpoints import ENDPOINTS, Endpoint, Param
from .errors import FalModelError, Outcome, error_for_code, validation_error
from .queue import FalJob


def install(server: Host) -> FalEmulator:
    """Mount the fal emulator at ``/fal`` (one of the server's built-in apps)."""
    app = FalEmulator()
    server.mount("/fal", app)
    return app


__all__ = [
    "ENDPOINTS",
    "IMAGE_SIZE_PRESETS",
    "NAMESPACES",
    "Endpoint",
    "FalEmulator",
    "FalJob",
    "FalModelError",
    "Outcome",
    "Param",
    "error_for_code",
    "install",
    "validation_error",
]
