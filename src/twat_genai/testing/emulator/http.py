"""What an emulator app sees and answers: requests, responses, headers and parsed forms.

These types are the apps' whole view of HTTP, so the server underneath (aiohttp today) can
change without touching a provider emulator.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qsl


class Rooted(Protocol):
    """The one thing a request needs of its server: the root URL (the bottom of the imports,
    so apps reach the rest of the server through ``self.server``, a :class:`.host.Host`)."""

    @property
    def root(self) -> str: ...


class Headers(Mapping[str, str]):
    """Case-insensitive, read-only request headers (repeated headers joined by ``, ``).

    Built from ``(name, value)`` pairs (``str`` or ``bytes``); the mapping is made on first
    use, so a request whose headers nobody reads costs one list.
    """

    def __init__(self, raw: Any = ()) -> None:
        self._raw = raw
        self._d: dict[str, str] | None = None

    def _map(self) -> dict[str, str]:
        if self._d is None:
            joined: dict[str, str] = {}
            for k, v in self.items_raw():
                joined[k] = f"{joined[k]}, {v}" if k in joined else v
            self._d = joined
        return self._d

    def items_raw(self) -> list[tuple[str, str]]:
        """``(lower-case name, value)`` pairs in the order received."""
        out = []
        for k, v in self._raw:
            name = k.decode("latin-1") if isinstance(k, bytes) else str(k)
            value = v.decode("latin-1") if isinstance(v, bytes) else str(v)
            out.append((name.lower(), value))
        return out

    def __getitem__(self, key: str) -> str:
        return self._map()[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._map()

    def __iter__(self) -> Iterator[str]:
        return iter(self._map())

    def __len__(self) -> int:
        return len(self._map())

    def names(self) -> list[str]:
        """Header names in the order received (lower case)."""
        return [
            k.decode("latin-1").lower() if isinstance(k, bytes) else k.lower() for k, _ in self._raw
        ]


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

    ``path`` is relative to the app's mount prefix. Apps may set, for the request log,
    ``endpoint`` (e.g. the model id), ``args`` (shown instead of the parsed body), ``note``
    (anything the emulator had to assume) and ``ignored`` (arguments the provider ignores).
    ``accepted`` is set (by :meth:`.app.EmulatorApp.accept`) once the call created a job:
    from then on a lost answer (``reset_after``) loses no job.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: Headers
    body: bytes
    server: Rooted
    prefix: str = ""
    endpoint: str | None = None
    args: Any = None
    note: str | None = None
    ignored: list[str] | None = None
    accepted: bool = False
    head: bool = False  # a HEAD request (``method`` reads GET): answer without a body
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


@dataclass
class EmulatorResponse:
    """An answer: a byte body, or ``stream`` (an async iterator of chunks, sent chunked).

    A stream with a ``length`` is sent under that Content-Length instead; if it ends short,
    the connection is closed (a truncated download). ``reset`` answers nothing: the
    connection is reset. ``fault`` names an injected fault, for the request log.
    """

    status: int = 200
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    stream: AsyncIterator[bytes] | None = None
    length: int | None = None
    reset: bool = False
    fault: str | None = None

    @classmethod
    def connection_reset(cls, fault: str | None = None) -> EmulatorResponse:
        """No answer: the server resets the connection (TCP RST)."""
        return cls(0, b"", None, reset=True, fault=fault)

    def streamed(self, chunks: AsyncIterator[bytes]) -> EmulatorResponse:
        """This answer with its body sent as ``chunks`` under its full Content-Length."""
        self.length, self.stream = len(self.body), chunks
        return self

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
