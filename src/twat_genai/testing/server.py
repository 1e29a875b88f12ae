"""Compatibility: the emulator server now lives in :mod:`twat_genai.testing.emulator`.

``twat-genai emulator`` calls :func:`serve` from here; tests import the app-facing types.
"""

from __future__ import annotations

from .emulator.app import EmulatorApp
from .emulator.http import (
    EmulatorRequest,
    EmulatorResponse,
    FormData,
    FormFile,
    Headers,
    json_response,
    parse_form,
)
from .emulator.log import STAT_KEYS, Stats, shorten
from .emulator.plugins import BUILTIN_APPS, ENTRY_POINT_GROUP, install_apps
from .emulator.run import export_lines, main, running_emulator, serve
from .emulator.server import EmulatorServer
from .emulator.store import FileStore, StoredFile, safe_name

__all__ = [
    "BUILTIN_APPS",
    "ENTRY_POINT_GROUP",
    "STAT_KEYS",
    "EmulatorApp",
    "EmulatorRequest",
    "EmulatorResponse",
    "EmulatorServer",
    "FileStore",
    "FormData",
    "FormFile",
    "Headers",
    "Stats",
    "StoredFile",
    "export_lines",
    "install_apps",
    "json_response",
    "main",
    "parse_form",
    "running_emulator",
    "safe_name",
    "serve",
    "shorten",
]

if __name__ == "__main__":
    raise SystemExit(main())
