"""OpenAI's image models and the parameters each refuses: the emulator's own table, written
from the ``openai`` 3.57.0 SDK docstrings (``types/image_generate_params.py``,
``image_edit_params.py``, ``image_model.py``) and fal's ``openai/gpt-image-2`` schema, checked
2026-11-30; never from the project's catalog.

Masks follow OpenAI's rules (:func:`check_mask`, :func:`edit_area`): a PNG with an alpha
channel whose fully transparent pixels are the area to edit.

Only OpenAI's own names (``gpt-image-*``, ``chatgpt-image-*``, ``dall-e-*``) are checked here.
Any other model id is what an OpenAI-compatible host serves (a proxy relaying Gemini, a local
model), and the app answers it as such a host would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageOps

#: Prefixes of OpenAI's own image model names.
OPENAI_PREFIXES = ("gpt-image-", "chatgpt-image-", "dall-e-")
STANDARD_SIZES = ("1024x1024", "1536x1024", "1024x1536")
GPT_QUALITIES = ("low", "medium", "high", "auto")
_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")


class BadRequest(Exception):
    """A 400 the app answers in OpenAI's error envelope."""

    def __init__(self, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message, self.param, self.code = message, param, code


@dataclass(frozen=True)
class OpenAIModel:
    """One served GPT image model: free ``WxH`` sizes or the standard ones, its qualities."""

    id: str
    free_sizes: bool
    qualities: tuple[str, ...] = GPT_QUALITIES
    input_fidelity: bool = True


#: Served models by family id (a ``-YYYY-MM-DD`` snapshot resolves to its family).
MODELS: dict[str, OpenAIModel] = {
    m.id: m
    for m in (
        OpenAIModel("gpt-image-1-mini", free_sizes=False),  # marked deprecated, date unknown
        OpenAIModel("gpt-image-1.5", free_sizes=False),
        # "omit input_fidelity for gpt-image-2" (SDK); whether the API refuses it is unknown.
        OpenAIModel("gpt-image-2", free_sizes=True),
        OpenAIModel("gpt-image-2.5-sunburst", True, (*GPT_QUALITIES, "xhigh", "max")),
        OpenAIModel("gpt-image-2.5-flare", True, (*GPT_QUALITIES, "xhigh", "max")),
        # The SDK lists no free sizes for these three: [uncertain], so they are accepted.
        OpenAIModel("gpt-image-2.6-sunburst", free_sizes=True),
        OpenAIModel("gpt-image-2.6-flare", free_sizes=True),
        OpenAIModel("chatgpt-image-latest", free_sizes=True),
    )
}

#: Shut-down models -> the date (SDK 3.57 docstrings).
RETIRED: dict[str, str] = {
    "gpt-image-1": "2026-10-23",
    "dall-e-2": "2026-05-12",
    "dall-e-3": "2026-05-12",
}

#: Parameters GPT image models refuse ("unsupported for GPT image models"; the 400 code
#: ``unknown_parameter`` is [uncertain]).
REFUSED_PARAMS = ("response_format", "style")

#: gpt-image-2's size limits: sides multiples of 16, aspect 1:3..3:1, at most 3840 on a side
#: (SDK), 655,360..8,294,400 pixels (fal's openai/gpt-image-2 schema).
MIN_PIXELS, MAX_PIXELS, MAX_SIDE, MAX_ASPECT = 655_360, 8_294_400, 3840, 3.0


def is_openai_name(model: str) -> bool:
    """Whether ``model`` is one of OpenAI's own names (checked against the table)."""
    return model.startswith(OPENAI_PREFIXES)


def family(model: str) -> str:
    """``model`` without a ``-YYYY-MM-DD`` snapshot suffix."""
    return _SNAPSHOT.sub("", model)


def lookup(model: str) -> OpenAIModel:
    """The served model for an OpenAI name, else :class:`NotServed`."""
    spec = MODELS.get(family(model))
    if spec is None:
        raise NotServed(model, RETIRED.get(family(model)))
    return spec


class NotServed(Exception):
    """An OpenAI name the API does not serve (``retired`` is the shutdown date, if any)."""

    def __init__(self, model: str, retired: str | None) -> None:
        super().__init__(model)
        self.model, self.retired = model, retired

    @property
    def message(self) -> str:
        """OpenAI's wording (the retirement sentence is the SDK's; the rest [uncertain])."""
        if self.retired:
            return (
                f"The model `{self.model}` has been shut down (since {self.retired}). "
                "Use a current GPT image model instead."
            )
        return f"The model `{self.model}` does not exist or you do not have access to it."


def check_params(spec: OpenAIModel, args: dict[str, Any]) -> None:
    """Refuse what the model refuses: legacy parameters, a quality it lacks, a size."""
    for name in REFUSED_PARAMS:
        if args.get(name) is not None:
            raise BadRequest(f"Unknown parameter: '{name}'.", name, "unknown_parameter")
    quality = args.get("quality")
    if quality is not None and quality not in spec.qualities:
        listed = ", ".join(f"'{q}'" for q in spec.qualities)
        raise BadRequest(
            f"Invalid value: '{quality}'. Supported values are: {listed}.",
            "quality",
            "invalid_value",
        )
    size = args.get("size")
    if size is not None and size != "auto":
        check_size(spec, str(size))


def check_size(spec: OpenAIModel, size: str) -> None:
    """A ``WxH`` the model takes, else OpenAI's 400 ``invalid_value`` on ``size``."""
    if not spec.free_sizes:
        if size not in STANDARD_SIZES:
            listed = ", ".join(f"'{s}'" for s in STANDARD_SIZES)
            # Message shape from a 3rd-party capture; param/code are [uncertain].
            raise BadRequest(
                f"Invalid value: '{size}'. Supported values are: {listed}, and 'auto'.",
                "size",
                "invalid_value",
            )
        return
    w, h = parse_size(size)
    problem = None
    if w % 16 or h % 16:
        problem = "width and height must be multiples of 16"
    elif max(w / h, h / w) > MAX_ASPECT:
        problem = "the aspect ratio must be between 1:3 and 3:1"
    elif w * h < MIN_PIXELS:
        problem = f"the size must have at least {MIN_PIXELS:,} pixels"
    elif w * h > MAX_PIXELS or max(w, h) > MAX_SIDE:
        problem = f"the size must be at most {MAX_SIDE}x2160 ({MAX_PIXELS:,} pixels)"
    if problem:
        raise BadRequest(
            f"Invalid value: '{size}'. For {spec.id}, {problem}.", "size", "invalid_value"
        )


def parse_size(size: str) -> tuple[int, int]:
    """``"WxH"`` as positive integers, else a 400 on ``size``."""
    try:
        w, h = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise BadRequest(
            f"Invalid value: '{size}'. Use 'WIDTHxHEIGHT' or 'auto'.", "size", "invalid_value"
        ) from None
    if w <= 0 or h <= 0:
        raise BadRequest(f"Invalid value: '{size}'.", "size", "invalid_value")
    return w, h


def check_mask(blob: bytes, mask: Image.Image) -> None:
    """OpenAI's mask rules: a PNG with an alpha channel and some fully transparent pixels
    (the edit area). The messages are [uncertain]; the 400 on ``mask`` is what clients see."""
    if not blob.startswith(b"\x89PNG\r\n\x1a\n"):
        raise BadRequest(
            "Invalid mask image format - the mask must be a PNG file.",
            "mask",
            "invalid_image_format",
        )
    if not has_alpha(mask):
        raise BadRequest(
            "Invalid mask image format - mask image missing alpha channel.",
            "mask",
            "invalid_image_format",
        )
    if mask.convert("RGBA").getchannel("A").getextrema()[0] != 0:
        raise BadRequest(
            "Invalid mask image - the mask has no fully transparent pixels, so it marks no "
            "area to edit.",
            "mask",
            "invalid_mask",
        )


def has_alpha(mask: Image.Image) -> bool:
    """Whether ``mask`` has an alpha channel (or a transparent palette entry)."""
    return mask.mode in ("RGBA", "LA", "PA") or (mask.mode == "P" and "transparency" in mask.info)


def edit_area(mask: Image.Image) -> Image.Image:
    """Where a mask asks for new pixels (255) and where it keeps them (0): its fully
    transparent pixels; white ones for a mask without alpha (compatible hosts only)."""
    if has_alpha(mask):
        return mask.convert("RGBA").getchannel("A").point(lambda a: 255 if a == 0 else 0)
    return ImageOps.grayscale(mask).point(lambda v: 255 if v >= 128 else 0)
