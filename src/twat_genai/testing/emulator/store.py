"""Every uploaded and generated file, served by URL from the emulator itself."""

from __future__ import annotations

import re
import uuid
from urllib.parse import quote, unquote, urlsplit

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
            port = parts.port
        except ValueError:
            return None
        if parts.scheme not in {"http", "https"} or port != self._server.port:
            return None
        if not self._server.is_own_host(parts.hostname):
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
