"""Keep secrets out of logs, errors, metadata and reprs.

Two nets: the values of every key variable we know (exact match, whatever their shape) and
the shapes keys take on the wire (``Key …``, ``Bearer …``, ``cpk_…``, ``?key=…``).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"

#: Environment variables that hold secrets; their values are masked wherever they appear.
SECRET_ENV_VARS: tuple[str, ...] = (
    "FAL_KEY",
    "FAL_KEY_SECRET",
    "CHUTES_API_KEY",
    "CHUTES_API_TOKEN",
    "OPENAI_API_KEY",
    "CLIPROXY_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
)

#: Header names whose values are secrets.
SECRET_HEADERS = frozenset({"authorization", "x-goog-api-key", "x-api-key", "proxy-authorization"})

# Group 1 of each pattern is the part kept; the rest is masked.
_PATTERNS = [
    re.compile(r"(?i)\b((?:Key|Bearer|Basic)\s+)[A-Za-z0-9._~+/=:\-]{6,}"),
    re.compile(r"()\bcpk_[A-Za-z0-9._\-]+"),
    re.compile(r"()\bsk-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"()\bAIza[0-9A-Za-z_\-]{20,}"),
    re.compile(r"(?i)([?&](?:key|api_key|token|fal_key)=)[^&\s'\"]+"),
    re.compile(
        r"(?i)((?:x-goog-api-key|authorization|x-api-key)['\"]?\s*[:=]\s*['\"]?)[^'\"\s,}]+"
    ),
]

_extra_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Mask ``value`` wherever it appears from now on (keys passed as arguments)."""
    if value and len(value) >= 4:
        _extra_secrets.add(value)


def _secret_values() -> Iterable[str]:
    for name in SECRET_ENV_VARS:
        value = os.environ.get(name)
        if value and len(value) >= 4:
            yield value
    yield from _extra_secrets


def redact(text: str) -> str:
    """Return ``text`` with every known secret and key-shaped token replaced by ``***``."""
    if not text:
        return text
    for value in sorted(set(_secret_values()), key=len, reverse=True):
        if value in text:
            text = text.replace(value, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers as a dict with secret values masked (for logs and the emulator's request log)."""
    return {k: (MASK if k.lower() in SECRET_HEADERS else redact(v)) for k, v in headers.items()}


def redact_obj(obj: Any) -> Any:
    """Deep-copy JSON-like ``obj`` with secret strings masked (for metadata sidecars)."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, Mapping):
        return {
            k: (MASK if str(k).lower() in SECRET_HEADERS else redact_obj(v)) for k, v in obj.items()
        }
    if isinstance(obj, (list, tuple)):
        return [redact_obj(v) for v in obj]
    return obj


class RedactingFilter(logging.Filter):
    """Logging filter that masks secrets in every record passing through a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True
