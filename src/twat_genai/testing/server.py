"""One local HTTP server that hosts every provider emulator.

Why a real server: the project's clients and the official SDKs are exercised over real HTTP on
127.0.0.1, so retries, timeouts, headers, bodies and downloads behave as in production.

Design:

- Pure asyncio + ``h11``: one task per connection, HTTP/1.1 keep-alive, Content-Length and
  chunked request bodies, Content-Length responses and chunked streaming (server-sent events).
- Providers are *apps* mounted under a path prefix (``server.mount("/fal", FalEmulator())``).
  An app subclasses :class:`EmulatorApp` and implements ``handle(req) -> EmulatorResponse``; it
  may add ``env(root)`` (the variables that point the project at it), ``reset()`` and ``aclose()``.
  The request's ``path`` is relative to the prefix, so ``/chutes`` can route ``/{slug}/...`` itself.
- Shared state every app reaches through ``self.server``: ``latency``, ``capacity``, ``files``
  (a :class:`FileStore` serving ``GET <root>/files/{id}/{name}``), ``stats``, ``clock``.
- Control endpoints: ``GET /_emulator/requests`` (the request log), ``GET /_emulator/stats``,
  ``POST /_emulator/reset``, ``POST /_emulator/hold`` and ``/release`` (job completion).
- Default apps: modules ``twat_genai.testing.<name>`` for each name in :data:`DEFAULT_APP_MODULES`
  that exist and define ``install(server)``; a later provider only needs such a module.

Run it with ``twat-genai emulator`` or ``python -m twat_genai.testing.server``; use it from
tests and ``--sandbox`` via :func:`running_emulator`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email.parser
import email.policy
import http
import importlib
import importlib.util
import json
import logging
import re
import shlex
import signal
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import h11

from twat_genai.core.redact import redact, redact_obj

from .media import extension_for

logger = logging.getLogger("twat_genai.testing")

#: Provider modules (under ``twat_genai.testing``) installed by default when they exist.
DEFAULT_APP_MODULES: tuple[str, ...] = ("fal", "openai", "gemini", "chutes")

#: Stat counters every provider has (apps may add their own keys).
STAT_KEYS: tuple[str, ...] = (
    "submissions",
    "polls",
    "results",
    "uploads",
    "downloads",
    "bytes_out",
    "bytes_in",
    "requests",
)

_READ_CHUNK = 65536
_CONTROL = "/_emulator"


# --------------------------------------------------------------------------- requests


class Headers(Mapping[str, str]):
    """Case-insensitive, read-only request headers (repeated headers joined by ``, ``)."""

    def __init__(self, raw: Sequence[tuple[bytes, bytes]] = ()) -> None:
        self.raw = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in raw]
        joined: dict[str, str] = {}
        for k, v in self.raw:
            joined[k] = f"{joined[k]}, {v}" if k in joined else v
        self._d = joined

    def __getitem__(self, key: str) -> str:
        return self._d[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._d

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def names(self) -> list[str]:
        """Header names in the order received (lower case, as h11 normalises them)."""
        return [k for k, _ in self.raw]


@dataclass
class FormFile:
    """One file part of a ``multipart/form-data`` body."""

    field: str
    filename: str
    content_type: str
    data: bytes


@dataclass
class FormData:
    """Parsed form: repeated fields keep every value (OpenAI sends ``image[]`` several times)."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, list[FormFile]] = field(default_factory=dict)

    def get(self, name: str, default: str | None = None) -> str | None:
        """First value of field ``name``."""
        values = self.fields.get(name)
        return values[0] if values else default

    def file(self, name: str) -> FormFile | None:
        """First file of part ``name``."""
        files = self.files.get(name)
        return files[0] if files else None

    def summary(self) -> dict[str, Any]:
        """Fields plus file descriptions, for the request log."""
        out: dict[str, Any] = {k: v[0] if len(v) == 1 else v for k, v in self.fields.items()}
        for name, files in self.files.items():
            desc = [f"<file {f.filename!r} {f.content_type} {len(f.data)} bytes>" for f in files]
            out[name] = desc[0] if len(desc) == 1 else desc
        return out


