"""Protocol-faithful local emulators of the providers (fal.ai first), on one HTTP server.

``running_emulator()`` runs it in a background thread for tests and ``--sandbox``;
``twat-genai emulator`` runs it in the foreground. See :mod:`twat_genai.testing.server`.
"""

from __future__ import annotations

from .server import EmulatorApp, EmulatorRequest, EmulatorResponse, EmulatorServer, running_emulator

__all__ = [
    "EmulatorApp",
    "EmulatorRequest",
    "EmulatorResponse",
    "EmulatorServer",
    "running_emulator",
]
