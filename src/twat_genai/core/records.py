"""Shaping JSON for sidecars and logs: bulky inline data cut to a marker."""

from __future__ import annotations

import re
from typing import Any

_BASE64ISH = re.compile(r"^[A-Za-z0-9+/_=\-\s]+$")


def shorten(value: Any, *, max_len: int = 512) -> Any:
    """A copy of JSON-like ``value`` where data URIs and long base64 strings become
    ``<N chars>`` markers, so records stay small and readable."""
    if isinstance(value, str):
        if value.startswith("data:") and len(value) > 80:
            return value[: value.find(",") + 1] + f"<{len(value)} chars>"
        if len(value) > max_len and _BASE64ISH.match(value[:max_len]):
            return f"<{len(value)} chars of base64>"
        return value
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    if isinstance(value, dict):
        return {k: shorten(v, max_len=max_len) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [shorten(v, max_len=max_len) for v in value]
    return value
