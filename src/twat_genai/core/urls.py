"""The one check for URLs a caller hands us (input images, LoRA files): well formed and http(s),
refused before anything is sent."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from twat_genai.core.errors import UsageError

#: ``scheme://`` at the start of a string: a URL, not a path (two letters or more, so a
#: Windows drive such as ``C://`` stays a path).
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+)://")


def url_scheme(text: str) -> str | None:
    """The lower-cased scheme when ``text`` starts with ``scheme://``, else None."""
    match = _SCHEME_RE.match(text)
    return match.group(1).lower() if match else None


def _short(url: str, limit: int = 80) -> str:
    return url if len(url) <= limit else url[: limit - 3] + "..."


def check_http_url(url: str, what: str = "URL", *, other: str = "") -> str:
    """Return ``url`` when it is an http(s) URL with a host and a valid port (if any); else raise
    one :class:`UsageError` line saying what is wrong and how to write it. ``other`` names the
    other accepted forms for the scheme message (``"a data: URI or a local path"``)."""
    shown = _short(url)
    scheme = url_scheme(url)
    if scheme not in ("http", "https"):
        kind = f"the scheme {scheme + '://'!r}" if scheme else "no http:// or https://"
        raise UsageError(
            f"{what} {shown!r} has {kind}: use an http(s) URL{', ' + other if other else ''}"
        )
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise UsageError(f"{what} {shown!r} is malformed ({exc}): check the host part") from None
    try:
        port = parts.port  # raises on a port that is not a number from 0 to 65535
    except ValueError:
        port = -1
    if port is not None and not 0 < port <= 65535:
        raise UsageError(
            f"{what} {shown!r} has a malformed port: put a number from 1 to 65535 after the "
            f"host ({scheme}://HOST:8080/PATH), or no port"
        )
    host = parts.hostname or ""
    if not host or any(c.isspace() for c in host):
        problem = "has no host" if not host else "has a space in its host"
        raise UsageError(f"{what} {shown!r} {problem}: write it as {scheme}://HOST/PATH")
    return url


__all__ = ["check_http_url", "url_scheme"]
