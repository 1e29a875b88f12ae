"""The control API under ``/_emulator``: what tests and benchmarks ask the emulator itself.

``GET /_emulator/requests`` (the request log), ``GET /_emulator/stats`` (counters),
``POST /_emulator/reset`` (log, stats and every app's jobs), ``POST /_emulator/hold`` and
``/release`` (pause job completion), ``GET /_emulator`` (root, apps and environment).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .http import EmulatorResponse, json_response

if TYPE_CHECKING:
    from .server import EmulatorServer

#: Path prefix of the control API (reserved: no app may mount here).
CONTROL = "/_emulator"


def control(server: EmulatorServer, method: str, sub: str) -> EmulatorResponse:
    """Answer ``method`` on ``/_emulator{sub}``."""
    if sub == "/requests" and method == "GET":
        return json_response(server.log.render())
    if sub == "/stats" and method == "GET":
        return json_response(server.stats.snapshot())
    if sub == "/reset" and method == "POST":
        server.reset()
        return json_response({"ok": True})
    if sub in {"/hold", "/release"} and method == "POST":
        server.hold(sub == "/hold")
        return json_response({"ok": True})
    if sub in {"", "/"} and method == "GET":
        return json_response(
            {"root": server.root, "apps": sorted(server.apps), "env": server.env()}
        )
    return json_response({"detail": "Not Found"}, 404)
