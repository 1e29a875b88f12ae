"""The gallery page from files written by hand: what each card shows, grouping, tolerance of old
or missing sidecars, the journal's failed items, escaping and links that work offline."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from twat_genai.core.errors import UsageError
from twat_genai.gallery import write_gallery
from twat_genai.gallery.collect import collect
from twat_genai.jobs.journal import JOURNAL_NAME, Journal

from .conftest import sidecar_image


class Page(HTMLParser):
    """The parts of a page the tests look at: tags with attributes, headings, text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.h2: list[str] = []
        self._in_h2 = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_h2 = self._in_h2 or tag == "h2"

    def handle_endtag(self, tag: str) -> None:
        if tag == "h2":
            self._in_h2 = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_h2 and data.strip():
            self.h2.append(data.strip())

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag]

    def cards(self, status: str) -> int:
        return sum(1 for a in self.all("article") if status in (a.get("class") or "").split())


def page_of(folder: Path, out: Path | None = None) -> Page:
    return Page(write_gallery(folder, out).read_text(encoding="utf-8"))


def test_card_shows_what_the_sidecar_records(tmp_path: Path) -> None:
    """Provider, model, size, seed, LoRAs, status and links to the file and its sidecar."""
    sidecar_image(
        tmp_path / "a.jpg",
        {
            "provider": "fal",
            "model": "fal-ai/flux-lora",
            "original_prompt": "a fox",
            "parameters": {
                "seed": 7,
                "loras": [
                    {"path": "hassanelmghari/shou_xin", "scale": 0.8},
                    {"path": "https://hf.co/x/resolve/main/ink.safetensors", "scale": 1},
                ],
            },
            "result": {"width": 1024, "height": 768, "seed": 7, "role": "main"},
            "file": {"width": 1024, "height": 768},
        },
    )
    page = page_of(tmp_path)
    text = " ".join(page.text)
    for fact in ("a fox", "fal", "fal-ai/flux-lora", "1024×768", "seed 7", "shou_xin 0.8, ink"):
        assert fact in text
    assert page.cards("ok") == 1
    assert [a["href"] for a in page.all("a")] == ["a.jpg", "a.jpg", "a.json"]
    (img,) = page.all("img")
    assert img["src"] is not None and img["src"].startswith(".thumbs/")
    assert img["loading"] == "lazy"


def test_groups_by_template_in_the_documented_order(tmp_path: Path) -> None:
    """job.prompt_template wins over prompt_template, then original_prompt, then prompt; groups
    of one are shown without a heading."""
    template = "a {red,blue} car"
    for name, color in (("r.png", "red"), ("b.png", "blue")):
        sidecar_image(
            tmp_path / name,
            {
                "schema_version": 2,
                "job": {"prompt_template": template},
                "prompt_template": "ignored",
                "original_prompt": f"a {color} car",
            },
        )
    sidecar_image(tmp_path / "t1.png", {"prompt_template": "a {cat,dog}", "prompt": "a cat"})
    sidecar_image(tmp_path / "t2.png", {"prompt_template": "a {cat,dog}", "prompt": "a dog"})
    sidecar_image(tmp_path / "o.png", {"original_prompt": "lonely", "prompt": "lonely, trigger"})
    sidecar_image(tmp_path / "p.png", {"prompt": "only a prompt"})
    items = {i.path.name: i.template for i in collect(tmp_path) if i.path}
    assert items == {
        "r.png": template,
        "b.png": template,
        "t1.png": "a {cat,dog}",
        "t2.png": "a {cat,dog}",
        "o.png": "lonely",
        "p.png": "only a prompt",
    }
    page = page_of(tmp_path)
    assert sorted(page.h2) == ["2", "2", "a {cat,dog}", template]


