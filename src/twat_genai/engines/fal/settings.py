"""The README's per-operation settings for FAL: image-to-image, upscale and outpaint configs.

``UpscaleConfig`` keeps the README's prefixed field names (``clarity_creativity``,
``esrgan_model`` …) and :func:`upscale_arguments` maps them to each tool's real parameter names.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from twat_genai.core.inputs import ImageInput
from twat_genai.engines.fal.operations import TOOL_OF, ModelTypes

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
    tool = TOOL_OF[model]
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
    elif tool == "aura_sr":  # upscale_factor since fal's April 2026 rename (upscaling_factor)
        args = {"upscale_factor": _pick(c.scale, 4)}
        if c.aura_sr_overlapping_tiles is not None:
            args["overlapping_tiles"] = c.aura_sr_overlapping_tiles
        if c.aura_sr_checkpoint is not None:
            args["checkpoint"] = c.aura_sr_checkpoint
    elif tool == "drct":
        args = {"upscale_factor": _pick(c.scale, 4)}
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
    if p and tool not in ("clarity", "ideogram"):
        warnings.append(f"{tool} takes no prompt; ignored")
    if c.seed is not None and tool not in ("clarity", "ideogram", "ccsr"):
        warnings.append(f"{tool} takes no seed; ignored")
    _check_tool_arguments(model, tool, args)
    return args, warnings


def _check_tool_arguments(model: ModelTypes, tool: str, args: dict[str, Any]) -> None:
    """Refuse, before anything is uploaded, a value the tool's catalog entry does not allow
    (``--tool aura_sr --scale 2``: AuraSR upscales 4x only)."""
    from twat_genai.providers.fal import FalProvider

    params = FalProvider.model_info(model.value).params
    for name, given in args.items():
        spec = params.get(name)
        if spec is not None:
            flag = "--scale" if name in ("scale", "upscale_factor") else f"--{tool}_{name}"
            value = given
            if isinstance(given, float) and given.is_integer() and spec.type != "number":
                value = args[name] = int(given)
            spec.check(f"{tool} ({model.value})", name, value, flag=flag)


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
