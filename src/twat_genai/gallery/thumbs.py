"""Thumbnails for the gallery, cached in ``FOLDER/.thumbs``.

A thumbnail's name is a hash of the source's path (relative to the folder), size and mtime, so
an unchanged source is never decoded again (a re-run on thousands of images costs one ``stat``
each) and a changed or deleted one leaves a name no longer wanted, which is then removed. WebP
keeps transparency (background removal outputs) at a fraction of PNG's size.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from twat_genai.gallery.collect import Item

log = logging.getLogger(__name__)

THUMB_DIR = ".thumbs"
#: Longest side in pixels: sharp in a ~220 px card, a few kB per image.
THUMB_PX = 256
_NAME = re.compile(r"^[0-9a-f]{20}\.(?:webp|jpg)$")
_TMP = re.compile(r"^\.[0-9a-f]{20}\.(?:webp|jpg)\.tmp$")


def attach_thumbnails(folder: Path, items: Iterable[Item]) -> None:
    """Set ``item.thumb`` for every image (None when it cannot be read), making the missing
    ones in parallel, and fill in sizes that no sidecar gave."""
    out = folder / THUMB_DIR
    ext = "webp" if _has_webp() else "jpg"
    todo: list[tuple[Item, Path]] = []
    wanted: set[str] = set()
    for item in items:
        if item.kind != "image" or item.path is None:
            continue
        try:
            st = item.path.stat()
        except OSError:
            continue
        rel = os.path.relpath(item.path, folder)
        key = f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\0{THUMB_PX}"
        thumb = out / f"{hashlib.sha256(key.encode()).hexdigest()[:20]}.{ext}"
        wanted.add(thumb.name)
        if thumb.exists():
            item.thumb = thumb
            if item.width is None or item.height is None:
                item.width, item.height = _size(item.path) or (None, None)
        else:
            todo.append((item, thumb))
    if todo:
        out.mkdir(exist_ok=True)
        workers = min(8, os.cpu_count() or 1, len(todo))
        with ThreadPoolExecutor(max_workers=workers) as pool:  # Pillow releases the GIL
            for item, thumb, size in pool.map(lambda job: (*job, _make(*job)), todo):
                if size is not None:
                    item.thumb = thumb
                    if item.width is None or item.height is None:
                        item.width, item.height = size
    _prune(out, wanted)


def _make(item: Item, thumb: Path) -> tuple[int, int] | None:
    """Write ``thumb`` for ``item``; the source's size, or None (with a warning) if unreadable."""
    from PIL import Image, ImageOps

    assert item.path is not None
    try:
        with Image.open(item.path) as im:
            size = im.size
            im.draft("RGB", (THUMB_PX, THUMB_PX))  # JPEG: decode at reduced scale, much faster
            small: Any = ImageOps.exif_transpose(im) or im
            small.thumbnail((THUMB_PX, THUMB_PX))
            if small.mode not in ("RGB", "RGBA"):
                small = small.convert("RGBA" if "A" in small.getbands() else "RGB")
            if thumb.suffix == ".jpg" and small.mode == "RGBA":
                flat = Image.new("RGB", small.size, (128, 128, 128))
                flat.paste(small, mask=small.getchannel("A"))
                small = flat
            tmp = thumb.with_name(f".{thumb.name}.tmp")
            small.save(tmp, format="WEBP" if thumb.suffix == ".webp" else "JPEG", quality=80)
            tmp.replace(thumb)  # a killed run never leaves a half thumbnail under a valid name
    except Exception as exc:  # Pillow raises many types for bad files; one card, not the page
        log.warning("gallery: no thumbnail for %s: %s", item.path, exc)
        return None
    return (int(size[0]), int(size[1]))


def _size(path: Path) -> tuple[int, int] | None:
    from PIL import Image

    try:
        with Image.open(path) as im:  # reads the header only
            return (int(im.size[0]), int(im.size[1]))
    except Exception:
        return None


def _prune(out: Path, wanted: set[str]) -> None:
    """Remove thumbnails of sources that changed or went (only names this module makes)."""
    try:
        names = [p.name for p in out.iterdir()]
    except OSError:
        return
    for name in names:
        if (_NAME.match(name) and name not in wanted) or _TMP.match(name):
            try:
                (out / name).unlink()
            except OSError as exc:
                log.warning("gallery: cannot remove the old thumbnail %s: %s", out / name, exc)


def _has_webp() -> bool:
    from PIL import features

    return bool(features.check("webp"))
