"""Shaping JSON for sidecars and logs: bulky inline data cut to a marker, any value made
JSON with secrets masked, and the compact subset stamped into an image."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from twat_genai.core.redact import redact_obj

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


def _json_default(obj: Any) -> Any:
    """JSON fallback so sidecars never fail on Paths, datetimes, models, bytes or enums."""
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (datetime, date)):
        return obj.isoformat()
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, (bytes, bytearray)):
        return f"<{len(obj)} bytes>"
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=str)
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if is_dataclass(obj) and not isinstance(obj, type):
        return asdict(obj)
    return str(obj)


def plain_copy(obj: Any) -> Any:
    """JSON-compatible deep copy with secrets masked (redaction sees every string)."""
    return redact_obj(json.loads(json.dumps(obj, default=_json_default, ensure_ascii=False)))


_SUBSET_KEYS: dict[str, tuple[str, ...]] = {
    "prompt": ("final_prompt", "prompt", "original_prompt"),
    "negative_prompt": ("negative_prompt",),
    "model": ("model", "endpoint", "model_id"),
    "provider": ("provider",),
    "seed": ("seed",),
    "size": ("size", "image_size"),
    "request_id": ("request_id",),
}


def embedded_subset(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The compact parameters copied into an image: prompt, model, seed, size, request id.

    Looks at the top level first, then in ``parameters``, ``params``, ``sent``, ``job_params``
    and ``result``.
    """
    scopes: list[Mapping[str, Any]] = [metadata]
    for name in ("parameters", "params", "sent", "job_params", "result"):
        inner = metadata.get(name)
        if isinstance(inner, Mapping):
            scopes.append(inner)
    out: dict[str, Any] = {}
    for key, candidates in _SUBSET_KEYS.items():
        for scope in scopes:
            found = next((scope[c] for c in candidates if scope.get(c) not in (None, "")), None)
            if found is not None:
                out[key] = found
                break
    if "size" not in out:
        for scope in scopes:
            if scope.get("width") and scope.get("height"):
                out["size"] = f"{scope['width']}x{scope['height']}"
                break
    result: dict[str, Any] = plain_copy(out)
    return result
