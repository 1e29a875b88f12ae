"""What the CLI prints: paths or JSON on stdout, errors and summaries on stderr."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from twat_genai.core.redact import RedactingFilter, redact


def setup_logging(verbose: bool) -> None:
    """The CLI's handler on the ``twat_genai`` logger: warnings only, or debug with -v."""
    logger = logging.getLogger("twat_genai")
    handler = logging.StreamHandler(_Stderr())
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG if verbose else logging.WARNING)
    logger.propagate = False


class _Stderr:
    """``sys.stderr`` looked up at each write, so log lines follow it when a progress bar
    redirects it (and print above the bar, not on it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def error(message: str) -> None:
    print(f"twat-genai: error: {redact(str(message))}", file=sys.stderr, flush=True)


def note(message: str) -> None:
    """A line about the run itself (not a result, not a problem) on stderr."""
    print(f"twat-genai: {redact(str(message))}", file=sys.stderr, flush=True)


def warn(message: str) -> None:
    print(f"twat-genai: warning: {redact(str(message))}", file=sys.stderr, flush=True)


def emit_json(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False, default=str), flush=True)


def emit_line(text: str) -> None:
    print(text, flush=True)
