"""The base of every provider emulator: an app mounted under a path prefix of the server."""

from __future__ import annotations

import asyncio

from .host import Host
from .http import EmulatorRequest, EmulatorResponse, json_response
from .scenarios import Scenarios

#: How long a ``[emulate:stuck]`` synchronous call waits before answering (the client gives
#: up first; the server's stop ends the wait).
STUCK_SECONDS = 3600.0


class EmulatorApp:
    """Base of a provider emulator mounted under a path prefix.

    Subclasses set ``name`` (the provider name in the log and stats) and implement
    :meth:`handle`. ``self.server`` is available once mounted.
    """

    name: str = "app"

    def __init__(self, *, latency: float | None = None) -> None:
        self._server: Host | None = None
        self.prefix = ""
        self.latency_override = latency
        self._seen: set[tuple[str, ...]] = set()

    def attach(self, server: Host, prefix: str) -> None:
        """Called by :meth:`EmulatorServer.mount`."""
        self._server, self.prefix = server, prefix

    @property
    def server(self) -> Host:
        """The server this app is mounted on."""
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not mounted")
        return self._server

    @property
    def base_url(self) -> str:
        """Absolute URL of the mount point (``<root><prefix>``)."""
        return self.server.root + self.prefix

    async def handle(self, req: EmulatorRequest) -> EmulatorResponse:
        """Answer one request (``req.path`` is relative to the prefix); apps override this,
        and an app without routes answers 404 in its own style."""
        return self.not_found(req)

    def env(self, root: str) -> dict[str, str]:
        """Environment variables that point the project (and SDKs) at this app."""
        return {}

    def not_found(self, req: EmulatorRequest) -> EmulatorResponse:
        """404 in the provider's style (FastAPI ``detail`` by default)."""
        return json_response({"detail": "Not Found"}, 404)

    def count(self, key: str, n: int = 1) -> None:
        """Add ``n`` to stat ``key`` for this provider."""
        self.server.stats.add(self.name, key, n)

    def accept(self, req: EmulatorRequest) -> None:
        """The call created a job (it counts as a submission, and may be billed): call it once
        the provider would have started work, after every check that refuses the call."""
        req.accepted = True
        self.count("submissions")

    async def run_job(self, req: EmulatorRequest, sc: Scenarios) -> None:
        """Accept a synchronous call and take its time: ``[emulate:slow=S]`` or the latency;
        ``[emulate:stuck]`` waits until the client gives up or the server stops."""
        self.accept(req)
        if sc.stuck:
            await asyncio.sleep(STUCK_SECONDS)
        delay = sc.slow if sc.slow is not None else self.latency
        if delay > 0:
            await asyncio.sleep(delay)

    def faultable(self, method: str, path: str) -> bool:
        """Whether a request (``path`` relative to the prefix) passes the provider's ingress,
        where ``429``/``5xx``/``reset`` faults strike; file downloads do not."""
        return True

    def creates_job(self, method: str, path: str) -> bool:
        """Whether a request may create a billable job (a submit, a synchronous generation):
        an injected ``reset`` there is the ingress's answer that its connection to the
        provider was reset before the request was forwarded, not a TCP reset the client
        could not tell from a lost answer."""
        return method == "POST"

    def fault_response(self, kind: str, path: str) -> EmulatorResponse:
        """The answer of an injected ``429``, ``5xx`` or (on a call that creates a job)
        ``reset`` in this provider's shape (apps override it; FastAPI-style ``detail`` by
        default)."""
        if kind == "429":
            return json_response({"detail": "Too many requests"}, 429, {"retry-after": "0"})
        return json_response({"detail": "Service unavailable"}, 503)

    @property
    def latency(self) -> float:
        """Seconds each job or call takes (this app's override, else the server's)."""
        return self.server.latency if self.latency_override is None else self.latency_override

    def first_time(self, *key: str) -> bool:
        """True the first time ``key`` is seen since the last reset: scenarios that fail once
        and then succeed (``ratelimit``, a cold start) are keyed by kind and prompt."""
        if key in self._seen:
            return False
        self._seen.add(key)
        return True

    def reset(self) -> None:
        """Forget jobs and per-run state (``POST /_emulator/reset``); overrides call super."""
        self._seen.clear()

    async def aclose(self) -> None:
        """Stop background work when the server stops."""
