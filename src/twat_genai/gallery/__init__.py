"""A browsable page of a run's outputs: ``write_gallery(folder)`` writes ``folder/index.html``
with thumbnails, grouped by prompt template, including the items that were blocked or failed.

Stdlib-only at import (Pillow is loaded when thumbnails are made), so the CLI stays fast.
"""

from __future__ import annotations

from twat_genai.gallery.page import write_gallery

__all__ = ["write_gallery"]
