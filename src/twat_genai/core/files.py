"""Files on disk done safely: atomic writes (temporary file, then rename), durable renames,
the mode a plain write would give, a writability check before anything is paid for, and the
sweep of temporary files a killed run left behind."""

from __future__ import annotations

import base64
import contextlib
import errno
import os
import re
import stat
import tempfile
import time
from pathlib import Path

from twat_genai.core.errors import UsageError

#: Temporary files: ``.download.twat-tmp-<random>`` for a stream, and
#: ``.{final name}.twat-tmp-<random>`` for an atomic write: the mark, not the final name, says
#: whose they are (names follow a template users choose).
_TMP_MARK = ".twat-tmp-"
DOWNLOAD_PREFIX = f".download{_TMP_MARK}"
_RANDOM = (
    r"[a-z0-9_]{8}"  # what create_temp (and, before it, tempfile.mkstemp) puts after the prefix
)
_OWN_TEMP = re.compile(
    rf"\.[A-Za-z0-9._-]+\.twat-tmp-{_RANDOM}"
    # earlier releases: ``.download.tmp-…`` and ``.{timestamped name}.tmp-…``
    rf"|\.(?:download|\.download\.tmp-{_RANDOM}|[A-Za-z0-9._-]*\d{{8}}-\d{{6}}-[A-Za-z0-9._-]+)"
    rf"\.tmp-{_RANDOM}"
)
#: A temporary file untouched for this long belongs to a killed run. A day, not minutes: a live
#: run's file may wait for a slot, or its process be suspended, long before it is written.
STALE_TEMP_SECONDS = 24 * 60 * 60


_PROC_STATUS = Path("/proc/self/status")


def _current_umask() -> int:
    """The process umask, read without changing it where the system tells it (Linux 4.7+:
    ``Umask:`` in ``/proc/self/status``). Elsewhere it is set and restored, which briefly
    makes it 0 for every thread: the only portable way to read it."""
    try:
        with _PROC_STATUS.open(encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8) & 0o777
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _file_mode() -> int:
    """What a plain ``open(path, "w")`` would give: 0o666 less the process umask. Temporary
    files are created 0o600, and outputs must not stay private just because of that."""
    return 0o666 & ~_current_umask()


FILE_MODE = _file_mode()


_DIR_FSYNC_UNSUPPORTED = {errno.EINVAL, errno.EBADF, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EACCES}


def fsync_dir(directory: Path) -> None:
    """Make renames in ``directory`` durable (POSIX: fsync the directory itself). Skipped
    silently where a directory cannot be opened or synced (Windows, some file systems)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in _DIR_FSYNC_UNSUPPORTED:
            raise
    finally:
        os.close(fd)


_CREATE = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
_CREATE |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def create_temp(directory: Path, prefix: str) -> tuple[int, Path]:
    """A new file ``{prefix}{8 random characters}`` in ``directory``, open for reading and
    writing (the descriptor and the path). What ``tempfile.mkstemp`` guarantees (a fresh file,
    never a link followed), made with the mode a plain write gives, so no chmod follows: a
    batch makes two per output, and mkstemp's name generator and the chmod were half their
    cost."""
    for _ in range(100):
        name = base64.b32encode(os.urandom(5)).decode("ascii").lower()  # [a-z2-7]{8}
        path = directory / f"{prefix}{name}"
        try:
            return os.open(path, _CREATE, FILE_MODE), path
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(directory))


def write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    """``data`` written to ``fd`` whole (``os.write`` may write less than asked)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def atomic_write_bytes(path: Path, data: bytes, *, fsync: bool, sync_dir: bool = True) -> None:
    """Write beside ``path`` under a hidden temporary name, then rename over it. With ``fsync``
    the data and (unless ``sync_dir`` is false) the new directory entry are made durable."""
    fd, tmp = create_temp(path.parent, f".{path.name}{_TMP_MARK}")
    try:
        try:
            write_all(fd, data)
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if fsync and sync_dir:
        fsync_dir(path.parent)


def check_writable(directory: Path | str) -> None:
    """Refuse an output folder that cannot be written, before anything is paid for. The check
    writes for real (a missing folder is created, a temporary file opened) and leaves nothing:
    permission bits alone do not tell (root, read-only or virtual file systems)."""
    path = Path(directory).expanduser().absolute()
    missing: list[Path] = []
    probe = path
    while not probe.exists() and probe.parent != probe:
        missing.append(probe)
        probe = probe.parent
    if not probe.is_dir():
        where = "is" if probe == path else f"is under {probe}, which is"
        raise UsageError(f"output folder {path} {where} not a folder: choose another --output_dir")
    created: list[Path] = []  # only these are removed: a folder another run made stays
    try:
        for folder in reversed(missing):
            try:
                folder.mkdir()
            except FileExistsError:  # made meanwhile by another run (a file fails just below)
                continue
            created.append(folder)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UsageError(
            f"cannot write to {path} ({reason}): choose another --output_dir"
        ) from None
    finally:
        for folder in reversed(created):  # deepest first
            with contextlib.suppress(OSError):
                folder.rmdir()


def remove_stale_temps(directory: Path, *, older_than: float = STALE_TEMP_SECONDS) -> list[Path]:
    """Delete the writer's own temporary files in ``directory`` (not below) not modified for
    ``older_than`` seconds: leftovers of a killed run, possibly gigabytes. Nothing else is
    touched: only regular files named like this module's temporary files. Returns what went."""
    limit = time.time() - older_than
    removed: list[Path] = []
    try:
        # Names only: in a folder of 50,000 outputs a DirEntry per file costs more than the
        # listing, and only hidden names can be ours.
        names = os.listdir(directory)  # noqa: PTH208 - iterdir makes a Path per name
    except OSError:
        return removed
    for name in names:
        if not name.startswith(".") or not _OWN_TEMP.fullmatch(name):
            continue
        path = Path(directory, name)
        try:
            info = path.lstat()
            if not stat.S_ISREG(info.st_mode) or info.st_mtime >= limit:
                continue
            path.unlink()
        except OSError:
            continue
        removed.append(path)
    return removed
