"""Every uploaded and generated file, served by URL from the emulator itself.

Downloads are where the ``truncate`` and ``drip`` faults (:mod:`.faults`) and the ``drip`` and
``expire`` scenarios strike, for whichever provider made the file.
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import quote, unquote, urlsplit

from .faults import cut, drip
from .host import Host, StoredFile
from .http import EmulatorResponse, json_response
from .media import extension_for

__all__ = ["FileStore", "StoredFile", "safe_name"]

_FILE_ID = re.compile(r"/files/([0-9a-f]{32})(?:/|$)")


def safe_name(name: str) -> str:
    """A file name safe to put in a URL path segment (base name, no control characters)."""
    base = unquote(name).replace("\\", "/").rsplit("/", 1)[-1]
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._") or "file"
    return base[:120]


class FileStore:
    """Files addressable by URL on this server (a dict by id: no lookup scans)."""

    def __init__(self, server: Host) -> None:
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
        owner: str = "files",
        drip: bool = False,
        expire_after: float | None = None,
    ) -> str:
        """Store ``data`` and return its absolute URL ``<root><route>/<id>/<name>``.

        ``owner`` is the provider that made the file; ``broken`` files answer 500 on GET,
        ``drip`` ones come slowly, and ``expire_after`` seconds from now they answer 404.
        """
        fid = file_id or self.new_id()
        safe = safe_name(name) if name else f"{fid[:8]}.{extension_for(content_type)}"
        expires = None if expire_after is None else self._server.clock() + expire_after
        self._files[fid] = StoredFile(fid, safe, content_type, data, broken, owner, drip, expires)
        return self.url_for(fid, safe, route)

    def _live(self, stored: StoredFile | None) -> StoredFile | None:
        if stored is None or stored.expires_at is None:
            return stored
        return stored if self._server.clock() < stored.expires_at else None

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
            port = parts.port
        except ValueError:
            return None
        if parts.scheme not in {"http", "https"} or port != self._server.port:
            return None
        if not self._server.is_own_host(parts.hostname):
            return None
        match = _FILE_ID.search(parts.path)
        return self._live(self._files.get(match.group(1))) if match else None

    def serve(self, file_id: str, *, head: bool = False) -> EmulatorResponse:
        """GET (or HEAD) answer for a file: its bytes, 500 if broken, 404 if unknown or
        expired; a download may drip or be cut short (scenario or injected fault)."""
        stored = self._live(self._files.get(file_id))
        if stored is None:
            return json_response({"detail": "File not found"}, 404)
        if stored.broken:
            return EmulatorResponse.raw(b"Internal Server Error", "text/plain", 500)
        resp = EmulatorResponse.raw(stored.data, stored.content_type)
        if head:
            return resp
        fault = self._server.faults.download(stored.owner)
        if fault is not None:
            self._server.stats.add(stored.owner, f"fault_{fault}")
            resp.fault = fault
        if fault == "truncate":
            return resp.streamed(cut(stored.data))
        if fault == "drip" or stored.drip:
            return resp.streamed(drip(stored.data))
        return resp

    def clear(self) -> None:
        """Drop every file."""
        self._files.clear()

    def __len__(self) -> int:
        return len(self._files)
