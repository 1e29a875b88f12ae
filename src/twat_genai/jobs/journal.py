"""The batch journal: one SQLite file per output folder that remembers every item's state, so a
re-run of the same command skips finished items and re-attaches to jobs already paid for.

Why SQLite: one short transaction per state change survives SIGKILL at any moment (WAL mode; a
committed row is in the WAL file before ``commit`` returns), and it needs nothing but the stdlib.
Writes are tiny and synchronous: with ``synchronous=NORMAL`` a commit does not fsync, so it costs
tens of microseconds and never stalls the event loop noticeably.

Nothing secret is stored: keys are hashes of the request, handles hold request ids and URLs only
(``Authorization`` lives in HTTP headers, never in a handle), and errors are redacted.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twat_genai.core.errors import UsageError
from twat_genai.core.redact import redact, redact_obj

JOURNAL_NAME = ".twat-genai-journal.sqlite"
PENDING, SUBMITTED = "pending", "submitted"
STATES = ("pending", "submitted", "ok", "blocked", "failed", "cancelled")


def item_key(**parts: Any) -> str:
    """A stable identity for one item: sha256 of its canonical JSON (never of timestamps).

    Callers pass the command, provider, endpoint/model, the fully expanded request, the output
    folder, prefix/suffix and an occurrence number (so two identical prompts stay two items).
    """
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass
class Entry:
    """One journal row."""

    key: str
    label: str
    state: str
    handles: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    #: Files named while the item ran (file key -> path), recorded before each was written.
    files: dict[str, str] = field(default_factory=dict)
    request_id: str | None = None
    error: str | None = None
    created: float = 0.0
    updated: float = 0.0


def _m1_items(db: sqlite3.Connection) -> None:
    db.execute(
        """CREATE TABLE items (
            key TEXT PRIMARY KEY,
            label TEXT NOT NULL,
            state TEXT NOT NULL,
            handles TEXT NOT NULL DEFAULT '[]',
            paths TEXT NOT NULL DEFAULT '[]',
            request_id TEXT,
            error TEXT,
            created REAL NOT NULL,
            updated REAL NOT NULL
        )"""
    )
    db.execute("CREATE INDEX items_state ON items(state)")


def _m2_files(db: sqlite3.Connection) -> None:
    db.execute("ALTER TABLE items ADD COLUMN files TEXT NOT NULL DEFAULT '{}'")


def _m3_runs(db: sqlite3.Connection) -> None:
    db.execute(
        """CREATE TABLE runs (
            batch TEXT PRIMARY KEY,
            number INTEGER NOT NULL,
            started REAL NOT NULL
        )"""
    )


#: Schema history, oldest first. Append a function to change the schema; never edit one.
MIGRATIONS: list[tuple[str, Callable[[sqlite3.Connection], None]]] = [
    ("items", _m1_items),
    ("files named before they are written", _m2_files),
    ("runs: a finished batch run again is a new run", _m3_runs),
]

_COLUMNS = "key, label, state, handles, paths, request_id, error, created, updated, files"


class UnreadableJournal(UsageError):
    """The journal file is not a database (or is damaged): ``--fresh`` may replace it."""


class Journal:
    """The journal of one output folder. Thread-safe; every method is one short transaction.

    The file is created by the first write, so a run that fails before anything is submitted
    leaves the output folder as it was.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    @classmethod
    def for_output(cls, output_dir: Path | str) -> Journal:
        return cls(Path(output_dir) / JOURNAL_NAME)

    def _conn(self, *, create: bool) -> sqlite3.Connection | None:
        """The open database (callers hold the lock); None when reading a journal never written."""
        if self._db is None:
            if not create and not self.path.exists():
                return None
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            except sqlite3.Error as exc:
                raise UsageError(f"the batch journal {self.path} is not usable: {exc}") from exc
            try:
                db.execute("PRAGMA busy_timeout=5000")  # first: the others may need to wait
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                _migrate(db)
            except sqlite3.OperationalError as exc:  # busy, or not openable: not ours to delete
                db.close()
                raise UsageError(f"the batch journal {self.path} is not usable: {exc}") from exc
            except sqlite3.DatabaseError as exc:
                db.close()
                raise UnreadableJournal(
                    f"the batch journal {self.path} cannot be read ({exc}): run with --fresh "
                    "(or remove it) to start the folder's journal afresh"
                ) from exc
            self._db = db
        return self._db

    @property
    def version(self) -> int:
        with self._lock:
            db = self._conn(create=False)
            return int(db.execute("PRAGMA user_version").fetchone()[0]) if db else 0

    def _write(self, sql: str, params: Iterable[Any]) -> None:
        with self._lock:
            db = self._conn(create=True)
            assert db is not None
            db.execute(sql, tuple(params))

    # -- reads -------------------------------------------------------------------------------

    def get(self, key: str) -> Entry | None:
        with self._lock:
            db = self._conn(create=False)
            if db is None:
                return None
            row = db.execute(
                f"SELECT {_COLUMNS} FROM items WHERE key = ?",
                (key,),
            ).fetchone()
        return _entry(row) if row else None

    def entries(self) -> list[Entry]:
        with self._lock:
            db = self._conn(create=False)
            if db is None:
                return []
            rows = db.execute(f"SELECT {_COLUMNS} FROM items ORDER BY created").fetchall()
        return [_entry(r) for r in rows]

    def run_number(self, batch: str) -> int:
        """The current run of a batch (0 before its first new run)."""
        with self._lock:
            db = self._conn(create=False)
            if db is None:
                return 0
            row = db.execute("SELECT number FROM runs WHERE batch = ?", (batch,)).fetchone()
        return int(row[0]) if row else 0

    # -- state changes -----------------------------------------------------------------------

    def new_run(self, batch: str) -> int:
        """Start the next run of a batch (its items get new keys) and return its number."""
        with self._lock:
            db = self._conn(create=True)
            assert db is not None
            db.execute(
                "INSERT INTO runs (batch, number, started) VALUES (?, 1, ?)"
                " ON CONFLICT(batch) DO UPDATE SET number = number + 1, started = excluded.started",
                (batch, time.time()),
            )
            row = db.execute("SELECT number FROM runs WHERE batch = ?", (batch,)).fetchone()
        return int(row[0])

    def start(self, key: str, label: str) -> None:
        """Mark an item pending (a new row, or a retry of one that did not finish well)."""
        now = time.time()
        self._write(
            "INSERT INTO items (key, label, state, created, updated) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(key) DO UPDATE SET state = excluded.state, label = excluded.label,"
            " handles = '[]', files = '{}', error = NULL, updated = excluded.updated",
            (key, label[:500], PENDING, now, now),
        )

    def submitted(self, key: str, handle: dict[str, Any], *, restart: str | None = None) -> None:
        """Record a provider handle the moment a billable job exists. ``restart`` (the item's
        label) starts the item afresh with this as its first handle, in the same transaction,
        so no crash can fall between forgetting the old handles and recording the new one."""
        safe = redact_obj({k: v for k, v in handle.items() if k.lower() != "authorization"})
        now = time.time()
        with self._lock:
            db = self._conn(create=True)
            assert db is not None
            if restart is not None:
                db.execute(
                    "INSERT INTO items (key, label, state, handles, created, updated)"
                    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET"
                    " state = excluded.state, label = excluded.label, handles = excluded.handles,"
                    " files = '{}', paths = '[]', error = NULL, updated = excluded.updated",
                    (key, restart[:500], SUBMITTED, json.dumps([safe]), now, now),
                )
                return
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT handles FROM items WHERE key = ?", (key,)).fetchone()
                handles = json.loads(row[0]) if row else []
                handles.append(safe)
                db.execute(
                    "UPDATE items SET state = ?, handles = ?, updated = ? WHERE key = ?",
                    (SUBMITTED, json.dumps(handles), now, key),
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def saving(self, key: str, file: str, path: str | Path) -> None:
        """Record the name of an output file before it is written, so a re-attached run writes
        that same file instead of a second copy (file: the provider request id and position)."""
        with self._lock:
            db = self._conn(create=True)
            assert db is not None
            row = db.execute("SELECT files FROM items WHERE key = ?", (key,)).fetchone()
            if row is None:
                return
            files = json.loads(row[0])
            files[file] = str(path)
            db.execute(
                "UPDATE items SET files = ?, updated = ? WHERE key = ?",
                (json.dumps(files), time.time(), key),
            )

    def finish(
        self,
        key: str,
        state: str,
        *,
        paths: Iterable[str | Path] = (),
        request_id: str | None = None,
        error: str | None = None,
    ) -> None:
        """Record how an item ended: ``ok`` with its files, or why it did not."""
        if state not in STATES:
            raise ValueError(f"unknown journal state {state!r}")
        self._write(
            "UPDATE items SET state = ?, paths = ?, request_id = ?, error = ?, updated = ?"
            " WHERE key = ?",
            (
                state,
                json.dumps([str(p) for p in paths]),
                request_id,
                redact(error)[:2000] if error else None,
                time.time(),
                key,
            ),
        )

    def reset(self) -> None:
        """Forget every item; a journal that cannot be read is removed."""
        with self._lock:
            try:
                db = self._conn(create=False)
            except UnreadableJournal:  # corrupt: replace it (never a busy one: that is live)
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{self.path}{suffix}").unlink(missing_ok=True)
                return
            if db is not None:
                db.execute("DELETE FROM items")

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _migrate(db: sqlite3.Connection) -> None:
    """Bring the schema up to date in one write transaction: the version is read inside it, so
    two processes opening a new journal at once (a run and a reader) cannot both migrate."""
    db.execute("BEGIN IMMEDIATE")
    try:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        for number, (_name, migrate) in enumerate(MIGRATIONS, start=1):
            if number > version:
                migrate(db)
        if version < len(MIGRATIONS):
            db.execute(f"PRAGMA user_version={len(MIGRATIONS)}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _entry(row: tuple[Any, ...]) -> Entry:
    key, label, state, handles, paths, request_id, error, created, updated, files = row
    return Entry(
        key=key,
        label=label,
        state=state,
        handles=json.loads(handles),
        paths=json.loads(paths),
        files=json.loads(files),
        request_id=request_id,
        error=error,
        created=created,
        updated=updated,
    )
