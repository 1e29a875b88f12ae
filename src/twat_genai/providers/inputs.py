"""Input images as bytes, for every provider: local files are validated before any request,
remote URLs fetched with the transport's timeouts and size cap.

Every input a provider reads is also noted for the sidecar (its source, sha256, size in bytes
and pixels, and any resize done before sending) while :func:`noting_inputs` is active; the
core turns the notes into the sidecar's ``inputs``.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from twat_genai.core import media
from twat_genai.core.errors import DownloadError, UsageError
from twat_genai.core.inputs import ImageInput, validate_local_input
from twat_genai.transport.http import HttpClient

_NOTES: ContextVar[list[dict[str, Any]] | None] = ContextVar("twat_genai_inputs", default=None)


@contextmanager
def noting_inputs() -> Iterator[list[dict[str, Any]]]:
    """Collect what every :func:`read_input` (and :func:`note_input`) in this context saw."""
    notes: list[dict[str, Any]] = []
    token = _NOTES.set(notes)
    try:
        yield notes
    finally:
        _NOTES.reset(token)


def note_input(source: str, data: bytes | None = None, size: tuple[int, int] | None = None,
               **extra: Any) -> None:  # fmt: skip
    """Note one input (a URL passed on unread has no bytes to hash)."""
    notes = _NOTES.get()
    if notes is None:
        return
    note: dict[str, Any] = {"source": source}
    if data is not None:
        note.update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    if size is not None:
        note.update(width=size[0], height=size[1])
    note.update(extra)
    if note not in notes:
        notes.append(note)


async def read_input(inp: ImageInput, http: HttpClient) -> tuple[bytes, str, tuple[int, int]]:
    """(bytes, mime type, (width, height)) of an input image, checked to be a real image."""
    if inp.is_remote:
        assert inp.url is not None
        try:
            data, _ = await http.fetch_bytes(inp.url, max_bytes=media.MAX_INPUT_BYTES)
        except DownloadError as exc:
            raise UsageError(f"cannot fetch input image {inp.describe()}: {exc}") from exc
        checked = await asyncio.to_thread(_check_bytes, data, inp.describe())
    else:
        checked = await asyncio.to_thread(validate_local_input, inp)
    note_input(_source(inp), checked[0], checked[2])
    return checked


def _source(inp: ImageInput) -> str:
    """A path resolved to where it is, a URL as given (data URIs shortened)."""
    if inp.path is not None:
        return str(inp.path.expanduser().resolve())
    return inp.describe()


def _check_bytes(data: bytes, source: str) -> tuple[bytes, str, tuple[int, int]]:
    img = media.decode_image(data, source=source)
    mime = media.sniff_media_type(data) or "image/png"
    return data, mime, (img.width, img.height)
