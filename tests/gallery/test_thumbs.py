"""Thumbnails: small, made once per version of a source, tidied when the source changes or
goes, and a bad image costs its own preview only."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from twat_genai.gallery import thumbs, write_gallery

from .conftest import sidecar_image


def thumb_files(folder: Path) -> list[Path]:
    return sorted((folder / ".thumbs").iterdir())


def test_thumbnails_are_small_and_keep_transparency(tmp_path: Path) -> None:
    """Every image gets one thumbnail of at most 256 px in .thumbs; alpha survives."""
    sidecar_image(tmp_path / "wide.jpg", {"prompt": "w"}, size=(2000, 1000))
    sidecar_image(tmp_path / "cut.png", {"prompt": "c"}, size=(600, 900), mode="RGBA")
    write_gallery(tmp_path)
    sizes = {}
    for path in thumb_files(tmp_path):
        with Image.open(path) as im:
            sizes[im.size] = im.mode
    assert sizes == {(256, 128): "RGB", (171, 256): "RGBA"}
    assert all(p.stat().st_size < 20_000 for p in thumb_files(tmp_path))


def test_unchanged_sources_are_not_decoded_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second run reuses every thumbnail: nothing is made, the files are untouched."""
    for i in range(5):
        sidecar_image(tmp_path / f"{i}.png", {"prompt": str(i)})
    write_gallery(tmp_path)
    before = {p: p.stat().st_mtime_ns for p in thumb_files(tmp_path)}

    def refuse(*args: Any) -> None:
        raise AssertionError("a thumbnail was made again")

    monkeypatch.setattr(thumbs, "_make", refuse)
    html = write_gallery(tmp_path).read_text(encoding="utf-8")
    assert {p: p.stat().st_mtime_ns for p in thumb_files(tmp_path)} == before
    assert html.count("<img ") == 5


def test_changed_and_deleted_sources_update_the_cache(tmp_path: Path) -> None:
    """A source rewritten gets a new thumbnail, the old one goes; a deleted source's goes too."""
    a = sidecar_image(tmp_path / "a.png", {"prompt": "a"})
    b = sidecar_image(tmp_path / "b.png", {"prompt": "b"})
    write_gallery(tmp_path)
    old = set(thumb_files(tmp_path))
    assert len(old) == 2
    sidecar_image(a, {"prompt": "a"}, size=(300, 300))
    os.utime(a, ns=(a.stat().st_atime_ns, a.stat().st_mtime_ns + 10**9))
    b.unlink()
    write_gallery(tmp_path)
    (new,) = thumb_files(tmp_path)
    assert new not in old
    with Image.open(new) as im:
        assert im.size == (256, 256)


def test_a_bad_image_gets_a_card_without_preview(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An image Pillow cannot read is still listed and linked, with a warning."""
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    sidecar_image(tmp_path / "good.png", {"prompt": "good"})
    with caplog.at_level(logging.WARNING):
        html = write_gallery(tmp_path).read_text(encoding="utf-8")
    assert "bad.png" in caplog.text
    assert html.count("<img ") == 1
    assert '<a class="tile none" href="bad.png">no preview</a>' in html
    assert len(thumb_files(tmp_path)) == 1


def test_leftover_temporary_thumbnails_are_removed(tmp_path: Path) -> None:
    """A run killed while writing a thumbnail leaves a temporary file the next run removes;
    files in .thumbs that are not the gallery's own are left alone."""
    sidecar_image(tmp_path / "a.png", {"prompt": "a"})
    (tmp_path / ".thumbs").mkdir()
    stale = tmp_path / ".thumbs" / f".{'0' * 20}.webp.tmp"
    stale.write_bytes(b"half")
    mine = tmp_path / ".thumbs" / "notes.txt"
    mine.write_text("keep", encoding="utf-8")
    write_gallery(tmp_path)
    assert not stale.exists() and mine.exists()
