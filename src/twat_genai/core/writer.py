"""The output writer: one naming, atomic-write and sidecar policy for every provider.

Names are ``{prefix}{timestamp}-{id8}{suffix}{role}{-N}.{ext}``; the extension comes from the
real bytes. A file appears under its final name only when complete (temporary file + rename),
and its ``.json`` sidecar is written right after; if the sidecar fails the media file is removed,
so nothing claims a file that is not there. The directory is created on the first write, never at
construction (importing or configuring must not litter the working directory).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from twat_genai.core.embed import embed_parameters, has_content_credentials
from twat_genai.core.files import (
    DOWNLOAD_PREFIX,
    STALE_TEMP_SECONDS,
    atomic_write_bytes,
    check_writable,
    create_temp,
    fsync_dir,
    remove_stale_temps,
)
from twat_genai.core.media import extension_for, probe_size, sniff_media_type
from twat_genai.core.naming import check_template, slugify, stem
from twat_genai.core.records import embedded_subset, plain_copy

__all__ = [
    "EMBED_MAX_BYTES",
    "STALE_TEMP_SECONDS",
    "OutputWriter",
    "StreamingFile",
    "check_writable",
    "embedded_subset",
    "slugify",
]

#: Streamed images larger than this are not re-read to embed parameters (the sidecar has them).
EMBED_MAX_BYTES = 64 * 1024 * 1024
_HEAD_BYTES = 256 * 1024
#: How much of a file's end is kept to tell whether it is complete.
_TAIL_BYTES = 64


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class OutputWriter:
    """Saves provider outputs with collision-free names, atomically, each with a JSON sidecar.

    Thread-safe: names are reserved in a per-writer set under a lock and checked against the
    disk, so concurrent writes with the same id and timestamp get ``-2``, ``-3`` … suffixes.
    """

    def __init__(
        self,
        output_dir: Path | str,
        *,
        prefix: str | None = None,
        suffix: str | None = None,
        embed: bool = True,
        clock: Callable[[], datetime] = utc_now,
        fsync: bool = False,
        template: str | None = None,
        sweep: bool = True,
    ) -> None:
        self.output_dir = Path(output_dir).expanduser()
        self.prefix = prefix
        self.suffix = suffix
        self.template = check_template(template) if template else None
        self.embed = embed
        self.clock = clock
        self.fsync = fsync
        self._lock = threading.Lock()
        self._reserved: set[str] = set()
        #: Per (name, extension): the highest suffix handed out (1: the bare name).
        self._taken: dict[tuple[str, str], int] = {}
        self._swept = not sweep  # a batch sweeps once per run, not once per writer

    def __repr__(self) -> str:
        return f"OutputWriter({str(self.output_dir)!r}, prefix={self.prefix!r})"

    # ------------------------------------------------------------------ naming

    def target_dir(self) -> Path:
        """The output directory, created (with parents) on first use; the first use also removes
        this writer's temporary files left there by a killed run (see :func:`remove_stale_temps`)."""
        self.output_dir.mkdir(parents=True, exist_ok=True)
        with self._lock:
            sweep, self._swept = not self._swept, True
        if sweep:
            remove_stale_temps(self.output_dir)
        return self.output_dir

    def _date(self) -> str:
        now = self.clock()
        now = (
            now.replace(tzinfo=timezone.utc) if now.tzinfo is None else now.astimezone(timezone.utc)
        )
        return now.strftime("%Y%m%d")

    def base_stem(
        self,
        *,
        ident: str,
        role: str = "",
        index: int | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> str:
        """The name without collision suffix or extension (pure: no disk, no reservation); see
        :func:`twat_genai.core.naming.stem`."""
        return stem(
            ident=ident,
            fields=fields or {},
            date=self._date(),
            prefix=self.prefix,
            suffix=self.suffix,
            template=self.template,
            role=role,
            index=index,
        )

    def name_for(
        self,
        *,
        ident: str,
        ext: str,
        role: str = "",
        index: int | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> str:
        """A fresh file name, reserved for this writer (see :meth:`base_stem`).

        The stem is free on disk (for both the media file and its ``.json`` sidecar) and not
        handed out before by this writer; ``-2``, ``-3`` … are appended until it is.
        """
        ext = slugify(ext.lstrip(".")).strip("-.").lower() or "bin"
        stem = self.base_stem(ident=ident, role=role, index=index, fields=fields)
        return f"{self._reserve_stem(stem, ext)}.{ext}"

    def _stem_free(self, directory: Path, stem: str, ext: str) -> bool:
        if stem in self._reserved:
            return False
        return (
            not (directory / f"{stem}.{ext}").exists() and not (directory / f"{stem}.json").exists()
        )

    def _reserve_stem(self, base: str, ext: str) -> str:
        """The first free of ``base``, ``base-2``, ``base-3`` … after those this writer gave
        out; behind a run of taken names the free one is found by doubling then halving, so a
        folder holding thousands of copies of a name costs a few checks, not thousands."""
        directory = self.output_dir

        def free(n: int) -> bool:
            return self._stem_free(directory, base if n == 1 else f"{base}-{n}", ext)

        with self._lock:
            taken = self._taken.get((base, ext), 0)
            n = taken + 1
            if not free(n):
                low, high = n, n + 1
                while not free(high):
                    low, high = high, high * 2
                while high - low > 1:  # low is taken, high is free
                    middle = (low + high) // 2
                    low, high = (low, middle) if free(middle) else (middle, high)
                n = high
            self._taken[(base, ext)] = n
            stem = base if n == 1 else f"{base}-{n}"
            self._reserved.add(stem)
            return stem

    def plan(
        self,
        data: bytes,
        *,
        ident: str,
        role: str = "",
        index: int | None = None,
        content_type: str | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> Path:
        """Reserve the path :meth:`write` would use for ``data``, so a caller can record it
        before the file exists (pass it back as ``path``); ``fields`` fill the name."""
        ext = extension_for(_real_type(data, content_type))
        name = self.name_for(ident=ident, ext=ext, role=role, index=index, fields=fields)
        return self.output_dir / name

    # ------------------------------------------------------------------ writing

    def write(
        self,
        data: bytes,
        *,
        ident: str,
        metadata: Mapping[str, Any],
        role: str = "",
        index: int | None = None,
        content_type: str | None = None,
        path: Path | None = None,
    ) -> tuple[Path, Path]:
        """Save ``data`` and its sidecar; returns (media path, sidecar path).

        The type comes from the bytes; ``content_type`` is only a fallback when sniffing fails.
        ``path`` (from :meth:`plan`) writes under that exact name, replacing what is there.
        Bytes in memory take the same path as a download (:meth:`write_stream`).
        """
        with self.write_stream() as stream:
            stream.write(data)
            return stream.commit(
                ident=ident,
                metadata=metadata,
                role=role,
                index=index,
                content_type=content_type,
                path=path,
            )

    async def write_async(
        self,
        data: bytes,
        *,
        ident: str,
        metadata: Mapping[str, Any],
        role: str = "",
        index: int | None = None,
        content_type: str | None = None,
        path: Path | None = None,
    ) -> tuple[Path, Path]:
        """:meth:`write` in a worker thread (file I/O and hashing stay off the event loop)."""
        return await asyncio.to_thread(
            self.write,
            data,
            ident=ident,
            metadata=metadata,
            role=role,
            index=index,
            content_type=content_type,
            path=path,
        )

    def write_stream(self) -> StreamingFile:
        """A temporary file in the output directory for a streamed download.

        Use as a context manager: append chunks with ``write``, then ``commit(...)``. Leaving the
        block without committing (or with an exception) removes the temporary file.
        """
        return StreamingFile(self)

    def _write_sidecar(
        self, media: Path, metadata: Mapping[str, Any], info: dict[str, Any]
    ) -> Path:
        """Write ``media``'s sidecar; with ``fsync`` the media's new name is made durable first.
        On any failure the media file is removed (nothing claims a file that is not there)."""
        sidecar = media.with_suffix(".json")
        try:
            if self.fsync:
                fsync_dir(media.parent)
            record = plain_copy({**dict(metadata), "file": info})
            text = json.dumps(record, indent=2, ensure_ascii=False, default=str) + "\n"
            atomic_write_bytes(sidecar, text.encode("utf-8"), fsync=self.fsync)
        except BaseException:
            with contextlib.suppress(OSError):
                media.unlink()
            raise
        return sidecar


def _real_type(data: bytes, content_type: str | None) -> str:
    sniffed = sniff_media_type(data)
    if sniffed:
        return sniffed
    if content_type:
        return content_type.split(";", 1)[0].strip().lower() or "application/octet-stream"
    return "application/octet-stream"


def _dims(data: bytes, mime: str) -> tuple[int, int] | None:
    if not mime.startswith("image/"):
        return None
    try:
        return probe_size(data)
    except ValueError:
        return None


def _file_info(
    name: str,
    *,
    size: int,
    sha256: str,
    mime: str,
    declared: str | None,
    dims: tuple[int, int] | None,
    embedded: bool,
    credentials: bool,
) -> dict[str, Any]:
    info: dict[str, Any] = {
        "path": name,
        "bytes": size,
        "sha256": sha256,
        "content_type": mime,
        "width": dims[0] if dims else None,
        "height": dims[1] if dims else None,
        "embedded_parameters": embedded,
        "content_credentials": credentials,
    }
    if declared and declared.split(";", 1)[0].strip().lower() != mime:
        info["declared_content_type"] = declared
    return info


class StreamingFile:
    """A download in progress. Its first :data:`_HEAD_BYTES` stay in memory (its type and size
    are read from them); a download that outgrows them goes on into a hidden temporary file
    beside the final one, while a smaller one reaches the disk once, whole, at commit.

    Parameters are embedded into streamed images up to :data:`EMBED_MAX_BYTES` (a file is read
    back, stamped and rewritten before it gets its final name); larger files keep only the sidecar.

    ``write``, ``commit`` and ``abort`` exclude each other: an ``abort`` arriving while a commit
    runs in a worker thread (the awaiting task was cancelled) waits for it, then finds the stream
    done. The result is always whole: a file with its sidecar, or nothing.
    """

    def __init__(self, writer: OutputWriter) -> None:
        self._writer = writer
        self._directory = writer.target_dir()
        #: The temporary file, made once the download outgrows the head kept in memory anyway
        #: (most images never do: they reach the disk once, whole, under their final name).
        self.temp_path: Path | None = None
        self._fh: IO[bytes] | None = None
        #: The digest of a spilled download, kept as its bytes arrive (one in memory is hashed
        #: once, at commit, as saved: stamping changes the bytes).
        self._hash: Any = None
        self._head = bytearray()
        self._head_bytes: bytes | None = None
        self._tail = b""
        self.bytes_written = 0
        self._open = True
        self._done = False
        self._lock = threading.Lock()

    def _spill(self) -> IO[bytes]:
        """The temporary file, holding what was written so far."""
        if self._fh is None:
            fd, self.temp_path = create_temp(self._directory, DOWNLOAD_PREFIX)
            self._fh = os.fdopen(fd, "w+b")
            self._fh.write(self._head)
        return self._fh

    def write(self, chunk: bytes) -> int:
        """Append a chunk; returns its length."""
        with self._lock:
            if not self._open:
                raise ValueError("stream is already committed or aborted")
            if self._fh is not None or self.bytes_written + len(chunk) > _HEAD_BYTES:
                if self._hash is None:
                    self._hash = hashlib.sha256(self._head)
                self._spill().write(chunk)
                self._hash.update(chunk)
            if len(self._head) < _HEAD_BYTES:
                self._head += chunk[: _HEAD_BYTES - len(self._head)]
                self._head_bytes = None
            self._tail = (self._tail + chunk[-_TAIL_BYTES:])[-_TAIL_BYTES:]
            self.bytes_written += len(chunk)
            return len(chunk)

    def restart(self) -> None:
        """Forget what was written (a download that broke off is fetched again from the start)."""
        with self._lock:
            if not self._open:
                raise ValueError("stream is already committed or aborted")
            if self._fh is not None:
                self._fh.seek(0)
                self._fh.truncate()
            self._hash = None
            self._head = bytearray()
            self._head_bytes = None
            self._tail = b""
            self.bytes_written = 0

    async def write_async(self, chunk: bytes) -> int:
        """:meth:`write` in a worker thread."""
        return await asyncio.to_thread(self.write, chunk)

    @property
    def head(self) -> bytes:
        """The first bytes written (enough to tell the type and, usually, the dimensions)."""
        if self._head_bytes is None:
            self._head_bytes = bytes(self._head)
        return self._head_bytes

    @property
    def tail(self) -> bytes:
        """The last bytes written (enough to tell whether an image file ends where it should)."""
        return self._tail

    def commit(
        self,
        *,
        ident: str,
        metadata: Mapping[str, Any],
        role: str = "",
        index: int | None = None,
        content_type: str | None = None,
        path: Path | None = None,
    ) -> tuple[Path, Path]:
        """Give the download its final name and write its sidecar; (media, sidecar) paths.

        ``path`` (from :meth:`OutputWriter.plan`) is used as the final name when given."""
        with self._lock:
            return self._commit(
                ident=ident,
                metadata=metadata,
                role=role,
                index=index,
                content_type=content_type,
                path=path,
            )

    def _commit(
        self,
        *,
        ident: str,
        metadata: Mapping[str, Any],
        role: str,
        index: int | None,
        content_type: str | None,
        path: Path | None,
    ) -> tuple[Path, Path]:
        if not self._open:
            raise ValueError("stream is already committed or aborted")
        writer = self._writer
        self._open = False
        try:
            head = self.head
            mime = _real_type(head, content_type)
            size, digest = self.bytes_written, ""
            credentials = embedded = False
            dims: tuple[int, int] | None = None
            if mime.startswith("image/"):
                small = size <= EMBED_MAX_BYTES
                data = self._whole() if small else head
                credentials = has_content_credentials(data) if small else False
                if small and writer.embed and not credentials:
                    stamped = embed_parameters(data, embedded_subset(metadata))
                    if stamped != data:  # still a temporary name (or none): written whole
                        if self._fh is not None:
                            self._fh.seek(0)
                            self._fh.write(stamped)
                            self._fh.truncate()
                        else:
                            self._head, self._head_bytes = bytearray(stamped), stamped
                        data, embedded = stamped, True
                        size = len(data)
                dims = _dims(data, mime)
            if embedded:  # hashed as saved
                digest = hashlib.sha256(data).hexdigest()
            elif self._hash is None:  # never left memory
                digest = hashlib.sha256(self.head).hexdigest()
            else:
                digest = self._hash.hexdigest()
            temp = self._settle()
            if path is not None:
                media, name = path, path.name
            else:
                ext = extension_for(mime)
                name = writer.name_for(ident=ident, ext=ext, role=role, index=index)
                media = self._directory / name
            temp.replace(media)
        except BaseException:
            self._discard()
            raise
        self._done = True
        info = _file_info(
            name,
            size=size,
            sha256=digest,
            mime=mime,
            declared=content_type,
            dims=dims,
            embedded=embedded,
            credentials=credentials,
        )
        return media, writer._write_sidecar(media, metadata, info)

    def _whole(self) -> bytes:
        """Everything written: the head when it holds all of it, else read back."""
        if self._fh is None or self.bytes_written <= len(self._head):
            return self.head
        self._fh.flush()
        self._fh.seek(0)
        return self._fh.read()

    def _settle(self) -> Path:
        """The temporary file, complete (and durable with ``fsync``) and closed: made now, in
        one write, when everything was still in memory."""
        fh = self._spill()
        assert self.temp_path is not None
        if self._writer.fsync:
            fh.flush()
            os.fsync(fh.fileno())
        fh.close()
        self._fh = None
        return self.temp_path

    async def commit_async(
        self,
        *,
        ident: str,
        metadata: Mapping[str, Any],
        role: str = "",
        index: int | None = None,
        content_type: str | None = None,
        path: Path | None = None,
    ) -> tuple[Path, Path]:
        """:meth:`commit` in a worker thread."""
        return await asyncio.to_thread(
            self.commit,
            ident=ident,
            metadata=metadata,
            role=role,
            index=index,
            content_type=content_type,
            path=path,
        )

    def abort(self) -> None:
        """Drop the partial download (the directory, if just created, stays: removing it races).

        Waits for a commit running in another thread; after a finished commit it does nothing."""
        with self._lock:
            self._discard()

    def _discard(self) -> None:
        """:meth:`abort` with the lock held."""
        if self._done:
            return
        self._done = True
        self._open = False
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self._fh.close()
            self._fh = None
        if self.temp_path is not None:
            with contextlib.suppress(OSError):
                self.temp_path.unlink()

    def __enter__(self) -> StreamingFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.abort()  # under the lock: waits for a commit still running in another thread
