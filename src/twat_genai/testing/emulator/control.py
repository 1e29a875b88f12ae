"""The control API under ``/_emulator``: what tests and benchmarks ask the emulator itself.

``GET /_emulator/requests`` (the request log), ``GET /_emulator/stats`` (counters),
``POST /_emulator/reset`` (log, stats, every app's jobs, and the fault draws from the start),
``POST /_emulator/hold`` and ``/release`` (pause job completion), ``GET`` and ``POST
/_emulator/faults`` (the fault plan: ``{"faults": "SPEC"}``), ``GET /_emulator`` (root,
apps, environment, options).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

from .faults import FaultPlan, FaultSpecError
from .host import Counters
from .http import EmulatorResponse, json_response

#: Path prefix of the control API (reserved: no app may mount here).
CONTROL = "/_emulator"


class Controlled(Protocol):
    """What the control API needs of the server (named here so it need not import it)."""

    @property
    def root(self) -> str: ...

    @property
    def apps(self) -> Mapping[str, object]: ...

    @property
    def stats(self) -> Counters: ...

    @property
    def requests(self) -> list[dict[str, Any]]: ...

    def env(self) -> dict[str, str]: ...

    def options(self) -> dict[str, Any]: ...

    def reset(self) -> None: ...

    def hold(self, held: bool = True) -> None: ...

    def set_faults(self, plan: FaultPlan | str | None) -> FaultPlan: ...


def control(server: Controlled, method: str, sub: str, body: bytes = b"") -> EmulatorResponse:
    """Answer ``method`` on ``/_emulator{sub}``."""
    if sub == "/requests" and method == "GET":
        return json_response(server.requests)
    if sub == "/stats" and method == "GET":
        return json_response(server.stats.snapshot())
    if sub == "/reset" and method == "POST":
        server.reset()
        return json_response({"ok": True})
    if sub in {"/hold", "/release"} and method == "POST":
        server.hold(sub == "/hold")
        return json_response({"ok": True})
    if sub == "/faults" and method == "GET":
        return json_response({"faults": server.options()["faults"]})
    if sub == "/faults" and method == "POST":
        try:
            spec = json.loads(body or b"{}").get("faults")
            plan = server.set_faults(spec if isinstance(spec, str) else None)
        except (FaultSpecError, ValueError, AttributeError) as exc:
            return json_response({"detail": str(exc)}, 400)
        return json_response({"faults": str(plan)})
    if sub in {"", "/"} and method == "GET":
        return json_response(
            {
                "root": server.root,
                "apps": sorted(server.apps),
                "env": server.env(),
                "options": server.options(),
            }
        )
    return json_response({"detail": "Not Found"}, 404)
