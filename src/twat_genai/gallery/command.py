"""``twat-genai gallery FOLDER [-o FILE.html] [--open]``: write the page, print its path."""

from __future__ import annotations

import argparse

from twat_genai.cli import output
from twat_genai.gallery.page import write_gallery


def run(args: argparse.Namespace) -> int:
    page = write_gallery(args.folder, args.out)
    output.emit_line(str(page))
    if args.open:
        import webbrowser

        webbrowser.open(page.resolve().as_uri())
    return 0
