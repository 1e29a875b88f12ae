"""FAL operations (``ModelTypes``) and their per-operation settings (README API).

``UpscaleConfig`` keeps the README's prefixed field names (``clarity_creativity``,
``esrgan_model`` …) and :func:`upscale_arguments` maps them to each tool's real parameter names.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from twat_genai.core.config import ImageInput
from twat_genai.providers.fal.endpoints import ENDPOINTS


class ModelTypes(str, Enum):
    """Each FAL operation and the endpoint it calls."""

    TEXT = "fal-ai/flux-lora"
    IMAGE = "fal-ai/flux-lora/image-to-image"
    CANNY = "fal-ai/flux-lora-canny"
    DEPTH = "fal-ai/flux-lora-depth"
    UPSCALER_DRCT = "fal-ai/drct-super-resolution"
    UPSCALER_IDEOGRAM = "fal-ai/ideogram/upscale"
    UPSCALER_RECRAFT_CREATIVE = "fal-ai/recraft-creative-upscale"
    UPSCALER_RECRAFT_CLARITY = "fal-ai/recraft-clarity-upscale"
    UPSCALER_CCSR = "fal-ai/ccsr"
    UPSCALER_ESRGAN = "fal-ai/esrgan"
    UPSCALER_AURA_SR = "fal-ai/aura-sr"
    UPSCALER_CLARITY = "fal-ai/clarity-upscaler"
    OUTPAINT_BRIA = "fal-ai/bria/expand"
    OUTPAINT_FLUX = "fal-ai/flux-lora/inpainting"

    def __str__(self) -> str:
        return self.value

    @property
    def operation(self) -> str:
        """text, image, canny, depth, upscale, outpaint or outpaint_flux."""
        return ENDPOINTS[self.value].operation

    @property
    def is_upscaler(self) -> bool:
        return self.operation == "upscale"


#: CLI ``--tool`` names of the upscalers.
UPSCALE_TOOLS: dict[str, ModelTypes] = {
    "aura_sr": ModelTypes.UPSCALER_AURA_SR,
    "ccsr": ModelTypes.UPSCALER_CCSR,
    "clarity": ModelTypes.UPSCALER_CLARITY,
    "drct": ModelTypes.UPSCALER_DRCT,
    "esrgan": ModelTypes.UPSCALER_ESRGAN,
    "ideogram": ModelTypes.UPSCALER_IDEOGRAM,
    "recraft_clarity": ModelTypes.UPSCALER_RECRAFT_CLARITY,
    "recraft_creative": ModelTypes.UPSCALER_RECRAFT_CREATIVE,
}
_TOOL_OF = {v: k for k, v in UPSCALE_TOOLS.items()}

#: Longest input side each upscaler takes; larger inputs are resized first.
UPSCALE_TOOL_MAX_INPUT_SIZES: dict[ModelTypes, int] = {
    m: ENDPOINTS[m.value].max_input_side or 2048 for m in UPSCALE_TOOLS.values()
}

ESRGANModel = Literal[
    "RealESRGAN_x4plus",
    "RealESRGAN_x2plus",
    "RealESRGAN_x4plus_anime_6B",
    "RealESRGAN_x4_v3",
    "RealESRGAN_x4_wdn_v3",
    "RealESRGAN_x4_anime_v3",
]


class _OpConfig(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    input_image: ImageInput | None = None
    model_type: ModelTypes | None = None


class ImageToImageConfig(_OpConfig):
    """Image-to-image, canny and depth: the input image and how far to move from it."""

    strength: float = Field(default=0.75, ge=0.0, le=1.0)
    negative_prompt: str | None = None


class UpscaleConfig(_OpConfig):
    """Upscaler settings. Generic ``scale``/``prompt``/``seed`` apply to every tool that takes
    them; prefixed fields belong to one tool and warn when used with another."""

    prompt: str | None = None
    negative_prompt: str | None = None
    scale: float | None = Field(default=None, gt=0)
    seed: int | None = None
    esrgan_model: ESRGANModel | None = None
    esrgan_tile: int | None = None
    esrgan_face: bool | None = None
    esrgan_output_format: Literal["png", "jpeg"] | None = None
    clarity_creativity: float | None = None
    clarity_resemblance: float | None = None
    clarity_guidance_scale: float | None = None
    clarity_num_inference_steps: int | None = None
    aura_sr_overlapping_tiles: bool | None = None
    aura_sr_checkpoint: Literal["v1", "v2"] | None = None
    ideogram_resemblance: int | None = Field(default=None, ge=1, le=100)
    ideogram_detail: int | None = Field(default=None, ge=1, le=100)
    ideogram_expand_prompt: bool | None = None
    ccsr_scale: float | None = None
    ccsr_steps: int | None = None
    ccsr_tile_diffusion: Literal["none", "mix", "gaussian"] | None = None
    ccsr_color_fix_type: Literal["none", "wavelet", "adain"] | None = None
    recraft_sync_mode: bool | None = None


class OutpaintConfig(_OpConfig):
    """Outpainting onto a larger canvas with Bria (plus the GenFill border pass) or Flux."""

    prompt: str = ""
    negative_prompt: str | None = None
    target_width: int = Field(gt=0, le=5000)
    target_height: int = Field(gt=0, le=5000)
    outpaint_tool: Literal["bria", "flux"] = "bria"
    border_thickness_factor: float = Field(default=0.05, ge=0.0, le=0.5)
    num_images: int = Field(default=1, ge=1, le=4)


def _pick(value: Any, default: Any) -> Any:
    return default if value is None else value


def upscale_arguments(
    model: ModelTypes, cfg: UpscaleConfig, prompt: str | None
) -> tuple[dict[str, Any], list[str]]:
    """The tool's real arguments (besides ``image_url``) and warnings for fields it ignores."""
    tool = _TOOL_OF[model]
    c = cfg
    p = prompt or c.prompt
    args: dict[str, Any]
    if tool == "esrgan":
        args = {"scale": _pick(c.scale, 2), "model": _pick(c.esrgan_model, "RealESRGAN_x4plus")}
        args |= {"tile": _pick(c.esrgan_tile, 0), "face": _pick(c.esrgan_face, False)}
        args["output_format"] = _pick(c.esrgan_output_format, "png")
    elif tool == "clarity":
        args = {
            "prompt": p or "masterpiece, best quality, highres",
            "negative_prompt": _pick(
                c.negative_prompt, "(worst quality, low quality, normal quality:2)"
            ),
            "upscale_factor": _pick(c.scale, 2),
            "creativity": _pick(c.clarity_creativity, 0.35),
            "resemblance": _pick(c.clarity_resemblance, 0.6),
            "guidance_scale": _pick(c.clarity_guidance_scale, 4),
            "num_inference_steps": _pick(c.clarity_num_inference_steps, 18),
        }
    elif tool == "aura_sr":
        args = {"upscaling_factor": _pick(c.scale, 4)}
        if c.aura_sr_overlapping_tiles is not None:
            args["overlapping_tiles"] = c.aura_sr_overlapping_tiles
        if c.aura_sr_checkpoint is not None:
            args["checkpoint"] = c.aura_sr_checkpoint
    elif tool == "drct":
        args = {"upscaling_factor": _pick(c.scale, 4)}
    elif tool == "ideogram":
        args = {
            "prompt": p or "",
            "resemblance": _pick(c.ideogram_resemblance, 50),
            "detail": _pick(c.ideogram_detail, 50),
            "expand_prompt": _pick(c.ideogram_expand_prompt, False),
        }
    elif tool == "ccsr":
        args = {
            "scale": _pick(c.ccsr_scale, _pick(c.scale, 2)),
            "color_fix_type": _pick(c.ccsr_color_fix_type, "adain"),
            "steps": _pick(c.ccsr_steps, 50),
        }
        if c.ccsr_tile_diffusion is not None:
            args["tile_diffusion"] = c.ccsr_tile_diffusion
    else:  # recraft_clarity, recraft_creative
        args = {}
        if c.recraft_sync_mode is not None:
            args["sync_mode"] = c.recraft_sync_mode
    if c.seed is not None and tool in ("clarity", "ideogram", "ccsr"):
        args["seed"] = c.seed
    warnings = _foreign_fields(tool, c)
    if c.scale is not None and tool in ("ideogram", "recraft_clarity", "recraft_creative"):
        warnings.append(f"{tool} upscales by a fixed factor; scale={c.scale} ignored")
    if c.negative_prompt and tool != "clarity":
        warnings.append(f"{tool} takes no negative prompt; ignored")
    return args, warnings


def _foreign_fields(tool: str, cfg: UpscaleConfig) -> list[str]:
    prefix_of = {"recraft_sync_mode": "recraft"}
    warnings = []
    for name in type(cfg).model_fields:
        if "_" not in name or getattr(cfg, name) is None:
            continue
        owner = prefix_of.get(name) or (
            "aura_sr" if name.startswith("aura_sr_") else name.split("_")[0]
        )
        if owner in ("input", "model", "negative"):
            continue
        if not tool.startswith(owner):
            warnings.append(f"{name} is a {owner} setting and does nothing with {tool}; ignored")
    return warnings