def test_files_without_or_with_broken_sidecars_still_appear(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An image with no sidecar, one with damaged JSON and an old sidecar of a few keys each
    get a card; the image size then comes from the file."""
    sidecar_image(tmp_path / "bare.png", None, size=(300, 200))
    sidecar_image(tmp_path / "old.png", {"prompt": "old style"})
    sidecar_image(tmp_path / "broken.png", None)
    (tmp_path / "broken.json").write_text("{not json", encoding="utf-8")
    (tmp_path / "list.png").write_bytes((tmp_path / "bare.png").read_bytes())
    (tmp_path / "list.json").write_text("[1, 2]", encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        page = page_of(tmp_path)
    assert page.cards("ok") == 4 and len(page.all("img")) == 4
    assert "broken.json" in caplog.text
    text = " ".join(page.text)
    assert "300×200" in text and "no sidecar" in text and "old style" in text


def test_journal_items_without_files_become_cards(tmp_path: Path) -> None:
    """Blocked and failed items show with the journal's reason; an ok item is not shown twice,
    even after the folder moved (the journal's absolute paths point elsewhere)."""
    made = tmp_path / "made"
    sidecar_image(made / "x.jpg", {"original_prompt": "a fox"})
    with Journal.for_output(made) as journal:
        for key, label in (("k1", "a fox"), ("k2", "a cat"), ("k3", "a dog"), ("k4", "an eel")):
            journal.start(key, label)
        journal.finish("k1", "ok", paths=[made / "x.jpg"])
        journal.finish("k2", "blocked", error="every output was blocked by the safety checker")
        journal.finish("k3", "failed", error="model error <HTTP 422> & more")
    moved = tmp_path / "moved"
    made.rename(moved)
    page = page_of(moved)
    assert (page.cards("ok"), page.cards("blocked"), page.cards("failed")) == (1, 1, 1)
    assert page.cards("unfinished") == 1  # k4 started, never finished
    text = " ".join(page.text)
    assert "model error <HTTP 422> & more" in text and "a cat" in text
    assert "4 items: 1 ok · 1 blocked · 1 failed · 1 unfinished" in text


def test_journal_is_read_only_and_a_bad_one_is_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The gallery never writes the journal (nor migrates it); an unreadable one costs a
    warning, not the page."""
    sidecar_image(tmp_path / "x.jpg", {"original_prompt": "a fox"})
    with Journal.for_output(tmp_path) as journal:
        journal.start("k", "a cat")
        journal.finish("k", "failed", error="boom")
    path = tmp_path / JOURNAL_NAME
    before = path.read_bytes(), path.stat().st_mtime_ns
    page_of(tmp_path)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    assert not Path(f"{path}-wal").exists()

    path.write_bytes(b"not a database at all" * 100)
    with caplog.at_level(logging.WARNING):
        page = page_of(tmp_path)
    assert page.cards("ok") == 1 and page.cards("failed") == 0
    assert "batch journal" in caplog.text


def test_older_journal_schema_is_read(tmp_path: Path) -> None:
    """A journal from before a migration (no ``files`` column) still lists its failures."""
    db = sqlite3.connect(tmp_path / JOURNAL_NAME)
    db.execute(
        "CREATE TABLE items (key TEXT PRIMARY KEY, label TEXT, state TEXT, paths TEXT,"
        " error TEXT, created REAL)"
    )
    db.execute("INSERT INTO items VALUES ('k', 'a cat', 'failed', '[]', 'boom', 1.0)")
    db.commit()
    db.close()
    page = page_of(tmp_path)
    assert page.cards("failed") == 1 and "boom" in page.text


def test_user_text_is_escaped(tmp_path: Path) -> None:
    """Prompts, models, LoRA names, errors and file names are text, never markup."""
    evil = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>&amp;"
    sidecar_image(
        tmp_path / "<b>&.png",
        {
            "original_prompt": evil,
            "model": evil,
            "parameters": {"loras": [{"path": evil, "scale": 0.5}]},
        },
    )
    with Journal.for_output(tmp_path) as journal:
        journal.start("k", evil)
        journal.finish("k", "failed", error=evil)
    html = write_gallery(tmp_path).read_text(encoding="utf-8")
    page = Page(html)
    assert not page.all("script")
    assert [a["src"] for a in page.all("img")] == [page.all("img")[0]["src"]]  # only the thumb
    assert evil in page.text  # the failed card's prompt, shown as written
    assert sum(t.count(evil) for t in page.text) >= 3  # prompts and the error
    assert "%3Cb%3E%26.png" in html  # the file name, percent-encoded in links


def test_page_needs_no_network(tmp_path: Path) -> None:
    """No scripts, stylesheets or fonts to fetch; every link and source is relative."""
    sidecar_image(tmp_path / "a.png", {"prompt": "see https://example.com/x.png"})
    (tmp_path / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    html = write_gallery(tmp_path).read_text(encoding="utf-8")
    page = Page(html)
    assert not page.all("script") and not page.all("link")
    assert "@import" not in html and "url(" not in html
    refs = [v for _, a in page.tags for k, v in a.items() if k in ("src", "href") and v]
    assert refs
    for ref in refs:
        assert ":" not in ref and not ref.startswith("/"), ref


def test_videos_play_inline_without_a_thumbnail(tmp_path: Path) -> None:
    """A video gets <video controls preload=metadata> pointing at the file itself."""
    (tmp_path / "clip.webm").write_bytes(b"\x1aE\xdf\xa3")
    (tmp_path / "clip.json").write_text(
        json.dumps({"provider": "chutes", "original_prompt": "waves"}), encoding="utf-8"
    )
    page = page_of(tmp_path)
    (video,) = page.all("video")
    assert video["src"] == "clip.webm" and video["preload"] == "metadata"
    assert "controls" in video
    assert not page.all("img")
    assert not (tmp_path / ".thumbs").exists()


def test_page_elsewhere_links_relative_to_itself(tmp_path: Path) -> None:
    """-o puts the page anywhere: links lead back to the folder relatively, names encoded."""
    run = tmp_path / "run"
    sidecar_image(run / "a b#1.png", {"prompt": "x"})
    page = page_of(run, tmp_path / "pages" / "g.html")
    hrefs = [a["href"] for a in page.all("a")]
    assert hrefs == ["../run/a%20b%231.png", "../run/a%20b%231.png", "../run/a%20b%231.json"]
    (img,) = page.all("img")
    assert img["src"] is not None and img["src"].startswith("../run/.thumbs/")
    assert not (run / "index.html").exists()


def test_subfolders_are_included_hidden_ones_are_not(tmp_path: Path) -> None:
    """Runs with --output SUBFOLDER appear; .thumbs and other hidden folders do not."""
    sidecar_image(tmp_path / "sub" / "a.png", {"prompt": "in a subfolder"})
    sidecar_image(tmp_path / ".hidden" / "b.png", {"prompt": "hidden"})
    page = page_of(tmp_path)
    page_of(tmp_path)  # its own thumbnails are not picked up as images
    assert page.all("a")[0]["href"] == "sub/a.png"
    assert len(page.all("img")) == 1


def test_empty_folder_and_missing_folder(tmp_path: Path) -> None:
    """An empty folder gets a page saying so; a missing one is a usage error."""
    page = page_of(tmp_path)
    assert "0 items" in " ".join(page.text)
    with pytest.raises(UsageError, match="not a folder"):
        write_gallery(tmp_path / "nope")


def test_page_is_replaced_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed write leaves the previous page and no temporary file."""
    sidecar_image(tmp_path / "a.png", {"prompt": "x"})
    first = write_gallery(tmp_path).read_text(encoding="utf-8")

    def boom(*args: Any, **kw: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    monkeypatch.setattr(Path, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_gallery(tmp_path)
    assert (tmp_path / "index.html").read_text(encoding="utf-8") == first
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
