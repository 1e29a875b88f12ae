"""Chutes answers: FastAPI error envelopes, and outputs as raw media bytes or JSON carrying
base64 or a URL (PROTOCOLS §4.3, §4.5)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import Any

from twat_genai.core.errors import ModelError
from twat_genai.core.models import MediaFile, MediaKind
from twat_genai.core.records import shorten
from twat_genai.transport._httpx import httpx
from twat_genai.transport.http import ErrorInfo, default_error_info

Body = dict[str, Any]


def _put(body: Body, key: str, value: Any) -> None:
    if value is not None and value != "":
        body[key] = value


# --------------------------------------------------------------------------- errors

_SAFETY = re.compile(r"nsfw|safety|unsafe|content polic|flagged|prohibited", re.IGNORECASE)


def chutes_error_info(status: int, body: Any, text: str) -> ErrorInfo:
    """FastAPI ``{"detail": str | {"message": ...}}`` with the fix for the known cases."""
    info = default_error_info(status, body, text)
    message = info.message
    if status == 402:
        hint = "" if "balance" in message.lower() else "; no balance left"
        return ErrorInfo(f"{message}{hint} - top up your Chutes account balance", "no_balance")
    if status == 401:
        return ErrorInfo(f"{message} - check CHUTES_API_KEY", info.error_type)
    if status == 404 and message.startswith("model not found"):
        return ErrorInfo(f"{message} - check the model name", "model_not_found")
    if status == 429:
        return ErrorInfo(f"Chutes is busy ({message}); try again later", message or "rate_limited")
    if status == 503 and "no instances" in message.lower():
        return ErrorInfo(f"{message} - the chute is cold; try again in a minute", "no_instances")
    if status == 400 and _SAFETY.search(message):
        # [uncertain] Chutes has no documented safety envelope; chutes answer with a detail.
        return ErrorInfo(message, "safety", blocked=True)
    return info


# --------------------------------------------------------------------------- responses

_JSON_MEDIA_KEYS = ("image", "b64_json", "image_b64", "video", "images", "data")


def _decode_media(value: Any) -> tuple[bytes | None, str | None]:
    """(bytes, None) for base64 or a data URI, (None, url) for a URL, (None, None) otherwise."""
    if isinstance(value, list) and value:
        value = value[0]
    if isinstance(value, dict):
        for key in ("b64_json", "image", "image_b64", "video", "url"):
            if isinstance(value.get(key), str):
                return _decode_media(value[key])
        return None, None
    if not isinstance(value, str) or not value:
        return None, None
    if value.startswith(("http://", "https://")):
        return None, value
    payload = value.partition(",")[2] if value.startswith("data:") else value
    try:
        return base64.b64decode(re.sub(r"\s+", "", payload), validate=True), None
    except (binascii.Error, ValueError):
        return None, None


def _file_for(data: bytes, declared: str, seed: Any, model: str) -> MediaFile:
    """The answer as a file, its type from the bytes alone: a body that is empty or not an
    image or video is refused, whatever its ``Content-Type`` claims."""
    from twat_genai.core.media import not_media_error, sniff_media_type

    error = not_media_error(
        data[:4096],
        len(data),
        provider="chutes",
        model=model,
        expected="an image or video",
        declared=declared,
    )
    if error is not None:
        raise error
    mime = sniff_media_type(data) or ""
    return MediaFile(
        kind=MediaKind.VIDEO if mime.startswith("video/") else MediaKind.IMAGE,
        data=data,
        content_type=mime,
        seed=seed if isinstance(seed, int) else None,
    )


def parse_outputs(
    response: httpx.Response, seed: Any, model: str = "the chute"
) -> tuple[list[MediaFile], Body]:
    """Raw media bodies are kept as they are; JSON bodies are searched for base64 or URLs."""
    declared = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if not declared.endswith("json"):
        data = response.content
        raw: Body = {"content_type": declared, "bytes": len(data)}
        _put(raw, "content_disposition", response.headers.get("content-disposition"))
        return [_file_for(data, declared, seed, model)], raw
    try:
        body = response.json()
    except ValueError as exc:
        raise ModelError("chutes: the answer claims JSON but is not") from exc
    if not isinstance(body, dict):
        raise ModelError("chutes: the JSON answer is not an object")
    for key in _JSON_MEDIA_KEYS:
        decoded, url = _decode_media(body.get(key))
        if decoded is not None:
            return [_file_for(decoded, "", seed, model)], shorten(body)
        if url is not None:
            return [MediaFile(url=url, seed=seed if isinstance(seed, int) else None)], shorten(body)
    keys = ", ".join(sorted(body)) or "none"
    raise ModelError(f"chutes: the JSON answer holds no image or video (keys: {keys})")


def request_id(response: httpx.Response, files: list[MediaFile]) -> str:
    """The gateway's invocation id, else the file name it gave, else a content hash."""
    invocation = response.headers.get("x-chutes-invocationid")
    if invocation:
        return invocation
    match = re.search(r'filename="?([^";.]+)', response.headers.get("content-disposition", ""))
    if match:
        return match.group(1)
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.data or (f.url or "").encode())
    return digest.hexdigest()[:16]
