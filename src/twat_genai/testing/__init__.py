"""Protocol-faithful local emulators of the providers (fal.ai first), on one HTTP server.

``running_emulator()`` runs it in a background thread for tests and ``--sandbox``;
``twat-genai emulator`` runs it in the foreground. The code lives in
:mod:`twat_genai.testing.emulator`; the modules beside this one keep older imports working.
"""

from __future__ import annotations

from .emulator import (
    EmulatorApp,
    EmulatorRequest,
    EmulatorResponse,
    EmulatorServer,
    running_emulator,
)

__all__ = [
    "EmulatorApp",
    "EmulatorRequest",
    "EmulatorResponse",
    "EmulatorServer",
    "running_emulator",
]
