"""The gallery page: one self-contained HTML file (inline CSS, no script, nothing fetched from
the network) that links thumbnails and files by relative URLs, so the folder can be moved or
shared as it is. Every piece of text comes from prompts or files and is escaped."""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from html import escape
from pathlib import Path
from urllib.parse import quote

from twat_genai.core.errors import UsageError
from twat_genai.gallery.collect import Group, Item, collect, group

_STATUS_ORDER = ("ok", "blocked", "failed", "cancelled", "unfinished")

#: Prompts are user text: the page refuses to run any script, should escaping ever slip.
_CSP = "default-src 'none'; img-src 'self' file:; media-src 'self' file:; style-src 'unsafe-inline'"

_CSS = """
:root{color-scheme:light dark;--bg:#f5f5f3;--card:#fff;--fg:#1c1c1e;--muted:#6c6c72;
--line:#e2e2de;--tile:#ebebe8;--ok:#1d7a3a;--okbg:#e2f4e6;--warn:#8a5a00;--warnbg:#fbefd5;
--bad:#b3261e;--badbg:#fbe3e1;--idle:#55555c;--idlebg:#e8e8ec}
@media (prefers-color-scheme:dark){:root{--bg:#141416;--card:#1e1e21;--fg:#ececef;
--muted:#9b9ba3;--line:#2d2d32;--tile:#28282c;--ok:#7fd69a;--okbg:#173322;--warn:#f0c46a;
--warnbg:#3a2d10;--bad:#ff8f86;--badbg:#3d1a18;--idle:#c0c0c8;--idlebg:#2c2c31}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
header{padding:22px 28px 4px}
h1{font-size:20px;margin:0 0 2px;overflow-wrap:anywhere}
header p{margin:0;color:var(--muted)}
main{padding:4px 28px 40px}
section{margin:20px 0 0}
h2{font-size:15px;font-weight:600;margin:0 0 10px;overflow-wrap:anywhere}
h2 small{color:var(--muted);font-weight:400;font-size:13px;margin-left:6px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:14px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;overflow:hidden;
display:flex;flex-direction:column}
.tile{display:block;aspect-ratio:1;background:var(--tile)}
.tile img,.tile video{display:block;width:100%;height:100%;object-fit:contain}
.tile.none{display:flex;align-items:center;justify-content:center;color:var(--muted);
font-size:13px;text-align:center;padding:12px}
.info{padding:9px 11px 11px;display:flex;flex-direction:column;gap:3px;min-width:0}
.info p{margin:0;overflow-wrap:anywhere}
.prompt{display:-webkit-box;-webkit-line-clamp:3;-webkit-box-orient:vertical;overflow:hidden}
.meta{color:var(--muted);font-size:12px}
.why{color:var(--bad);font-size:12px}
.links{font-size:12px;display:flex;gap:8px;white-space:nowrap}
.links a{color:var(--muted);overflow:hidden;text-overflow:ellipsis}
.links a+a{flex:none}
.links a:hover{color:var(--fg)}
.badge{display:inline-block;padding:0 7px;margin-right:4px;border-radius:9px;font-size:11px;
font-weight:600;line-height:18px;background:var(--idlebg);color:var(--idle)}
.ok .badge{background:var(--okbg);color:var(--ok)}
.blocked .badge{background:var(--warnbg);color:var(--warn)}
.failed .badge{background:var(--badbg);color:var(--bad)}
""".strip()


def write_gallery(
    folder: str | os.PathLike[str], out: str | os.PathLike[str] | None = None
) -> Path:
    """Write the gallery page of ``folder`` (default ``folder/index.html``) and return its path.

    Thumbnails go to ``folder/.thumbs`` and are reused while their source is unchanged.
    """
    from twat_genai.gallery.thumbs import attach_thumbnails  # Pillow: only when a page is made

    root = Path(folder)
    if not root.is_dir():
        raise UsageError(f"{root} is not a folder: give the output folder of a run")
    page = Path(out) if out is not None else root / "index.html"
    items = collect(root)
    attach_thumbnails(root, items)
    html = render(items, title=root.resolve().name or str(root), page_dir=page.parent)
    page.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=page.parent, prefix=f".{page.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(html)
        Path(tmp).chmod(0o644)
        Path(tmp).replace(page)  # a browser reloading never sees half a page
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return page


