"""The engine interface and the settings every engine shares."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from twat_genai.core.inputs import ImageSizeWH
from twat_genai.core.results import ImageResult


class EngineConfig(BaseModel):
    """Settings common to every generation. ``image_size`` takes a preset name (``"HD"``, any
    case), a preset value (``"landscape_16_9"``), an ``ImageSizes``, an ``ImageSizeWH``,
    ``"W,H"``, ``"WxH"`` or a ``(w, h)`` pair."""

    model_config = ConfigDict(arbitrary_types_allowed=True, validate_assignment=True)

    guidance_scale: float = Field(default=3.5, ge=0)
    num_inference_steps: int = Field(default=28, ge=1, le=1000)
    image_size: Any = Field(default="SQ", validate_default=True)
    enable_safety_checker: bool = False
    seed: int | None = None
    num_images: int = Field(default=1, ge=1, le=16)
    output_format: str | None = None

    @field_validator("image_size", mode="before")
    @classmethod
    def _parse_size(cls, value: Any) -> Any:
        from twat_genai.core.sizes import parse_image_size

        return parse_image_size(value)

    def size_fields(self) -> dict[str, Any]:
        """``size``/``size_preset`` for a neutral request."""
        from twat_genai.core.sizes import ImageSizes

        size = self.image_size
        if isinstance(size, ImageSizes):
            return {"size": size.wh, "size_preset": size.name}
        assert isinstance(size, ImageSizeWH)
        return {"size": size, "size_preset": None}


class ImageGenerationEngine(ABC):
    """An engine: set up once, generate many times, shut down. Usable as an async context."""

    async def initialize(self) -> None:  # noqa: B027 - optional hook
        """Prepare clients; called by ``__aenter__``."""

    @abstractmethod
    async def generate(self, prompt: str, config: EngineConfig, **kwargs: Any) -> ImageResult:
        """Generate from ``prompt`` with ``config`` and return the saved result."""

    async def shutdown(self) -> None:  # noqa: B027 - optional hook
        """Release clients; called by ``__aexit__``."""

    async def __aenter__(self) -> ImageGenerationEngine:
        await self.initialize()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()
