"""The batch journal: schema from empty, state round trips, stable keys, no secrets stored."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from twat_genai.jobs.journal import JOURNAL_NAME, MIGRATIONS, Journal, item_key


def test_migrates_from_empty_and_reopens(tmp_path: Path) -> None:
    path = tmp_path / "out" / JOURNAL_NAME
    with Journal(path) as journal:
        journal.start("k1", "a cat")
        assert journal.version == len(MIGRATIONS)
    with Journal(path) as journal:  # migrations already applied: nothing re-run, data kept
        assert journal.version == len(MIGRATIONS)
        assert [e.key for e in journal.entries()] == ["k1"]
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_round_trip_of_states(tmp_path: Path) -> None:
    handle = {"endpoint": "fal-ai/flux-lora", "request_id": "r1", "status_url": "http://x/s"}
    with Journal.for_output(tmp_path) as journal:
        journal.start("k", "a cat")
        entry = journal.get("k")
        assert entry is not None and entry.state == "pending" and entry.handles == []
        journal.submitted("k", handle)
        entry = journal.get("k")
        assert entry is not None and entry.state == "submitted"
        assert entry.handles == [handle]
        journal.finish("k", "ok", paths=[tmp_path / "a.png"], request_id="r1")
        entry = journal.get("k")
        assert entry is not None
        assert (entry.state, entry.paths, entry.request_id) == (
            "ok",
            [str(tmp_path / "a.png")],
            "r1",
        )
        assert entry.handles == [handle]  # kept: a later run can still re-attach
        journal.finish("k", "failed", error="boom")
        assert journal.get("k").error == "boom"  # type: ignore[union-attr]
        with pytest.raises(ValueError):
            journal.finish("k", "weird")
        journal.reset()
        assert journal.get("k") is None


def test_file_is_created_by_the_first_write_only(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with Journal.for_output(out) as journal:
        assert journal.get("k") is None and journal.entries() == []
        journal.reset()  # --fresh on a folder never journaled
        assert journal.version == 0
        assert not out.exists()  # reads and resets leave no file (and no folder) behind
        journal.start("k", "x")
    assert (out / JOURNAL_NAME).is_file()


def test_a_restart_replaces_old_handles_and_files_in_one_step(tmp_path: Path) -> None:
    with Journal.for_output(tmp_path) as journal:
        journal.start("k", "x")
        journal.submitted("k", {"request_id": "a", "part": 0})
        journal.submitted("k", {"request_id": "b", "part": 1})
        journal.saving("k", "a#0", tmp_path / "a.png")
        journal.finish("k", "failed", error="gone")
        journal.submitted("k", {"request_id": "c"}, restart="x again")
        entry = journal.get("k")
        assert entry is not None
        assert (entry.state, entry.label, entry.handles, entry.files, entry.error) == (
            "submitted",
            "x again",
            [{"request_id": "c"}],
            {},
            None,
        )
        journal.submitted("new", {"request_id": "d"}, restart="a new item")  # no row yet
        assert journal.get("new").handles == [{"request_id": "d"}]  # type: ignore[union-attr]


def test_no_authorization_or_key_is_stored(tmp_path: Path) -> None:
    from twat_genai.core.redact import register_secret

    secret = "fal-secret-journal-0123456789"
    register_secret(secret)
    with Journal.for_output(tmp_path) as journal:
        journal.start("k", "x")
        journal.submitted("k", {"request_id": "a", "Authorization": f"Key {secret}"})
        journal.finish("k", "failed", error=f"denied for {secret}")
    for name in tmp_path.iterdir():
        assert secret.encode() not in name.read_bytes()


def test_keys_are_stable_and_distinct() -> None:
    a = item_key(command="TEXT", request={"prompt": "a cat"}, occurrence=1)
    assert a == item_key(occurrence=1, request={"prompt": "a cat"}, command="TEXT")
    assert a != item_key(command="TEXT", request={"prompt": "a cat"}, occurrence=2)
    assert a != item_key(command="TEXT", request={"prompt": "a dog"}, occurrence=1)


def test_a_version_1_journal_gains_the_files_column(tmp_path: Path) -> None:
    path = tmp_path / JOURNAL_NAME
    db = sqlite3.connect(path)
    MIGRATIONS[0][1](db)
    db.execute(
        "INSERT INTO items (key, label, state, handles, created, updated)"
        " VALUES ('k', 'x', 'submitted', '[{\"request_id\": \"a\"}]', 0, 0)"
    )
    db.execute("PRAGMA user_version=1")
    db.commit()
    db.close()
    with Journal(path) as journal:
        entry = journal.get("k")
        assert entry is not None and entry.files == {} and entry.handles == [{"request_id": "a"}]
        journal.saving("k", "a#0", tmp_path / "a.png")
        assert journal.get("k").files == {"a#0": str(tmp_path / "a.png")}  # type: ignore[union-attr]
        assert journal.version == len(MIGRATIONS) == 3
        assert journal.run_number("any batch") == 0  # the runs table exists too


def test_processes_opening_a_new_journal_at_once_all_succeed(tmp_path: Path) -> None:
    import multiprocessing

    path = tmp_path / JOURNAL_NAME
    ctx = multiprocessing.get_context("spawn")
    go = ctx.Event()
    procs = [ctx.Process(target=_open_and_write, args=(str(path), f"k{i}", go)) for i in range(6)]
    for p in procs:
        p.start()
    go.set()  # all open the missing journal together
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * 6
    with Journal(path) as journal:
        assert sorted(e.key for e in journal.entries()) == [f"k{i}" for i in range(6)]
        assert journal.version == len(MIGRATIONS)


def _open_and_write(path: str, key: str, go: Any) -> None:
    go.wait(60)
    with Journal(path) as journal:
        journal.start(key, key)


def test_fresh_replaces_only_a_corrupt_journal_never_an_unusable_one(tmp_path: Path) -> None:
    from twat_genai.core.errors import UsageError

    corrupt = tmp_path / "a" / JOURNAL_NAME
    corrupt.parent.mkdir()
    corrupt.write_text("not a database")
    with Journal(corrupt) as journal:
        journal.reset()
    assert not corrupt.exists()

    unusable = tmp_path / "b" / JOURNAL_NAME
    unusable.mkdir(parents=True)  # cannot be opened: not a corrupt file to replace
    with Journal(unusable) as journal, pytest.raises(UsageError, match="not usable"):
        journal.reset()
    assert unusable.is_dir()
