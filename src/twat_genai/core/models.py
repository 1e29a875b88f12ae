"""Provider-neutral requests and responses.

A provider turns one of the request models into wire calls and answers with a
:class:`ProviderResponse` whose :class:`MediaFile` items carry bytes or a URL. Saving files,
sidecars, retries and warnings are the core's job (:mod:`twat_genai.jobs.generate`), done once
for every provider. "Absent" (``None``) always means "the provider's own default".
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from twat_genai.core.inputs import ImageInput, ImageSizeWH


class ProviderName(str, Enum):
    FAL = "fal"
    CHUTES = "chutes"
    OPENAI = "openai"
    GEMINI = "gemini"

    def __str__(self) -> str:
        return self.value


class MediaKind(str, Enum):
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"

    def __str__(self) -> str:
        return self.value


class LoraWeight(BaseModel):
    """One LoRA as FAL takes it: a Hugging Face repo id or URL, and a scale."""

    model_config = ConfigDict(frozen=True)

    path: str
    scale: float = 1.0


class _Request(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    #: Provider model or endpoint id (aliases allowed); None = the provider's default.
    model: str | None = None
    #: Extra provider arguments, sent as given (after the mapped ones).
    options: dict[str, Any] = Field(default_factory=dict)
    seed: int | None = None


class ImageGenerationRequest(_Request):
    """Text to image."""

    prompt: str
    negative_prompt: str | None = None
    #: Exact pixels, or None for the provider default. ``size_preset`` keeps a named preset
    #: (e.g. ``landscape_16_9``) for providers that take presets natively.
    size: ImageSizeWH | None = None
    size_preset: str | None = None
    aspect_ratio: str | None = None
    n: int = Field(default=1, ge=1, le=64)
    guidance_scale: float | None = None
    num_inference_steps: int | None = None
    loras: list[LoraWeight] = Field(default_factory=list)


class ImageEditRequest(ImageGenerationRequest):
    """Image(s) to image: img2img, control (canny/depth), upscale, outpaint, multi-image edits.

    ``operation`` names what to do with the images; providers list the operations they take in
    their capabilities (``edit`` is the generic one).
    """

    images: list[ImageInput] = Field(min_length=1)
    mask: ImageInput | None = None
    operation: str = "edit"
    strength: float | None = None


class VideoGenerationRequest(_Request):
    """Text or frame(s) to video."""

    prompt: str
    negative_prompt: str | None = None
    first_frame: ImageInput | None = None
    last_frame: ImageInput | None = None
    resolution: str | None = None
    fps: int | None = None
    num_frames: int | None = None
    guidance_scale: float | None = None
    num_inference_steps: int | None = None


class BackgroundRemovalRequest(_Request):
    """Cut the subject out: an RGBA PNG back."""

    image: ImageInput


Request = (
    ImageGenerationRequest | ImageEditRequest | VideoGenerationRequest | BackgroundRemovalRequest
)


class MediaFile(BaseModel):
    """One output of a provider: bytes already in hand, or a URL to download at once."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    kind: MediaKind = MediaKind.IMAGE
    data: bytes | None = Field(default=None, repr=False, exclude=True)
    url: str | None = None
    content_type: str | None = None
    width: int | None = None
    height: int | None = None
    seed: int | None = None
    #: The provider flagged this file (e.g. fal ``has_nsfw_concepts``): it is not saved.
    blocked: bool = False
    #: What the file is besides the main output (``genfill``, ``mask``): its name ends ``-ROLE``.
    role: str = ""
    #: Set once saved.
    path: Path | None = None
    metadata_path: Path | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


class ProviderResponse(BaseModel):
    """What one provider call produced, in neutral form."""

    provider: str
    model: str
    request_id: str
    files: list[MediaFile] = Field(default_factory=list)
    #: The arguments sent on the wire (inputs replaced by references; never a key).
    sent: dict[str, Any] = Field(default_factory=dict)
    #: The provider's own result record (JSON), minus bulky base64.
    raw: dict[str, Any] = Field(default_factory=dict)
    text: list[str] = Field(default_factory=list)
    usage: dict[str, Any] | None = None
    warnings: list[str] = Field(default_factory=list)
    timings: dict[str, float] = Field(default_factory=dict)
