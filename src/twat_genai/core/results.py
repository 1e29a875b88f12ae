"""``ImageResult``: what the README's fal API returns for one generation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


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
