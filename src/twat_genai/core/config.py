"""Public data models shared by every provider: input images, sizes, results."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

if TYPE_CHECKING:
    from PIL import Image as PILImage

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
            if value.startswith(("http://", "https://", "data:")):
                return {"url": value}
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
        if self.url is not None and not self.url.startswith(("http://", "https://", "data:")):
            raise ValueError(
                f"ImageInput url must start with http://, https:// or data: (got {self.url[:40]!r})"
            )
        return self

    @classmethod
    def from_any(cls, value: Any) -> ImageInput:
        """Build from a path, URL, ``data:`` URI, bytes, PIL image or an ImageInput."""
        if isinstance(value, ImageInput):
            return value
        return cls.model_validate(value)

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
        from twat_genai.core.image_utils import decode_image, load_local_bytes

        if self.pil_image is not None:
            return self.pil_image  # type: ignore[no-any-return]
        return decode_image(load_local_bytes(self))


class ImageResult(BaseModel):
    """What a generation returns: the provider's record plus where the files were saved.

    ``image_info`` describes the first image (``url``, ``path``, ``metadata_path``, ``width``,
    ``height``, ``content_type``, ``seed``); ``images`` lists every saved file the same way.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    request_id: str
    timestamp: str
    result: dict[str, Any] = Field(default_factory=dict)
    image_info: dict[str, Any] = Field(default_factory=dict)
    image: Any = Field(default=None, exclude=True, repr=False)
    original_prompt: str | None = None
    job_params: dict[str, Any] = Field(default_factory=dict)
    images: list[dict[str, Any]] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)

    @property
    def paths(self) -> list[Path]:
        return [Path(i["path"]) for i in self.images if i.get("path")]


def utc_now() -> datetime:
    from datetime import timezone

    return datetime.now(timezone.utc)
