"""Keep secrets out of logs, errors, metadata and reprs.

Two nets: the values of every key we know (key variables and :func:`register_secret`; exact
match wherever they appear, whatever their shape; the id and the secret of an ``id:secret`` key
on their own too) and the shapes keys take on the wire
(``cpk_…``, ``sk-…``, ``?key=…``, and ``Key``/``Bearer``/``Basic`` or a secret header followed by
a credential-shaped token). The second net never touches ordinary words: a prompt like "a
standard bearer carrying banners, basic shapes, key visual" reaches sidecars unchanged.
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

# Prefixes no prompt word has: everything matched after group 1 (the part kept) is masked.
_PATTERNS = [
    re.compile(r"()\bcpk_[A-Za-z0-9._\-]+"),
    re.compile(r"()\bsk-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"()\bAIza[0-9A-Za-z_\-]{20,}"),
    re.compile(r"(?i)([?&](?:key|api_key|apikey|token|access_token|fal_key)=)[^&\s'\"]+"),
    # fal's key shape, key id and secret: ``<uuid>:<32 hex>``
    re.compile(
        r"(?i)()\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:[0-9a-f]{32}\b"
    ),
    # A named credential in JSON, YAML or a config line: "api_key": "...", token=...
    re.compile(
        r"(?i)([\"']?\b(?:api[_-]?key|access[_-]?token|client[_-]?secret|secret[_-]?key)"
        r"[\"']?[ \t]*[:=][ \t]*[\"']?)[^\"'\s,}]{8,}"
    ),
]

#: The characters of a token on the wire (base64, ``id:secret``, JWTs).
_TOKEN = r"[A-Za-z0-9._~+/=:\-]+"

#: ``Key …``, ``Bearer …``, ``Basic …`` as HTTP writes them: the capitalised scheme word (prompts
#: say "a standard bearer of the 12th-century", "basic shapes", "key visual"), then a token
#: masked only when it looks like a credential (see :func:`_credential_like`). Known key shapes
#: (fal, OpenAI, Chutes, Google) are masked in any context by the patterns above.
_SCHEME = re.compile(rf"\b((?:Key|Bearer|Basic)\s+)({_TOKEN})")

#: A secret header written out (``Authorization: …``, ``'x-goog-api-key': '…'``), its scheme
#: word kept; the value masked when it looks like a credential.
_HEADER = re.compile(
    r"(?i:\b(?:x-goog-api-key|x-api-key|proxy-authorization|authorization))"
    rf"['\"]?[ \t]*[:=][ \t]*['\"]?(?:(?i:Key|Bearer|Basic)[ \t]+)?({_TOKEN})"
)


#: For each pattern above and then ``_SCHEME`` and ``_HEADER``: what the lower-cased text must
#: hold for it to match (any one mark; a compiled mark is searched for). A check in C per mark
#: instead of a regular-expression pass over every URL and timestamp of a record.
_MARKS: tuple[tuple[str | re.Pattern[str], ...], ...] = (
    ("cpk_",),
    ("sk-",),
    ("aiza",),
    ("=",),
    (re.compile(r":[0-9a-f]{32}"),),
    ("key", "token", "secret"),
    ("key", "bearer", "basic"),
    ("authorization", "api-key"),
)


def _marked(lower: str, marks: tuple[str | re.Pattern[str], ...]) -> bool:
    return any(m in lower if isinstance(m, str) else m.search(lower) for m in marks)


#: Characters a key has and a prompt word does not (hyphens alone are ordinary words).
_KEY_MARKS = frozenset("0123456789:_=")


def _credential_like(token: str, min_len: int) -> bool:
    """A token long enough, with digits or the ``:``/``_``/``=`` of keys and base64."""
    return (
        len(token) >= min_len
        and any(c.isalpha() for c in token)
        and any(c in _KEY_MARKS for c in token)
    )


def _mask_token(match: re.Match[str], group: int, min_len: int, *, any_shape: bool = False) -> str:
    token = match.group(group)
    if not (len(token) >= min_len if any_shape else _credential_like(token, min_len)):
        return match.group(0)
    start = match.start(group) - match.start(0)
    return match.group(0)[:start] + MASK


_extra_secrets: set[str] = set()

#: A part of an ``id:secret`` key this long is masked on its own as well: an error body may
#: echo the id or the secret alone, and a part this long is no ordinary word.
MIN_PART = 8


def _with_parts(value: str) -> Iterable[str]:
    """A key and, for ``id:secret`` keys (fal's shape), each part of at least :data:`MIN_PART`
    characters."""
    yield value
    if ":" in value:
        yield from (part for part in value.split(":") if len(part) >= MIN_PART)


def register_secret(value: str | None) -> None:
    """Mask ``value`` (and each long part of an ``id:secret`` value) wherever it appears from
    now on (keys passed as arguments)."""
    if value and len(value) >= 4:
        _extra_secrets.update(_with_parts(value))


def _secret_values() -> Iterable[str]:
    for name in SECRET_ENV_VARS:
        value = os.environ.get(name)
        if value and len(value) >= 4:
            yield from _with_parts(value)
    yield from _extra_secrets


def _may_hold_a_key(text: str) -> bool:
    """Whether ``text`` has one of the marks every pattern above needs (``:`` or ``=``, or
    ``cpk_``, ``sk-``, ``AIza``, ``Key``, ``Bearer``, ``Basic``): a string with none of them
    (most prompts, ids, sizes) skips the regular expressions."""
    return (
        ":" in text
        or "=" in text
        or "cpk_" in text
        or "sk-" in text
        or "AIza" in text
        or "Key" in text
        or "Bearer" in text
        or "Basic" in text
    )


def _secrets() -> list[str]:
    """The known secret values, longest first (a key containing another is masked whole)."""
    global _sorted
    key = (tuple(os.environ.get(name) for name in SECRET_ENV_VARS), len(_extra_secrets))
    # Again only when a key variable or the registered keys changed (that set only grows).
    if _sorted is None or _sorted[0] != key:
        _sorted = (key, sorted(set(_secret_values()), key=len, reverse=True))
    return _sorted[1]


_sorted: tuple[Any, list[str]] | None = None


def redact(text: str) -> str:
    """Return ``text`` with every known secret and key-shaped token replaced by ``***``."""
    return _redact(text, _secrets())


def _redact(text: str, secrets: list[str]) -> str:
    if not text:
        return text
    for value in secrets:
        if value in text:
            text = text.replace(value, MASK)
    if not _may_hold_a_key(text):
        return text
    lower = text.lower()
    for pattern, marks in zip(_PATTERNS, _MARKS, strict=False):
        if _marked(lower, marks):
            text = pattern.sub(lambda m: m.group(1) + MASK, text)
    # A value written as a secret header's is a credential whatever it looks like.
    if _marked(lower, _MARKS[-1]):
        text = _HEADER.sub(lambda m: _mask_token(m, 1, 8, any_shape=True), text)
    if _marked(lower, _MARKS[-2]):
        text = _SCHEME.sub(lambda m: _mask_token(m, 2, 12), text)
    return text


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers as a dict with secret values masked (for logs and the emulator's request log)."""
    return {k: (MASK if k.lower() in SECRET_HEADERS else redact(v)) for k, v in headers.items()}


def redact_obj(obj: Any) -> Any:
    """Deep-copy JSON-like ``obj`` with secret strings masked (for metadata sidecars)."""
    return _redact_obj(obj, _secrets())


def _redact_obj(obj: Any, secrets: list[str]) -> Any:
    if isinstance(obj, str):
        return _redact(obj, secrets)
    if isinstance(obj, Mapping):
        return {
            k: (MASK if str(k).lower() in SECRET_HEADERS else _redact_obj(v, secrets))
            for k, v in obj.items()
        }
    if isinstance(obj, (list, tuple)):
        return [_redact_obj(v, secrets) for v in obj]
    return obj


class RedactingFilter(logging.Filter):
    """Logging filter that masks secrets in every record passing through a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True
