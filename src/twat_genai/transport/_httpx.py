"""The HTTP library: httpx2 (the maintained httpx line) where available, httpx on Python 3.10.

Both expose the same API; everything else imports ``httpx`` from here.
"""

from __future__ import annotations

try:
    import httpx2 as httpx
except ImportError:  # pragma: no cover - Python 3.10 only
    import httpx  # type: ignore[no-redef]

__all__ = ["httpx"]
