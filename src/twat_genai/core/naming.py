"""File names: ``{prefix}{slug}-{id8}{suffix}{role}{-N}.{ext}``, where the slug is a short,
readable part of the prompt (or the input's name) and ``id8`` the start of the provider's
request id; ``--name TEMPLATE`` replaces ``{slug}-{id8}``. No timestamp: the sidecar holds the
time. Names are ASCII, safe on every file system, and never hidden files."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from twat_genai.core.errors import UsageError

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_DASHES = re.compile(r"-{2,}")
_ALNUM = re.compile(r"[A-Za-z0-9]")


#: Names a ``--name`` template may use.
TEMPLATE_FIELDS = ("prompt", "index", "seed", "model", "date", "id")


def check_template(template: str) -> str:
    """``template`` when it uses only :data:`TEMPLATE_FIELDS` (``{prompt}-{seed}``), else a
    usage error naming the fields."""
    import string

    try:
        names = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise UsageError(f"--name {template!r}: {exc}; write fields as {{prompt}}") from None
    bad = [n for n in names if n not in TEMPLATE_FIELDS]
    if bad or not names:
        fields = ", ".join("{" + f + "}" for f in TEMPLATE_FIELDS)
        what = f"unknown field {{{bad[0]}}}" if bad else "no field"
        raise UsageError(f"--name {template!r}: {what}; use {fields}")
    return template


def slug_words(text: str, max_len: int = 40) -> str:
    """A short, readable slug of a prompt: lower-case words joined by ``-``, cut at a word."""
    words = slugify(text.lower().replace("_", " "), max_len=0).replace(".", "-").split("-")
    out = ""
    for word in (w for w in words if w):
        if out and len(out) + 1 + len(word) > max_len:
            break
        out = f"{out}-{word}" if out else word[:max_len]
    return out


def slugify(text: str, max_len: int = 80) -> str:
    """ASCII-only filename part: letters, digits, ``-``, ``_``, ``.``; other runs become ``-``.

    Accents are folded (``café`` → ``cafe``); leading dots are dropped so no hidden files appear.
    """
    text = str(text)
    if not text.isascii():  # ASCII has nothing to fold
        folded = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in folded if not unicodedata.combining(c))
    slug = _DASHES.sub("-", _UNSAFE.sub("-", text)).lstrip(".")
    slug = slug[:max_len] if max_len > 0 else slug
    return slug if _ALNUM.search(slug) else ""


def stem(
    *,
    ident: str,
    fields: Mapping[str, Any],
    date: str,
    prefix: str | None = None,
    suffix: str | None = None,
    template: str | None = None,
    role: str = "",
    index: int | None = None,
) -> str:
    """A file name without collision number or extension, from the request id and ``fields``
    (``prompt``, ``index``, ``seed``, ``model``)."""
    head = slugify(prefix or "")
    if head and head[-1] not in "-_":
        head += "_"
    values = _values(ident, fields, date)
    if template:
        body = template.format_map(values).strip("-_.") or values["id"]
    else:
        words = values["prompt"]
        if words and words == slug_words(prefix or ""):
            words = ""  # the input's name is the prefix already (upscale, rembg)
        body = "-".join(v for v in (words, values["id"]) if v)
    tail = slugify(suffix or "")
    if tail and tail[0] not in "-_":
        tail = "-" + tail
    role_part = slugify(role)
    if role_part and role_part[0] not in "-_":
        role_part = "-" + role_part
    number = f"-{index}" if index is not None else ""
    return f"{head}{body}{tail}{role_part}{number}"


def _values(ident: str, given: Mapping[str, Any], date: str) -> dict[str, str]:
    """The template fields, each made safe for a file name."""
    seed = given.get("seed")
    model = str(given.get("model") or "")
    return {
        "prompt": slug_words(str(given.get("prompt") or "")),
        "index": str(given.get("index", "")),
        "seed": str(seed) if seed is not None else "noseed",
        "model": slugify(model.rsplit("/", 1)[-1], 40),
        "date": date,
        "id": slugify(ident).strip("-.")[:8] or "noid",
    }


__all__ = ["TEMPLATE_FIELDS", "check_template", "slug_words", "slugify", "stem"]
