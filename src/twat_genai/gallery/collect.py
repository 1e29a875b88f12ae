"""What a gallery shows: every media file under a folder (with its sidecar when there is one)
and every journal item that ended without a file, grouped by prompt template.

Reading is tolerant by design: sidecars from older releases, files without sidecars and damaged
JSON must still appear, so every field is optional and a bad file costs a warning, not the page.
The journal is opened read-only (never migrated): the folder may be another machine's, read-only,
or in use by a running batch.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from twat_genai.jobs.journal import JOURNAL_NAME

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".avif"}
)
VIDEO_EXTENSIONS = frozenset({".mp4", ".webm", ".mov", ".m4v"})

#: Journal states shown as they are; the rest (pending, submitted) never finished.
_FINAL = {"ok", "blocked", "failed", "cancelled"}


@dataclass
class Item:
    """One card: a saved file, or a journal item that produced none."""

    status: str
    path: Path | None = None
    sidecar: Path | None = None
    kind: str | None = None  # "image" or "video" when there is a file
    prompt: str | None = None
    template: str | None = None
    provider: str | None = None
    model: str | None = None
    width: int | None = None
    height: int | None = None
    seed: str | None = None
    loras: list[str] = field(default_factory=list)
    role: str | None = None
    error: str | None = None
    #: When it was made, in whole seconds: items of one second are then ordered by prompt,
    #: since a batch's items finish in no meaningful order.
    order: int = 0
    thumb: Path | None = None


@dataclass
class Group:
    """Items sharing a prompt template, in the order they were made."""

    template: str | None
    items: list[Item]


@dataclass
class _Row:
    label: str
    state: str
    paths: list[str]
    error: str | None
    finished: float


def collect(folder: Path) -> list[Item]:
    """Every item under ``folder`` (hidden folders such as ``.thumbs`` skipped), oldest first."""
    media: list[Path] = []
    journals: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        here = Path(root)
        for name in sorted(files):
            if name == JOURNAL_NAME:
                journals.append(here / name)
            elif not name.startswith(".") and _kind(name) is not None:
                media.append(here / name)

    # Journal paths are absolute where the batch ran; a moved folder still matches by name.
    by_path: dict[Path, _Row] = {}
    items: list[Item] = []
    for journal in journals:
        for row in _journal_rows(journal):
            if row.state == "ok":
                for p in row.paths:
                    by_path[journal.parent / Path(p).name] = row
            else:
                items.append(_from_row(row))
    items.extend(_from_file(path, by_path.get(path)) for path in media)
    items.sort(key=lambda i: (i.order, i.prompt or "", str(i.path or "")))
    return items


def group(items: Iterable[Item]) -> list[Group]:
    """Groups by template, ordered by their first item."""
    groups: dict[str | None, Group] = {}
    for item in items:
        groups.setdefault(item.template, Group(item.template, [])).items.append(item)
    return list(groups.values())


def _kind(name: str) -> str | None:
    ext = Path(name).suffix.lower()
    if ext in IMAGE_EXTENSIONS:
        return "image"
    if ext in VIDEO_EXTENSIONS:
        return "video"
    return None


def _journal_rows(path: Path) -> list[_Row]:
    """Every row, by SELECT only. Opened read-write when allowed, because a read-only reader of a
    WAL database leaves ``-wal``/``-shm`` files behind that only a writable closer removes."""
    rows: list[sqlite3.Row] | None = None
    error: sqlite3.Error | None = None
    for mode in ("rw", "ro"):
        try:
            uri = f"{path.resolve().as_uri()}?mode={mode}"
            with closing(sqlite3.connect(uri, uri=True, timeout=5)) as db:
                db.row_factory = sqlite3.Row
                rows = db.execute("SELECT * FROM items").fetchall()
            break
        except sqlite3.Error as exc:
            error = exc
    if rows is None:
        log.warning("gallery: cannot read the batch journal %s: %s", path, error)
        return []
    out = []
    for row in rows:
        data = dict(zip(row.keys(), tuple(row), strict=True))
        try:
            paths = json.loads(data.get("paths") or "[]")
        except ValueError:
            paths = []
        out.append(
            _Row(
                label=str(data.get("label") or ""),
                state=str(data.get("state") or "unknown"),
                paths=[str(p) for p in paths] if isinstance(paths, list) else [],
                error=data.get("error"),
                finished=float(data.get("updated") or data.get("created") or 0.0),
            )
        )
    return out


def _from_row(row: _Row) -> Item:
    return Item(
        status=row.state if row.state in _FINAL else "unfinished",
        prompt=row.label or None,
        template=row.label or None,
        error=row.error,
        order=int(row.finished),
    )


def _from_file(path: Path, row: _Row | None) -> Item:
    sidecar = path.with_suffix(".json")
    meta = _read_sidecar(sidecar)
    item = Item(
        status="ok",
        path=path,
        sidecar=sidecar if meta is not None else None,
        kind=_kind(path.name),
        order=int(_created(meta) or (row.finished if row is not None else _mtime(path))),
    )
    label = row.label if row is not None and row.label else None
    if meta is None:
        item.prompt = item.template = label
        return item
    item.prompt = _text(meta.get("original_prompt")) or _text(meta.get("prompt")) or label
    item.template = (
        _text(_dig(meta, "job", "prompt_template"))
        or _text(meta.get("prompt_template"))
        or _text(meta.get("original_prompt"))
        or _text(meta.get("prompt"))
        or label
    )
    item.provider = _text(meta.get("provider"))
    item.model = _text(meta.get("model"))
    item.width = _int(_dig(meta, "file", "width")) or _int(_dig(meta, "result", "width"))
    item.height = _int(_dig(meta, "file", "height")) or _int(_dig(meta, "result", "height"))
    seed = _first(
        _dig(meta, "result", "seed"),
        _dig(meta, "parameters", "seed"),
        _dig(meta, "request", "seed"),
    )
    item.seed = None if seed is None else str(seed)
    loras = _dig(meta, "parameters", "loras") or _dig(meta, "request", "loras")
    item.loras = list(_lora_names(loras))
    role = _text(_dig(meta, "result", "role"))
    item.role = role if role and role != "main" else None
    return item


def _read_sidecar(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("gallery: ignoring the unreadable sidecar %s: %s", path, exc)
        return None
    return data if isinstance(data, dict) else None


def _lora_names(loras: Any) -> Iterator[str]:
    """``name scale`` per LoRA: the last part of its path or URL, the scale when not 1."""
    if not isinstance(loras, list):
        return
    for lora in loras:
        if isinstance(lora, Mapping):
            where, scale = (
                lora.get("path") or lora.get("url") or lora.get("name"),
                lora.get("scale"),
            )
        else:
            where, scale = lora, None
        if not where:
            continue
        name = str(where).rstrip("/").rsplit("/", 1)[-1].removesuffix(".safetensors")
        yield name if scale in (None, 1, 1.0) else f"{name} {scale}"


def _dig(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def _first(*values: Any) -> Any:
    return next((v for v in values if v not in (None, "")), None)


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _created(meta: Mapping[str, Any] | None) -> float | None:
    """The sidecar's ``created`` (ISO 8601) as a timestamp."""
    text = _text(meta.get("created")) if meta is not None else None
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