def parse_form(content_type: str, body: bytes) -> FormData:
    """Parse ``multipart/form-data`` or ``application/x-www-form-urlencoded`` bodies."""
    form = FormData()
    if content_type.lower().startswith("application/x-www-form-urlencoded"):
        for k, v in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
            form.fields.setdefault(k, []).append(v)
        return form
    if not content_type.lower().startswith("multipart/"):
        return form
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not msg.is_multipart():
        return form
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            ctype = part.get_content_type() if part.get("content-type") else ""
            form.files.setdefault(name, []).append(
                FormFile(name, filename, ctype or "application/octet-stream", data)
            )
        else:
            charset = part.get_content_charset() or "utf-8"
            form.fields.setdefault(name, []).append(data.decode(charset, "replace"))
    return form


@dataclass
class EmulatorRequest:
    """One HTTP request as an app sees it.

    ``path`` is relative to the app's mount prefix. Apps may set ``endpoint`` (e.g. the model
    id), ``args`` (what the log should show instead of the parsed body) and ``note`` (anything
    the emulator had to assume) for the request log.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: Headers
    body: bytes
    server: EmulatorServer
    prefix: str = ""
    endpoint: str | None = None
    args: Any = None
    note: str | None = None
    _json: Any = field(default=None, repr=False)
    _form: FormData | None = field(default=None, repr=False)

    @property
    def content_type(self) -> str:
        """The request's Content-Type (empty when absent)."""
        return self.headers.get("content-type", "")

    @property
    def base_url(self) -> str:
        """Absolute URL of the app's mount point, for self-referencing URLs."""
        return self.server.root + self.prefix

    def json(self) -> Any:
        """The body parsed as JSON (``ValueError`` when it is not JSON)."""
        if self._json is None:
            self._json = json.loads(self.body or b"null")
        return self._json

    def form(self) -> FormData:
        """The body parsed as a form (multipart or urlencoded)."""
        if self._form is None:
            self._form = parse_form(self.content_type, self.body)
        return self._form


# --------------------------------------------------------------------------- responses


