"""Protocol-faithful local emulators of the providers, on one HTTP server.

Rooms: :mod:`.server` (the aiohttp server, routing), :mod:`.http` (what apps see), :mod:`.host`
(the server as apps see it: the bottom of the imports, so none loops), :mod:`.app` (the app
base class), :mod:`.store` (served files), :mod:`.inputs` (input URLs, fetched from
loopback), :mod:`.log` (request log and counters), :mod:`.control` (``/_emulator``),
:mod:`.plugins` (built-in apps and the ``twat_genai.emulators`` entry points), :mod:`.run`
(threads, foreground, CLI), :mod:`.faults` (injected faults), the provider apps (:mod:`.fal`,
:mod:`.openai`, :mod:`.gemini`, :mod:`.chutes`) with their own tables of models and
parameters (:mod:`.openai_models`, :mod:`.gemini_models`, :mod:`.chutes_schemas`), and what
they share (:mod:`.media`, :mod:`.scenarios`).
"""

from __future__ import annotations

from .app import EmulatorApp
from .http import EmulatorRequest, EmulatorResponse, FormData, FormFile, Headers, json_response
from .log import RequestLog, Stats
from .run import running_emulator, serve
from .server import EmulatorServer
from .store import FileStore, StoredFile, safe_name

__all__ = [
    "EmulatorApp",
    "EmulatorRequest",
    "EmulatorResponse",
    "EmulatorServer",
    "FileStore",
    "FormData",
    "FormFile",
    "Headers",
    "RequestLog",
    "Stats",
    "StoredFile",
    "json_response",
    "running_emulator",
    "safe_name",
    "serve",
]