def render(items: list[Item], *, title: str, page_dir: Path) -> str:
    """The whole page. Groups of one template are merged into one unheaded run of cards: old
    sidecars name no template, and a heading per card would bury the pictures."""
    counts = Counter(i.status for i in items)
    order = [*_STATUS_ORDER, *sorted(set(counts) - set(_STATUS_ORDER))]
    summary = " · ".join(f"{counts[s]} {s}" for s in order if counts[s])
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        f"<title>{escape(title)} · twat-genai gallery</title>",
        f"<style>\n{_CSS}\n</style></head><body>",
        f"<header><h1>{escape(title)}</h1>",
        f"<p>{len(items)} item{'s' * (len(items) != 1)}{': ' + summary if summary else ''}</p>",
        "</header><main>",
    ]
    loose: list[Item] = []
    for g in group(items):
        if len(g.items) == 1:
            loose += g.items
            continue
        parts += _section(loose, None, page_dir)
        loose = []
        parts += _section(g.items, g, page_dir)
    parts += _section(loose, None, page_dir)
    if not items:
        parts.append("<p>No images, videos or journal entries in this folder yet.</p>")
    parts.append("</main></body></html>\n")
    return "\n".join(parts)


def _section(items: list[Item], g: Group | None, page_dir: Path) -> list[str]:
    if not items:
        return []
    head = ""
    if g is not None:
        label = escape(g.template) if g.template else "<i>no prompt recorded</i>"
        head = f"<h2>{label}<small>{len(items)}</small></h2>"
    cards = "\n".join(_card(i, page_dir) for i in items)
    return [f'<section>{head}<div class="grid">', cards, "</div></section>"]


def _card(item: Item, page_dir: Path) -> str:
    alt = escape(item.prompt or (item.path.name if item.path else ""))
    href = _url(item.path, page_dir) if item.path else None
    if item.kind == "video" and href:
        tile = f'<div class="tile"><video controls preload="metadata" src="{href}"></video></div>'
    elif item.thumb is not None and href:
        src = _url(item.thumb, page_dir)
        tile = f'<a class="tile" href="{href}"><img src="{src}" alt="{alt}" loading="lazy"></a>'
    elif href:
        tile = f'<a class="tile none" href="{href}">no preview</a>'
    else:
        tile = f'<div class="tile none">{escape(_no_file(item.status))}</div>'
    rows = []
    if item.prompt:
        rows.append(f'<p class="prompt" title="{alt}">{alt}</p>')
    who = " · ".join(escape(x) for x in (item.provider, item.model) if x)
    rows.append(f'<p class="meta"><span class="badge">{escape(item.status)}</span>{who}</p>')
    facts = []
    if item.width and item.height:
        facts.append(f"{item.width}×{item.height}")
    if item.seed is not None:
        facts.append(f"seed {escape(item.seed)}")
    if item.loras:
        facts.append("LoRA " + ", ".join(escape(x) for x in item.loras))
    if item.role:
        facts.append(escape(item.role))
    if item.path is not None and item.sidecar is None:
        facts.append("no sidecar")
    if facts:
        rows.append(f'<p class="meta">{" · ".join(facts)}</p>')
    if item.error:
        rows.append(f'<p class="why">{escape(str(item.error))}</p>')
    links = []
    if href and item.path is not None:
        links.append(f'<a href="{href}">{escape(item.path.name)}</a>')
    if item.sidecar is not None:
        links.append(f'<a href="{_url(item.sidecar, page_dir)}">sidecar</a>')
    if links:
        rows.append(f'<p class="links">{"".join(links)}</p>')
    return f'<article class="card {escape(item.status)}">{tile}<div class="info">{"".join(rows)}</div></article>'


def _no_file(status: str) -> str:
    return {
        "blocked": "blocked by the provider's safety check",
        "failed": "failed: no file",
        "cancelled": "cancelled",
        "unfinished": "not finished",
    }.get(status, "no file")


def _url(target: Path, page_dir: Path) -> str:
    """``target`` relative to the page, as an escaped URL (a file URL across Windows drives)."""
    try:
        rel = os.path.relpath(target.absolute(), page_dir.absolute())
    except ValueError:
        return escape(target.resolve().as_uri())
    return escape(quote(rel.replace(os.sep, "/")))
