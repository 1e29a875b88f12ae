"""One local HTTP server that hosts every provider emulator, on aiohttp's low-level server.

Why a real server: the project's clients and the official SDKs are exercised over real HTTP on
127.0.0.1, so retries, timeouts, headers, bodies and downloads behave as in production. aiohttp
parses HTTP in C and keeps connections alive; the emulator uses only its low-level ``Server``
(no router, no middleware): one coroutine turns each request into an :class:`EmulatorRequest`
and the app's :class:`EmulatorResponse` back into bytes or a chunked stream.

Routing costs a few dict look-ups per request whatever the number of jobs or files: the
longest mounted prefix of the path, ``/files/{id}`` in the file store, ``/_emulator`` for the
control API (:mod:`.control`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, unquote

from aiohttp import web

from .app import EmulatorApp
from .control import CONTROL, control
from .faults import FaultInjector, FaultPlan, FaultSpecError
from .http import EmulatorRequest, EmulatorResponse, Headers, json_response
from .inputs import InputFetcher
from .log import LOG_CAP, LogEntry, RequestLog, Stats
from .plugins import install_apps
from .store import FileStore

logger = logging.getLogger("twat_genai.testing")

#: Largest request body accepted (fal's single-request CDN upload limit is 100 MiB).
MAX_BODY = 128 * 1024 * 1024

#: Seconds requests still running at stop may take before they are cancelled.
SHUTDOWN_GRACE = 0.25

_LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


class EmulatorServer:
    """The HTTP server hosting mounted provider apps.

    ``latency`` is the processing time of each emulated job in seconds and ``capacity`` the
    number of concurrent jobs per endpoint; apps read both at job time, so tests may change
    them. ``apps=None`` installs the built-in apps and the plugins (:mod:`.plugins`); pass
    ``{}`` for a bare server. ``plain_images`` answers one flat picture per size and format
    (cached) instead of drawing one per request, so benchmarks measure the protocol only.
    ``fetch_remote`` lets apps fetch input URLs on hosts other than loopback (:mod:`.inputs`).
    ``faults`` is a fault plan (:mod:`.faults`: ``"429=0.2,seed=7"`` or a :class:`FaultPlan`).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        capacity: int = 8,
        *,
        apps: Mapping[str, EmulatorApp] | None = None,
        clock: Callable[[], float] = time.monotonic,
        plain_images: bool = False,
        fetch_remote: bool = False,
        faults: FaultPlan | str | None = None,
        log_cap: int = LOG_CAP,
    ) -> None:
        self.host, self.port = host, port
        self.latency, self.capacity = float(latency), max(1, int(capacity))
        self.clock = clock
        self.plain_images = plain_images
        self.files = FileStore(self)
        self.stats = Stats()
        self.log = RequestLog(log_cap)
        self.inputs = InputFetcher(self, fetch_remote=fetch_remote)
        self.faults = FaultInjector()
        self.apps: dict[str, EmulatorApp] = {}
        self._runner: web.ServerRunner | None = None
        self._released = asyncio.Event()
        self._released.set()
        if apps is None:
            install_apps(self)
        else:
            for prefix, app in apps.items():
                self.mount(prefix, app)
        self.set_faults(faults)

    # -- configuration

    def set_faults(self, plan: FaultPlan | str | None) -> FaultPlan:
        """Use fault plan ``plan`` from now on (its draws start afresh); an unknown kind or
        provider name is a :class:`.faults.FaultSpecError`."""
        parsed = plan if isinstance(plan, FaultPlan) else FaultPlan.parse(plan)
        names = {app.name for app in self.apps.values()}
        unknown = parsed.providers() - names
        if unknown:
            raise FaultSpecError(
                f"unknown provider {', '.join(sorted(unknown))} in the fault plan; "
                f"providers: {', '.join(sorted(names))}"
            )
        self.faults = FaultInjector(parsed)
        return parsed

    def mount(self, prefix: str, app: EmulatorApp) -> EmulatorApp:
        """Route ``prefix`` and everything below it to ``app`` (replacing any app there)."""
        prefix = "/" + prefix.strip("/")
        if prefix in {CONTROL, "/files", "/"}:
            raise ValueError(f"{prefix} is reserved")
        app.attach(self, prefix)
        self.apps[prefix] = app
        return app

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The request log as dicts, oldest first (rendered now: read it, do not poll it)."""
        return self.log.render()

    @property
    def root(self) -> str:
        """``http://HOST:PORT`` once started."""
        if self._runner is None:
            raise RuntimeError("EmulatorServer is not started")
        return f"http://{self.public_host}:{self.port}"

    @property
    def public_host(self) -> str:
        """Host for self-referencing URLs (a wildcard bind is reached via loopback)."""
        host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        return f"[{host}]" if ":" in host else host

    def is_own_host(self, hostname: str | None) -> bool:
        """Whether ``hostname`` (from a URL) reaches this server's interface."""
        if hostname is None:
            return False
        return hostname in _LOOPBACK_NAMES or hostname in {self.host, self.public_host}

    def env(self) -> dict[str, str]:
        """Environment variables of every app (what ``twat-genai emulator`` prints)."""
        merged: dict[str, str] = {}
        for app in self.apps.values():
            merged.update(app.env(self.root))
        return merged

    def options(self) -> dict[str, Any]:
        """How this server was started (``GET /_emulator`` shows it)."""
        return {
            "latency": self.latency,
            "capacity": self.capacity,
            "plain_images": self.plain_images,
            "fetch_remote": self.inputs.fetch_remote,
            "faults": str(self.faults.plan),
        }

    @staticmethod
    def utcnow() -> datetime:
        """Aware UTC now, for timestamps in responses."""
        return datetime.now(timezone.utc)

    def reset(self) -> None:
        """Clear the request log, the stats and every app's jobs."""
        self.log.clear()
        self.stats.clear()
        self.faults.restart()
        self._released.set()
        for app in self.apps.values():
            app.reset()

    def hold(self, held: bool = True) -> None:
        """Hold (or release) job completion: held jobs keep running past their latency, so a
        client submits nothing new and a test can stop it at a known quiet moment."""
        if held:
            self._released.clear()
        else:
            self._released.set()

    async def released(self) -> None:
        """Return once job completion is not held (at once, normally)."""
        await self._released.wait()

    # -- lifecycle

    async def start(self) -> EmulatorServer:
        """Listen (``port=0`` picks a free port, readable afterwards as ``port``)."""
        server = web.Server(self._handle, request_factory=self._make_request, access_log=None)
        # Open status streams would hold a graceful shutdown for a minute: cut them short.
        runner = web.ServerRunner(server, handle_signals=False, shutdown_timeout=SHUTDOWN_GRACE)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, backlog=1024)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        """Close the listener, open connections, app background work and the input client."""
        if self._runner is None:
            return
        for app in self.apps.values():
            await app.aclose()
        await self.inputs.aclose()
        await self._runner.cleanup()

    async def __aenter__(self) -> EmulatorServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- aiohttp glue

    def _make_request(
        self, message: Any, payload: Any, protocol: Any, writer: Any, task: Any
    ) -> web.BaseRequest:
        loop = asyncio.get_running_loop()
        return web.BaseRequest(
            message, payload, protocol, writer, task, loop, client_max_size=MAX_BODY
        )

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        if request.headers.get("expect", "").lower() == "100-continue":
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = await request.read() if request.body_exists else b""
        resp, provider = await self.dispatch(
            request.method, request.raw_path, request.raw_headers, body
        )
        if resp.reset:
            _reset(request)
            return web.Response()  # aiohttp finds the connection gone and drops it
        headers = [(k, v) for k, v in resp.headers]
        if resp.content_type and not any(k.lower() == "content-type" for k, _ in headers):
            headers.append(("Content-Type", resp.content_type))
        headers.append(("Server", "twat-genai-emulator"))
        if resp.stream is None:
            return web.Response(status=resp.status, body=resp.body, headers=headers)
        out = web.StreamResponse(status=resp.status, headers=headers)
        if resp.length is None:
            out.enable_chunked_encoding()
        else:
            out.content_length = resp.length
        sent = 0
        try:
            await out.prepare(request)
            async for chunk in resp.stream:
                if chunk:
                    await out.write(chunk)
                    sent += len(chunk)
            if resp.length is not None and sent < resp.length and request.transport:
                request.transport.close()  # promised more: the client sees a short body
            else:
                await out.write_eof()
        except ConnectionError:
            pass  # the client went away mid-stream
        finally:
            closer = getattr(resp.stream, "aclose", None)
            if closer is not None:
                with contextlib.suppress(Exception):
                    await closer()
            self.stats.add(provider, "bytes_out", sent)
        return out

    # -- routing (independent of the HTTP library)

    def _route(self, path: str) -> tuple[str, EmulatorApp] | None:
        """The app with the longest mounted prefix of ``path`` (one look-up per segment)."""
        cut = len(path)
        while cut > 0:
            app = self.apps.get(path[:cut])
            if app is not None:
                return path[:cut], app
            cut = path.rfind("/", 0, cut)
        return None

    async def dispatch(
        self, method: str, target: str, raw_headers: Any, body: bytes
    ) -> tuple[EmulatorResponse, str]:
        """Answer one request; returns the response and the provider it was counted under."""
        method = method.upper()
        raw_path, _, qs = target.partition("?")
        path = unquote(raw_path) or "/"
        query = dict(parse_qsl(qs, keep_blank_values=True)) if qs else {}
        head = method == "HEAD"
        if head:
            method = "GET"
        if path == CONTROL or path.startswith(CONTROL + "/"):
            return control(self, method, path[len(CONTROL) :], body), "_emulator"

        headers = Headers(raw_headers)
        routed = self._route(path)
        prefix, app = routed if routed else ("", None)
        provider = app.name if app else ("files" if path.startswith("/files/") else "emulator")
        entry = LogEntry(provider, method, path, query, headers)
        self.log.append(entry)
        self.stats.add(provider, "requests")
        self.stats.add(provider, "bytes_in", len(body))
        sub = path[len(prefix) :] or "/"
        if app is not None and not head and app.faultable(method, sub):
            fault = self.faults.ingress(provider)
            if fault is not None:  # before the provider sees the request: no job exists
                self.stats.add(provider, f"fault_{fault}")
                entry.fault = fault
                # A TCP reset of a call that creates a job proves nothing to the client (the
                # job may exist): there the reset happens behind the ingress, which says so.
                if fault == "reset" and not app.creates_job(method, sub):
                    entry.finish(None, None)
                    return EmulatorResponse.connection_reset(fault), provider
                resp = app.fault_response(fault, sub)
                entry.finish(None, resp.status)
                self.stats.add(provider, "bytes_out", len(resp.body))
                return resp, provider
        req: EmulatorRequest | None = None
        try:
            if app is not None:
                req = EmulatorRequest(method, sub, query, headers, body, self, prefix, head=head)
                resp = await app.handle(req)
            elif path.startswith("/files/") and method == "GET":
                resp = self.files.serve(path.split("/")[2], head=head)
                if resp.status == 200:
                    self.stats.add(provider, "downloads")
            else:
                resp = json_response({"detail": "Not Found"}, 404)
        except Exception as exc:
            logger.exception("emulator app %s failed on %s %s", provider, method, path)
            resp = json_response({"detail": f"Emulator error: {type(exc).__name__}: {exc}"}, 500)
        if req is not None and req.accepted and self.faults.after(provider):
            # The job exists (queued, or run and counted): only its answer is lost.
            self.stats.add(provider, "fault_reset_after")
            entry.fault = "reset_after"
            entry.finish(req, None)
            return EmulatorResponse.connection_reset("reset_after"), provider
        entry.fault = resp.fault
        entry.finish(req, resp.status)
        if resp.stream is None and not head:  # aiohttp sends HEAD answers without the body
            self.stats.add(provider, "bytes_out", len(resp.body))
        return resp, provider


def _reset(request: web.BaseRequest) -> None:
    """Reset the request's connection (TCP RST: linger 0, then abort), unanswered."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
