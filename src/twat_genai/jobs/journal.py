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

from twat_genai.transport.redact import redact, redact_obj

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
    request_id: str | None = None
    error: str | None = None
    created: float = 0.0
    updated: float = 0.0

    @property
    def resume(self) -> dict[str, Any] | None:
        """The handle to re-attach to: only when exactly one job was submitted for the item."""
        return self.handles[0] if self.state == SUBMITTED and len(self.handles) == 1 else None


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


#: Schema history, oldest first. Append a function to change the schema; never edit one.
MIGRATIONS: list[tuple[str, Callable[[sqlite3.Connection], None]]] = [
    ("items", _m1_items),
]


class Journal:
    """The journal of one output folder. Thread-safe; every method is one short transaction."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._migrate()

    @classmethod
    def for_output(cls, output_dir: Path | str) -> Journal:
        return cls(Path(output_dir) / JOURNAL_NAME)

    def _migrate(self) -> None:
        with self._lock:
            version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
            for number, (_name, migrate) in enumerate(MIGRATIONS, start=1):
                if number <= version:
                    continue
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    migrate(self._db)
                    self._db.execute(f"PRAGMA user_version={number}")
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise

    @property
    def version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _write(self, sql: str, params: Iterable[Any]) -> None:
        with self._lock:
            self._db.execute(sql, tuple(params))

    # -- reads -------------------------------------------------------------------------------

    def get(self, key: str) -> Entry | None:
        with self._lock:
            row = self._db.execute(
                "SELECT key, label, state, handles, paths, request_id, error, created, updated"
                " FROM items WHERE key = ?",
                (key,),
            ).fetchone()
        return _entry(row) if row else None

    def entries(self) -> list[Entry]:
        with self._lock:
            rows = self._db.execute(
                "SELECT key, label, state, handles, paths, request_id, error, created, updated"
                " FROM items ORDER BY created"
            ).fetchall()
        return [_entry(r) for r in rows]

    # -- state changes -----------------------------------------------------------------------

    def start(self, key: str, label: str) -> None:
        """Mark an item pending (a new row, or a retry of one that did not finish well)."""
        now = time.time()
        self._write(
            "INSERT INTO items (key, label, state, created, updated) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(key) DO UPDATE SET state = excluded.state, label = excluded.label,"
            " handles = '[]', error = NULL, updated = excluded.updated",
            (key, label[:500], PENDING, now, now),
        )

    def submitted(self, key: str, handle: dict[str, Any]) -> None:
        """Record a provider handle the moment a billable job exists."""
        safe = redact_obj({k: v for k, v in handle.items() if k.lower() != "authorization"})
        with self._lock:
            row = self._db.execute("SELECT handles FROM items WHERE key = ?", (key,)).fetchone()
            handles = json.loads(row[0]) if row else []
            handles.append(safe)
            self._db.execute(
                "UPDATE items SET state = ?, handles = ?, updated = ? WHERE key = ?",
                (SUBMITTED, json.dumps(handles), time.time(), key),
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
        """Forget every item (``--fresh``)."""
        self._write("DELETE FROM items", ())

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _entry(row: tuple[Any, ...]) -> Entry:
    key, label, state, handles, paths, request_id, error, created, updated = row
    return Entry(
        key=key,
        label=label,
        state=state,
        handles=json.loads(handles),
        paths=json.loads(paths),
        request_id=request_id,
        error=error,
        created=created,
        updated=updated,
    )
