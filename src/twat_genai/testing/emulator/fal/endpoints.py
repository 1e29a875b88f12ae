"""The fal endpoints this emulator knows: ids, required arguments, accepted parameters.

Written from fal's model pages (``https://fal.ai/models/<id>/llms.txt`` and the API reference,
read 2026-11) and fal's generated client types, not from the project's own catalog: the
emulator is an independent oracle. On a known endpoint a missing required argument is fal's
422 ``missing``, a wrong type or an out-of-range value is a 422 too, and an unknown argument
is ignored, as fal's models ignore extra fields, and listed as ``ignored`` in the request log
so tests can prove the client sends nothing the model drops. Endpoint ids not listed here are
served generically (see :mod:`.models`). Ranges marked ``# uncertain`` are wide on purpose:
an emulator stricter than fal would fail valid clients.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .args import IMAGE_SIZE_PRESETS, is_int
from .errors import FalModelError, detail_item


@dataclass(frozen=True)
class Param:
    """One accepted argument: its JSON type and, for numbers and enums, what is allowed."""

    kind: str  # str | bool | int | float | enum | size | url | pair | list
    lo: float | None = None
    hi: float | None = None
    choices: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Endpoint:
    """One fal endpoint: what the model is (``kind``), what it needs and what it reads."""

    id: str
    kind: str  # text | image | canny | depth | inpaint | upscale | expand | genfill
    required: tuple[str, ...]
    params: Mapping[str, Param]
    retired_for: str | None = None  # the id fal serves instead, for a retired id
    factor_arg: str | None = None  # upscalers: the argument naming the factor
    default_factor: float = 2.0
    output_keys: tuple[str, ...] = field(default=())  # besides the image(s)
    many: bool = False  # ``images`` list instead of ``image``


def _p(kind: str, lo: float | None = None, hi: float | None = None) -> Param:
    return Param(kind, lo, hi)


def _enum(*choices: Any) -> Param:
    return Param("enum", choices=choices)


_STR, _BOOL, _URL = _p("str"), _p("bool"), _p("url")
_SEED = _p("int")  # fal documents no range for these seeds
_FLUX: dict[str, Param] = {
    "prompt": _STR,
    "image_size": _p("size"),
    "num_inference_steps": _p("int", 1, 50),
    "guidance_scale": _p("float", 0, 35),
    "num_images": _p("int", 1, 4),
    "seed": _SEED,
    "loras": _p("list"),
    "enable_safety_checker": _BOOL,
    "output_format": _enum("jpeg", "png"),
    "sync_mode": _BOOL,
}
_RECRAFT: dict[str, Param] = {"image_url": _URL, "sync_mode": _BOOL, "enable_safety_checker": _BOOL}
_ESRGAN_MODELS = (
    "RealESRGAN_x4plus",
    "RealESRGAN_x2plus",
    "RealESRGAN_x4plus_anime_6B",
    "RealESRGAN_x4_v3",
    "RealESRGAN_x4_wdn_v3",
    "RealESRGAN_x4_anime_v3",
)


def _endpoints() -> dict[str, Endpoint]:
    flux_image = {**_FLUX, "image_url": _URL}
    table = [
        Endpoint(
            "fal-ai/flux-lora",
            "text",
            ("prompt",),
            {**_FLUX, "acceleration": _enum("none", "regular")},
        ),
        Endpoint(
            "fal-ai/flux-lora/image-to-image",
            "image",
            ("prompt", "image_url"),
            {**flux_image, "strength": _p("float", 0.01, 1)},
        ),
        Endpoint("fal-ai/flux-lora-canny", "canny", ("prompt", "image_url"), flux_image),
        Endpoint("fal-ai/flux-lora-depth", "depth", ("prompt", "image_url"), flux_image),
        Endpoint(
            "fal-ai/flux-lora/inpainting",
            "inpaint",
            ("prompt", "image_url", "mask_url"),
            {**flux_image, "mask_url": _URL, "strength": _p("float", 0.01, 1)},
        ),
        Endpoint(
            "fal-ai/esrgan",
            "upscale",
            ("image_url",),
            {
                "image_url": _URL,
                "scale": _p("float", 1, 8),
                "tile": _p("int", 0),
                "face": _BOOL,
                "model": _enum(*_ESRGAN_MODELS),
                "output_format": _enum("png", "jpeg"),
            },
            factor_arg="scale",
        ),
        Endpoint(
            "fal-ai/clarity-upscaler",
            "upscale",
            ("image_url",),
            {
                "image_url": _URL,
                "prompt": _STR,
                "negative_prompt": _STR,
                "upscale_factor": _p("float", 1, 4),
                "creativity": _p("float", 0, 1),
                "resemblance": _p("float", 0, 1),
                "guidance_scale": _p("float", 0, 20),
                "num_inference_steps": _p("int", 4, 50),
                "seed": _SEED,
                "enable_safety_checker": _BOOL,
            },
            factor_arg="upscale_factor",
            output_keys=("seed", "timings"),
        ),
        # AuraSR is a 4x model; ``upscaling_factor`` (an older spelling) is ignored.
        Endpoint(
            "fal-ai/aura-sr",
            "upscale",
            ("image_url",),
            {
                "image_url": _URL,
                "upscale_factor": _enum(4),
                "overlapping_tiles": _BOOL,
                "checkpoint": _enum("v1", "v2"),
            },
            factor_arg="upscale_factor",
            default_factor=4,
            output_keys=("timings",),
        ),
        Endpoint(
            "fal-ai/drct-super-resolution",
            "upscale",
            ("image_url",),
            {"image_url": _URL, "upscale_factor": _enum(4)},
            factor_arg="upscale_factor",
            default_factor=4,
        ),
        Endpoint(
            "fal-ai/ccsr",
            "upscale",
            ("image_url",),
            {
                "image_url": _URL,
                "scale": _p("float", 1, 8),  # uncertain range
                "tile_diffusion": _enum("none", "mix", "gaussian"),
                "tile_diffusion_size": _p("int", 1),
                "tile_diffusion_stride": _p("int", 1),
                "tile_vae": _BOOL,
                "tile_vae_decoder_size": _p("int", 1),
                "tile_vae_encoder_size": _p("int", 1),
                "t_max": _p("float", 0, 1),
                "t_min": _p("float", 0, 1),
                "color_fix_type": _enum("none", "wavelet", "adain"),
                "steps": _p("int", 1, 500),  # uncertain range
                "seed": _SEED,
            },
            factor_arg="scale",
            output_keys=("seed",),
        ),
        Endpoint(
            "fal-ai/ideogram/upscale",
            "upscale",
            ("image_url",),
            {
                "image_url": _URL,
                "prompt": _STR,
                "resemblance": _p("int", 1, 100),
                "detail": _p("int", 1, 100),
                "expand_prompt": _BOOL,
                "seed": _SEED,
                "sync_mode": _BOOL,
            },
            output_keys=("seed",),
            many=True,
        ),
        Endpoint("fal-ai/recraft/upscale/crisp", "upscale", ("image_url",), _RECRAFT),
        Endpoint("fal-ai/recraft/upscale/creative", "upscale", ("image_url",), _RECRAFT),
        Endpoint(
            "fal-ai/recraft-clarity-upscale",
            "upscale",
            ("image_url",),
            _RECRAFT,
            retired_for="fal-ai/recraft/upscale/crisp",
        ),
        Endpoint(
            "fal-ai/recraft-creative-upscale",
            "upscale",
            ("image_url",),
            _RECRAFT,
            retired_for="fal-ai/recraft/upscale/creative",
        ),
        # Bria expand takes no ``num_images``: it answers one image.
        Endpoint(
            "fal-ai/bria/expand",
            "expand",
            ("image_url", "canvas_size"),
            {
                "image_url": _URL,
                "canvas_size": _p("pair"),
                "aspect_ratio": _enum(
                    "1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9"
                ),
                "original_image_size": _p("pair"),
                "original_image_location": _p("pair"),
                "prompt": _STR,
                "negative_prompt": _STR,
                "seed": _p("int", 0, 2147483647),
                "sync_mode": _BOOL,
            },
        ),
        Endpoint(
            "fal-ai/bria/genfill",
            "genfill",
            ("image_url", "mask_url", "prompt"),
            {
                "image_url": _URL,
                "mask_url": _URL,
                "prompt": _STR,
                "negative_prompt": _STR,
                "num_images": _p("int", 1, 4),
                "seed": _p("int", 0, 2147483647),
                "sync_mode": _BOOL,
            },
        ),
    ]
    return {e.id: e for e in table}


#: Every endpoint id this emulator knows, by id.
ENDPOINTS: dict[str, Endpoint] = _endpoints()


def ignored(endpoint: str, args: Mapping[str, Any]) -> list[str] | None:
    """Arguments a known endpoint ignores (``None`` for an endpoint not in the table)."""
    spec = ENDPOINTS.get(endpoint)
    if spec is None:
        return None
    return [k for k in args if k not in spec.params]


def _problem(name: str, value: Any, p: Param) -> tuple[str, str, dict[str, Any] | None] | None:
    """``(type, msg, ctx)`` of pydantic's complaint about ``value``, or ``None``."""
    if value is None:
        return None  # optional fields accept null
    kind = p.kind
    if kind in {"str", "url"}:
        if not isinstance(value, str):
            return "string_type", "Input should be a valid string", None
        return None
    if kind == "bool":
        return (
            None
            if isinstance(value, bool)
            else ("bool_type", "Input should be a valid boolean", None)
        )
    if kind == "list":
        return (
            None if isinstance(value, list) else ("list_type", "Input should be a valid list", None)
        )
    if kind == "pair":
        if isinstance(value, list) and len(value) == 2 and all(is_int(v) for v in value):
            return None
        return "list_type", "Input should be a list of two integers", None
    if kind == "size":
        if isinstance(value, str) and value in IMAGE_SIZE_PRESETS:
            return None
        if isinstance(value, dict) and is_int(value.get("width")) and is_int(value.get("height")):
            return None
        allowed = ", ".join(f"'{k}'" for k in IMAGE_SIZE_PRESETS)
        return "literal_error", f"Input should be {allowed} or {{width, height}}", None
    if kind == "enum":
        if value in p.choices and not isinstance(value, bool):
            return None
        listed = " or ".join(repr(c) for c in p.choices)
        return "literal_error", f"Input should be {listed}", {"expected": listed}
    number = is_int(value) or (kind == "float" and isinstance(value, float))
    if kind == "int" and isinstance(value, float) and value.is_integer():
        number = True
    if not number:
        what = "an integer" if kind == "int" else "a number"
        return f"{kind}_type", f"Input should be a valid {what}", None
    if p.lo is not None and value < p.lo:
        return (
            "greater_than_equal",
            f"Input should be greater than or equal to {p.lo:g}",
            {"ge": p.lo},
        )
    if p.hi is not None and value > p.hi:
        return "less_than_equal", f"Input should be less than or equal to {p.hi:g}", {"le": p.hi}
    return None


def validate(spec: Endpoint, args: Mapping[str, Any]) -> None:
    """Raise fal's 422 (every problem found, as pydantic lists them) for a known endpoint."""
    items = [
        detail_item(name, "Field required", "missing", dict(args))
        for name in spec.required
        if args.get(name) in (None, "")
    ]
    for name, value in args.items():
        p = spec.params.get(name)
        problem = _problem(name, value, p) if p is not None else None
        if problem is not None:
            type_, msg, ctx = problem
            items.append(detail_item(name, msg, type_, value, ctx))
    if items:
        raise FalModelError(422, {"detail": items})