@dataclass
class EmulatorResponse:
    """An answer: a byte body, or ``stream`` (an async iterator of chunks, sent chunked)."""

    status: int = 200
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    stream: AsyncIterator[bytes] | None = None

    @classmethod
    def json(
        cls, data: Any, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> EmulatorResponse:
        """JSON response."""
        body = json.dumps(data, separators=(",", ":")).encode()
        return cls(status, body, "application/json", list((headers or {}).items()))

    @classmethod
    def raw(
        cls,
        data: bytes,
        content_type: str,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> EmulatorResponse:
        """Bytes response with a given Content-Type."""
        return cls(status, data, content_type, list((headers or {}).items()))

    @classmethod
    def sse(cls, events: AsyncIterator[bytes]) -> EmulatorResponse:
        """``text/event-stream`` response; ``events`` yields already framed ``data: ...\\n\\n``."""
        headers = [("cache-control", "no-cache")]
        return cls(200, b"", "text/event-stream", headers, stream=events)


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> EmulatorResponse:
    """Shorthand for :meth:`EmulatorResponse.json`."""
    return EmulatorResponse.json(data, status, headers)


def _reason(status: int) -> bytes:
    try:
        return http.HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""


# --------------------------------------------------------------------------- apps


class EmulatorApp:
    """Base of a provider emulator mounted under a path prefix.

    Subclasses set ``name`` (the provider name in the log and stats) and implement
    :meth:`handle`. ``self.server`` is available once mounted.
    """

    name: str = "app"

    def __init__(self, *, latency: float | None = None) -> None:
        self._server: EmulatorServer | None = None
        self.prefix = ""
        self.latency_override = latency
        self._seen: set[tuple[str, ...]] = set()

    def attach(self, server: EmulatorServer, prefix: str) -> None:
        """Called by :meth:`EmulatorServer.mount`."""
        self._server, self.prefix = server, prefix

    @property
    def server(self) -> EmulatorServer:
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


# --------------------------------------------------------------------------- shared state


@dataclass
class StoredFile:
    """A file served by the emulator (an upload or a generated output)."""

    id: str
    name: str
    content_type: str
    data: bytes
    broken: bool = False


_FILE_ID = re.compile(r"/files/([0-9a-f]{32})(?:/|$)")


class FileStore:
    """Every uploaded and generated file, addressable by URL on this server."""

    def __init__(self, server: EmulatorServer) -> None:
        self._server = server
        self._files: dict[str, StoredFile] = {}

    def new_id(self) -> str:
        """A fresh file id (reserve a URL before the bytes arrive, as multipart uploads do)."""
        return uuid.uuid4().hex

    def put(
        self,
        data: bytes,
        content_type: str,
        name: str | None = None,
        *,
        route: str = "/files",
        file_id: str | None = None,
        broken: bool = False,
    ) -> str:
        """Store ``data`` and return its absolute URL ``<root><route>/<id>/<name>``.

        ``broken`` files answer 500 on GET (the ``broken_url`` scenario).
        """
        fid = file_id or self.new_id()
        safe = safe_name(name) if name else f"{fid[:8]}.{extension_for(content_type)}"
        self._files[fid] = StoredFile(fid, safe, content_type, data, broken)
        return self.url_for(fid, safe, route)

    def url_for(self, file_id: str, name: str, route: str = "/files") -> str:
        """Absolute URL of a (possibly not yet stored) file."""
        return f"{self._server.root}{route}/{file_id}/{quote(name)}"

    def get(self, file_id: str) -> StoredFile | None:
        """File by id."""
        return self._files.get(file_id)

    def resolve(self, url: str) -> StoredFile | None:
        """The stored file a URL of this server points at, else ``None`` (no HTTP needed)."""
        try:
            parts = urlsplit(url)
        except ValueError:
            return None
        if parts.scheme not in {"http", "https"} or parts.port != self._server.port:
            return None
        hosts = {"127.0.0.1", "localhost", "::1", self._server.host, self._server.public_host}
        if parts.hostname not in hosts:
            return None
        match = _FILE_ID.search(parts.path)
        return self._files.get(match.group(1)) if match else None

    def serve(self, file_id: str) -> EmulatorResponse:
        """GET answer for a file: its bytes, 500 if broken, 404 if unknown."""
        stored = self._files.get(file_id)
        if stored is None:
            return json_response({"detail": "File not found"}, 404)
        if stored.broken:
            return EmulatorResponse.raw(b"Internal Server Error", "text/plain", 500)
        return EmulatorResponse.raw(stored.data, stored.content_type)

    def clear(self) -> None:
        """Drop every file."""
        self._files.clear()

    def __len__(self) -> int:
        return len(self._files)


#: Query parameters whose values are secrets whatever they look like.
_SECRET_QUERY_NAMES = frozenset({"key", "api_key", "apikey", "token", "access_token", "fal_key"})


def safe_name(name: str) -> str:
    """A file name safe to put in a URL path segment (base name, no control characters)."""
    base = unquote(name).replace("\\", "/").rsplit("/", 1)[-1]
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._") or "file"
    return base[:120]


class Stats:
    """Counters per provider; :meth:`snapshot` adds the totals at the top level."""

    def __init__(self) -> None:
        self._by_provider: dict[str, dict[str, int]] = {}

    def add(self, provider: str, key: str, n: int = 1) -> None:
        """Add ``n`` to ``key`` for ``provider``."""
        counters = self._by_provider.get(provider)
        if counters is None:
            counters = self._by_provider[provider] = dict.fromkeys(STAT_KEYS, 0)
        counters[key] = counters.get(key, 0) + n

    def get(self, key: str, provider: str | None = None) -> int:
        """One counter, for one provider or summed over all."""
        if provider is not None:
            return self._by_provider.get(provider, {}).get(key, 0)
        return sum(c.get(key, 0) for c in self._by_provider.values())

    def snapshot(self) -> dict[str, Any]:
        """``{key: total, ..., "providers": {name: {key: n}}}``."""
        totals: dict[str, Any] = dict.fromkeys(STAT_KEYS, 0)
        for counters in self._by_provider.values():
            for k, v in counters.items():
                totals[k] = totals.get(k, 0) + v
        totals["providers"] = {p: dict(c) for p, c in self._by_provider.items()}
        return totals

    def clear(self) -> None:
        """Zero everything."""
        self._by_provider.clear()


# --------------------------------------------------------------------------- request log

_LONG = 160


def shorten(value: Any) -> Any:
    """JSON-like ``value`` with data URIs and long (base64-ish) strings abbreviated."""
    if isinstance(value, str):
        if value.startswith("data:") and len(value) > 64:
            head = value.split(",", 1)[0]
            return f"{head},<{len(value)} chars>"
        if len(value) > _LONG and " " not in value[:_LONG]:
            return f"{value[:48]}…<{len(value)} chars>"
        return value
    if isinstance(value, Mapping):
        return {k: shorten(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [shorten(v) for v in value]
    return value


def _log_args(req: EmulatorRequest) -> Any:
    if req.args is not None:
        return req.args
    if not req.body:
        return None
    ctype = req.content_type.lower()
    if "json" in ctype or req.body[:1] in {b"{", b"["}:
        try:
            return req.json()
        except ValueError:
            pass
    if ctype.startswith(("multipart/", "application/x-www-form-urlencoded")):
        return req.form().summary()
    return {"bytes": len(req.body), "content_type": req.content_type or None}


# --------------------------------------------------------------------------- server


class EmulatorServer:
    """The HTTP server hosting mounted provider apps (see the module docstring).

    ``latency`` is the processing time of each emulated job in seconds and ``capacity`` the
    number of concurrent jobs per endpoint; apps read both at job time, so tests may change them.
    ``apps=None`` installs the default apps; pass ``{}`` for a bare server.
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
    ) -> None:
        self.host, self.port = host, port
        self.latency, self.capacity = float(latency), max(1, int(capacity))
        self.clock = clock
        self.files = FileStore(self)
        self.stats = Stats()
        self.requests: list[dict[str, Any]] = []
        self.apps: dict[str, EmulatorApp] = {}
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.Task[None]] = set()
        self._released = asyncio.Event()
        self._released.set()
        if apps is None:
            install_default_apps(self)
        else:
            for prefix, app in apps.items():
                self.mount(prefix, app)

    # -- configuration

    def mount(self, prefix: str, app: EmulatorApp) -> EmulatorApp:
        """Route ``prefix`` and everything below it to ``app``."""
        prefix = "/" + prefix.strip("/")
        if prefix in {_CONTROL, "/files"}:
            raise ValueError(f"{prefix} is reserved")
        app.attach(self, prefix)
        self.apps[prefix] = app
        return app

    @property
    def root(self) -> str:
        """``http://HOST:PORT`` once started."""
        if self._server is None:
            raise RuntimeError("EmulatorServer is not started")
        return f"http://{self.public_host}:{self.port}"

    @property
    def public_host(self) -> str:
        """Host for self-referencing URLs (a wildcard bind is reached via loopback)."""
        host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        return f"[{host}]" if ":" in host else host

    def env(self) -> dict[str, str]:
        """Environment variables of every app (what ``twat-genai emulator`` prints)."""
        merged: dict[str, str] = {}
        for app in self.apps.values():
            merged.update(app.env(self.root))
        return merged

    @staticmethod
    def utcnow() -> datetime:
        """Aware UTC now, for timestamps in responses."""
        return datetime.now(timezone.utc)

    def reset(self) -> None:
        """Clear the request log, the stats and every app's jobs."""
        self.requests.clear()
        self.stats.clear()
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
        self._server = await asyncio.start_server(
            self._on_connection, self.host, self.port, backlog=1024, limit=_READ_CHUNK
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Close the listener, open connections and app background work."""
        if self._server is None:
            return
        self._server.close()
        for task in list(self._conns):
            task.cancel()
        if self._conns:
            await asyncio.gather(*self._conns, return_exceptions=True)
        for app in self.apps.values():
            await app.aclose()
        await self._server.wait_closed()

    async def __aenter__(self) -> EmulatorServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- connection handling

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._conns.add(task)
        try:
            await self._serve_connection(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, h11.ProtocolError):
            pass  # the client went away or spoke broken HTTP: drop the connection
        except asyncio.CancelledError:
            pass  # server stopping
        finally:
            if task is not None:
                self._conns.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        conn = h11.Connection(h11.SERVER)
        while True:
            try:
                request, body = await self._read_request(conn, reader, writer)
            except h11.RemoteProtocolError as exc:
                if conn.our_state in {h11.IDLE, h11.SEND_RESPONSE}:
                    resp = json_response({"detail": f"Bad request: {exc}"}, 400)
                    await self._send(conn, writer, resp, head=False)
                return
            if request is None:
                return
            response, head, provider = await self._dispatch(request, body)
            sent = await self._send(conn, writer, response, head=head)
            if response.stream is not None:
                self.stats.add(provider, "bytes_out", sent)
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                return
            try:
                conn.start_next_cycle()
            except h11.LocalProtocolError:
                return

    async def _read_request(
        self, conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[h11.Request | None, bytes]:
        request: h11.Request | None = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                if conn.they_are_waiting_for_100_continue:
                    writer.write(conn.send(h11.InformationalResponse(status_code=100, headers=[])))
                data = await reader.read(_READ_CHUNK)
                conn.receive_data(data)
                continue
            if isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                return request, bytes(body)
            elif isinstance(event, (h11.ConnectionClosed,)) or event is h11.PAUSED:
                return None, b""

    async def _send(
        self, conn: h11.Connection, writer: asyncio.StreamWriter, resp: EmulatorResponse, head: bool
    ) -> int:
        headers = [(k.lower(), v) for k, v in resp.headers]
        if resp.content_type and not any(k == "content-type" for k, _ in headers):
            headers.append(("content-type", resp.content_type))
        headers.append(("server", "twat-genai-emulator"))
        if resp.stream is None:
            headers.append(("content-length", str(len(resp.body))))
            out = conn.send(
                h11.Response(status_code=resp.status, headers=headers, reason=_reason(resp.status))
            )
            if not head and resp.body:
                out += conn.send(h11.Data(data=resp.body))
            out += conn.send(h11.EndOfMessage())
            writer.write(out)
            await writer.drain()
            return len(resp.body)
        # No Content-Length: h11 frames the body with chunked transfer-encoding.
        writer.write(
            conn.send(
                h11.Response(status_code=resp.status, headers=headers, reason=_reason(resp.status))
            )
        )
        await writer.drain()
        sent = 0
        try:
            async for chunk in resp.stream:
                if chunk:
                    writer.write(conn.send(h11.Data(data=chunk)))
                    await writer.drain()
                    sent += len(chunk)
        finally:
            closer = getattr(resp.stream, "aclose", None)
            if closer is not None:
                with contextlib.suppress(Exception):
                    await closer()
        writer.write(conn.send(h11.EndOfMessage()))
        await writer.drain()
        return sent

    # -- routing

    def _route(self, path: str) -> tuple[str, EmulatorApp] | None:
        best: tuple[str, EmulatorApp] | None = None
        for prefix, app in self.apps.items():
            if (path == prefix or path.startswith(prefix + "/")) and (
                best is None or len(prefix) > len(best[0])
            ):
                best = (prefix, app)
        return best

    async def _dispatch(
        self, event: h11.Request, body: bytes
    ) -> tuple[EmulatorResponse, bool, str]:
        method = event.method.decode("ascii").upper()
        target = event.target.decode("latin-1")
        path, _, qs = target.partition("?")
        path = unquote(path) or "/"
        query = dict(parse_qsl(qs, keep_blank_values=True))
        headers = Headers(event.headers)
        head = method == "HEAD"
        if head:
            method = "GET"
        if path == _CONTROL or path.startswith(_CONTROL + "/"):
            return self._control(method, path[len(_CONTROL) :]), head, "_emulator"

        routed = self._route(path)
        prefix, app = routed if routed else ("", None)
        provider = app.name if app else ("files" if path.startswith("/files/") else "emulator")
        req = EmulatorRequest(
            method, path[len(prefix) :] or "/", query, headers, body, self, prefix
        )
        entry: dict[str, Any] = {
            "provider": provider,
            "method": method,
            "path": path,
            "query": {
                k: "***" if k.lower() in _SECRET_QUERY_NAMES else redact_obj(v)
                for k, v in query.items()
            },
            "endpoint": None,
            "args": None,
            "headers": headers.names(),
            "status": None,
        }
        self.requests.append(entry)
        self.stats.add(provider, "requests")
        self.stats.add(provider, "bytes_in", len(body))
        try:
            if app is not None:
                resp = await app.handle(req)
            elif path.startswith("/files/") and method == "GET":
                resp = self.files.serve(path.split("/")[2])
                if resp.status == 200:
                    self.stats.add(provider, "downloads")
            else:
                resp = json_response({"detail": "Not Found"}, 404)
        except Exception as exc:
            logger.exception("emulator app %s failed on %s %s", provider, method, path)
            resp = json_response({"detail": f"Emulator error: {type(exc).__name__}: {exc}"}, 500)
        entry["endpoint"] = req.endpoint
        try:
            entry["args"] = redact_obj(shorten(_log_args(req)))
        except Exception:  # a log must never break a response
            entry["args"] = None
        if req.note:
            entry["note"] = redact(req.note)
        entry["status"] = resp.status
        if resp.stream is None and not head:
            self.stats.add(provider, "bytes_out", len(resp.body))
        return resp, head, provider

    def _control(self, method: str, sub: str) -> EmulatorResponse:
        if sub == "/requests" and method == "GET":
            return json_response(self.requests)
        if sub == "/stats" and method == "GET":
            return json_response(self.stats.snapshot())
        if sub == "/reset" and method == "POST":
            self.reset()
            return json_response({"ok": True})
        if sub in {"/hold", "/release"} and method == "POST":
            self.hold(sub == "/hold")
            return json_response({"ok": True})
        if sub in {"", "/"} and method == "GET":
            return json_response({"root": self.root, "apps": sorted(self.apps), "env": self.env()})
        return json_response({"detail": "Not Found"}, 404)


def install_default_apps(server: EmulatorServer) -> None:
    """Mount every provider emulator module that exists (see :data:`DEFAULT_APP_MODULES`)."""
    for name in DEFAULT_APP_MODULES:
        module_name = f"{__package__}.{name}"
        if importlib.util.find_spec(module_name) is None:
            continue
        module = importlib.import_module(module_name)
        install = getattr(module, "install", None)
        if callable(install):
            install(server)


# --------------------------------------------------------------------------- running it


@contextlib.contextmanager
def running_emulator(**kwargs: Any) -> Iterator[EmulatorServer]:
    """Run an :class:`EmulatorServer` on its own event loop in a background thread.

    Sync code (the CLI's ``--sandbox``, tests) gets a started server and can reach its
    ``root`` and ``env()``; leaving the block stops it. ``kwargs`` go to the constructor.
    """
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="twat-genai-emulator", daemon=True)
    thread.start()
    server: EmulatorServer | None = None
    try:

        async def _start() -> EmulatorServer:
            return await EmulatorServer(**kwargs).start()

        server = asyncio.run_coroutine_threadsafe(_start(), loop).result(timeout=30)
        yield server
    finally:
        if server is not None:
            asyncio.run_coroutine_threadsafe(server.stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()


def export_lines(env: Mapping[str, str]) -> str:
    """``export NAME=VALUE`` lines (shell-quoted) followed by one blank line."""
    return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items()) + "\n"


async def _serve_until_signal(server: EmulatorServer) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    if sys.platform != "win32":  # the Windows event loop has no signal handlers
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(RuntimeError):
                loop.add_signal_handler(sig, stop.set)
    await server.start()
    sys.stdout.write(export_lines(server.env()))
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        await server.stop()


def serve(
    *, host: str = "127.0.0.1", port: int = 0, latency: float = 0.0, capacity: int = 8
) -> int:
    """Run the emulator in the foreground until SIGINT/SIGTERM; returns the exit code (0).

    Prints the environment (``export NAME=VALUE`` lines, then a blank line) first, so a shell
    or a parent process can point the project at it.
    """
    server = EmulatorServer(host=host, port=port, latency=latency, capacity=capacity)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_until_signal(server))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m twat_genai.testing.server [--host H] [--port P] [--latency S] [--capacity N]``."""
    parser = argparse.ArgumentParser(
        prog="twat-genai emulator", description="Run the local provider emulators."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per job")
    parser.add_argument("--capacity", type=int, default=8, help="concurrent jobs per endpoint")
    args = parser.parse_args(argv)
    return serve(host=args.host, port=args.port, latency=args.latency, capacity=args.capacity)


if __name__ == "__main__":
    raise SystemExit(main())
