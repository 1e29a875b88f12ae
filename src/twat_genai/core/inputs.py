"""Input images and explicit sizes: what every request is built from.

Local inputs (paths, bytes, ``data:`` URIs, PIL images) are read and checked here, before any
request; http(s) URLs are the transport's job.
"""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_to_bytes

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from twat_genai.core import media
from twat_genai.core.errors import UsageError, validated_value
from twat_genai.core.media import (
    decode_image,
    encode_png,
    input_label,
    mib,
    sniff_media_type,
)
from twat_genai.core.urls import check_http_url, url_scheme

if TYPE_CHECKING:
    from PIL import Image as PILImage

_OTHER_FORMS = "a data: URI or a local path"

#: A prompt argument: one string (split on ``;``) or a list of strings.
Prompts = str | list[str]


class ImageSizeWH(BaseModel):
    """An explicit output size in pixels."""

    model_config = ConfigDict(frozen=True)

    width: int = Field(gt=0, le=16384)
    height: int = Field(gt=0, le=16384)

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"


class ImageInput(BaseModel):
    """An input image: exactly one of ``url`` (http(s) or ``data:`` URI), ``path``,
    ``pil_image`` or raw ``data`` bytes."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    url: str | None = None
    path: Path | None = None
    pil_image: Any = Field(default=None, exclude=True, repr=False)
    data: bytes | None = Field(default=None, exclude=True, repr=False)

    @model_validator(mode="before")
    @classmethod
    def _coerce(cls, value: Any) -> Any:
        """Accept a bare path, URL, data URI, bytes or PIL image wherever an ImageInput goes."""
        if isinstance(value, (bytes, bytearray)):
            return {"data": bytes(value)}
        if isinstance(value, Path):
            return {"path": value}
        if isinstance(value, str):
            if value.startswith("data:") or url_scheme(value) is not None:
                return {"url": value}  # any scheme://, so ftp:// is refused, not a missing file
            return {"path": value}
        if hasattr(value, "save") and hasattr(value, "size") and not isinstance(value, dict):
            return {"pil_image": value}
        return value

    @field_validator("path", mode="before")
    @classmethod
    def _expand_path(cls, value: Any) -> Any:
        if isinstance(value, str):
            return Path(value).expanduser()
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> ImageInput:
        given = [n for n in ("url", "path", "pil_image", "data") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(
                "ImageInput needs exactly one of url, path, pil_image or data"
                + (f" (got {', '.join(given)})" if given else " (got none)")
            )
        if self.url is not None and not self.url.startswith("data:"):
            check_http_url(self.url, "input image", other=_OTHER_FORMS)
        return self

    @classmethod
    def from_any(cls, value: Any) -> ImageInput:
        """Build from a path, URL, ``data:`` URI, bytes, PIL image or an ImageInput; anything
        else (or a malformed URL) is a :class:`UsageError` with the pydantic error as its cause."""
        if isinstance(value, ImageInput):
            return value
        return validated_value(cls, value, what="input image")

    @property
    def is_remote(self) -> bool:
        return self.url is not None and not self.url.startswith("data:")

    def describe(self) -> str:
        """A short reference for metadata: the path or URL (data URIs shortened)."""
        if self.path is not None:
            return str(self.path)
        if self.url is not None:
            return self.url if not self.url.startswith("data:") else self.url[:32] + "..."
        if self.pil_image is not None:
            return "<PIL image>"
        return f"<{len(self.data or b'')} bytes>"

    @property
    def stem(self) -> str | None:
        """The file stem of a path or URL input, used as the default filename prefix."""
        if self.path is not None:
            return self.path.stem
        if self.url is not None and not self.url.startswith("data:"):
            name = self.url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
            return name.rsplit(".", 1)[0] or None
        return None

    def open_pil(self) -> PILImage.Image:
        """Decode a local input (path, bytes, data URI or PIL) with Pillow; not for http URLs."""
        from twat_genai.core.media import decode_image

        if self.pil_image is not None:
            return self.pil_image  # type: ignore[no-any-return]
        return decode_image(load_local_bytes(self))


# --------------------------------------------------------------------------- local inputs


def _decode_data_uri(uri: str) -> bytes:
    header, sep, payload = uri.partition(",")
    if not sep:
        raise UsageError("input image data: URI has no ',' separator")
    if len(payload) > media.MAX_INPUT_BYTES * 4 // 3 + 16:
        raise UsageError(f"input image data: URI is too large (> {mib(media.MAX_INPUT_BYTES)})")
    if header.endswith(";base64"):
        try:
            return base64.b64decode(re.sub(r"\s+", "", payload), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise UsageError(f"input image data: URI is not valid base64 ({exc})") from None
    return unquote_to_bytes(payload)


def load_local_bytes(inp: ImageInput) -> bytes:
    """The bytes of a local input: path, ``data:`` URI, raw bytes or PIL image (as PNG).

    http(s) URLs are the transport layer's job (timeouts, size cap) and raise ValueError here.
    """
    if inp.pil_image is not None:
        return encode_png(inp.pil_image)
    if inp.data is not None:
        data = bytes(inp.data)
    elif inp.url is not None:
        if not inp.url.startswith("data:"):
            raise ValueError(
                f"load_local_bytes does not fetch http(s) URLs ({inp.url[:60]!r}); "
                "the transport layer downloads remote inputs"
            )
        data = _decode_data_uri(inp.url)
    elif inp.path is not None:
        data = _read_path(Path(inp.path))
    else:  # pragma: no cover - ImageInput guarantees one source
        raise UsageError("input image has no source")
    if len(data) > media.MAX_INPUT_BYTES:
        raise UsageError(
            f"{input_label(inp.describe())} is too large ({mib(len(data))} > {mib(media.MAX_INPUT_BYTES)})"
        )
    if not data:
        raise UsageError(f"{input_label(inp.describe())} is empty")
    return data


def _read_path(path: Path) -> bytes:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise UsageError(f"input image not found: {path}") from None
    except OSError as exc:
        raise UsageError(f"input image cannot be read: {path} ({exc.strerror})") from None
    if not path.is_file():
        raise UsageError(f"input image is not a file: {path}")
    if st.st_size > media.MAX_INPUT_BYTES:
        raise UsageError(
            f"input image {str(path)!r} is too large ({mib(st.st_size)} > {mib(media.MAX_INPUT_BYTES)})"
        )
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"input image cannot be read: {path} ({exc.strerror})") from None


def validate_local_input(inp: ImageInput) -> tuple[bytes, str, tuple[int, int]]:
    """Pre-flight check before any request: (bytes, media type, (width, height)).

    Loads and fully decodes the image so a broken file fails here, not at the provider.
    """
    from PIL import Image

    data = load_local_bytes(inp)
    img = decode_image(data, source=inp.describe())
    try:
        size = img.size
        mime = sniff_media_type(data) or Image.MIME.get(img.format or "", "") or "image/png"
    finally:
        img.close()
    return data, mime, size
