"""The input schemas of the chutes the emulator serves: its own table, written from the
published cord ``input_schema`` copies (github:MagicGoddess/chutes-img-ui
``reference/img-models.md`` and ``reference/vid-models.md`` at 097d6f5), chutesai/chutes
``examples/wan21.py`` and the gateway code (chutesai/chutes-api ``api/invocation/router.py``,
2025-10), checked 2026-11-30; never from the project's catalog.

Two layers refuse, as on Chutes. The image router (``image.chutes.ai``) forbids fields its
model does not take: 400 ``bad request, naughty naughty``. A chute validates its input with
pydantic: a missing field, a wrong type or an out-of-range value is 400 ``Invalid input
parameters``; a field it does not know is ignored (pydantic's default, [uncertain]) and listed
as ``ignored`` in the request log. Values are read as pydantic reads them in lax mode (``"8"``
and ``8.0`` are the integer 8).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Validator = Callable[[Any], bool]

NAUGHTY = "bad request, naughty naughty"
INVALID = "Invalid input parameters"


def _number(v: Any) -> float | None:
    """``v`` as pydantic's lax mode reads a number (``None`` when it is not one)."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v.strip())
        except ValueError:
            return None
    return None


def integer(lo: int | None = None, hi: int | None = None) -> Validator:
    """An integer (or an integral float or numeric string) in ``lo..hi``."""

    def check(v: Any) -> bool:
        n = _number(v)
        if n is None or not math.isfinite(n) or not n.is_integer():
            return False
        return (lo is None or n >= lo) and (hi is None or n <= hi)

    return check


def number(lo: float | None = None, hi: float | None = None) -> Validator:
    """A finite number in ``lo..hi``."""

    def check(v: Any) -> bool:
        n = _number(v)
        return (
            n is not None
            and math.isfinite(n)
            and (lo is None or n >= lo)
            and (hi is None or n <= hi)
        )

    return check


def text(v: Any) -> bool:
    """A string."""
    return isinstance(v, str)


def boolean(v: Any) -> bool:
    """A boolean (pydantic also takes 0/1 and the usual words)."""
    return isinstance(v, bool) or v in (0, 1, "true", "false", "True", "False")


def one_of(*values: str) -> Validator:
    """One of ``values``."""
    return lambda v: v in values


def optional(check: Validator) -> Validator:
    """``check`` or ``null``."""
    return lambda v: v is None or check(v)


@dataclass(frozen=True)
class Schema:
    """One chute input: its fields and the required ones."""

    fields: dict[str, Validator]
    required: tuple[str, ...] = ("prompt",)
    extra_forbidden: bool = False  # the router's gateway check (``extra="forbid"``)

    def problems(self, args: dict[str, Any]) -> tuple[list[str], list[str]]:
        """``(unknown fields, invalid or missing fields)``."""
        unknown = [k for k in args if k not in self.fields]
        bad = [k for k, check in self.fields.items() if k in args and not check(args[k])]
        bad += [k for k in self.required if k not in args]
        return unknown, bad


SEED_32 = optional(integer(0, 2**32 - 1))
SEED_1E8 = optional(integer(0, 100_000_000))
SIDE = integer(128, 2048)


def _router(**fields: Validator) -> Schema:
    return Schema({"prompt": text, **fields}, extra_forbidden=True)


#: JuggernautXL and iLustMix: the standard diffusion template.
_STANDARD = _router(
    negative_prompt=text,
    width=SIDE,
    height=SIDE,
    num_inference_steps=integer(1, 50),
    guidance_scale=number(1, 20),
    seed=SEED_32,
)

#: The image router's models (body ``model``), each with its published schema.
ROUTER_MODELS: dict[str, Schema] = {
    # FLUX.1-dev: steps 1-30 (default 10), no negative_prompt in its schema.
    "FLUX.1-dev": _router(
        width=SIDE,
        height=SIDE,
        num_inference_steps=integer(1, 30),
        guidance_scale=number(1, 20),
        seed=SEED_32,
    ),
    "JuggernautXL": _STANDARD,
    "iLustMix": _STANDARD,
    # qwen-image: true_cfg_scale, not guidance_scale; steps 5-100 (the gateway caps at 50).
    "qwen-image": _router(
        negative_prompt=text,
        width=SIDE,
        height=SIDE,
        true_cfg_scale=number(0, 10),
        num_inference_steps=integer(5, 100),
        seed=SEED_32,
    ),
    # neta-lumina and chroma: cfg/steps.
    "neta-lumina": _router(
        negative_prompt=optional(text),
        width=optional(integer(768, 2048)),
        height=optional(integer(768, 2048)),
        cfg=optional(number(4, 5.5)),
        steps=optional(integer(20, 50)),
        sampler=optional(one_of("res_multistep", "euler_ancestral")),
        scheduler=optional(text),
        seed=optional(integer(0)),
    ),
    "chroma": _router(
        width=optional(integer(200, 2048)),
        height=optional(integer(200, 2048)),
        cfg=optional(number(1, 7.5)),
        steps=optional(integer(5, 50)),
        seed=optional(integer(0)),
    ),
}
#: The gateway caps ``num_inference_steps`` at this before the chute validates it. Its code
#: caps at 30 for a chute named "FLUX-1.dev", which is not the router's "FLUX.1-dev": so
#: 31-50 reach FLUX's own 1-30 check and fail there [uncertain].
GATEWAY_STEP_CAP = 50

HIDREAM_RESOLUTIONS = (
    "1024x1024",
    "768x1360",
    "1360x768",
    "880x1168",
    "1168x880",
    "1248x832",
    "832x1248",
)
# kikakkz-hidream-i1-full: the published schema.
HIDREAM_FULL = Schema(
    {
        "prompt": text,
        "width": integer(256, 2560),
        "height": integer(256, 2560),
        "guidance_scale": optional(number(0, 10)),
        "num_inference_steps": optional(integer(5, 75)),
        "seed": SEED_1E8,
    }
)
# chutes-hidream: the resolution enum is attested by the project's earlier client only, and
# the published HiDream chute takes width/height: both are accepted [uncertain].
HIDREAM = Schema(
    {"prompt": text, "resolution": one_of(*HIDREAM_RESOLUTIONS), **HIDREAM_FULL.fields}
)
# chutes-hidream-edit: a third-party UI's config [uncertain].
HIDREAM_EDIT = Schema(
    {
        "prompt": text,
        "image_b64": text,
        "negative_prompt": optional(text),
        "width": SIDE,
        "height": SIDE,
        "guidance_scale": number(0, 10),
        "image_guidance_scale": number(0, 10),
        "num_inference_steps": integer(5, 75),
        "seed": SEED_1E8,
    },
    required=("prompt", "image_b64"),
)
# chutes-qwen-image-edit: the published schema.
QWEN_EDIT = Schema(
    {
        "prompt": text,
        "image_b64": text,
        "negative_prompt": text,
        "width": SIDE,
        "height": SIDE,
        "true_cfg_scale": number(0, 10),
        "num_inference_steps": integer(5, 100),
        "seed": SEED_32,
    },
    required=("prompt", "image_b64"),
)
# desudesuka-rembg: one third-party client [uncertain].
REMBG = Schema({"image_b64": text}, required=("image_b64",))

SKYREELS_RESOLUTIONS = {"540P": (960, 544), "720P": (1280, 720)}
_SKYREELS_FIELDS: dict[str, Validator] = {
    "prompt": text,
    "negative_prompt": optional(text),
    "resolution": one_of(*SKYREELS_RESOLUTIONS),
    "fps": integer(16, 60),
    "num_frames": integer(97, 10000),
    "base_num_frames": integer(97, 10000),
    "guidance_scale": number(1, 7.5),
    "inference_steps": integer(10, 50),
    "shift": number(1, 10),
    "ar_step": integer(0, 5),
    "overlap_history": optional(integer(None, 10000)),
    "causal_block_size": integer(0, 50),
    "addnoise_condition": integer(0, 50),
    "img_b64_first": optional(text),
    "img_b64_last": optional(text),
    "seed": optional(integer()),
}
# kikakkz-skyreels-v2-14b-540p: one published schema for /text2video and /image2video.
SKYREELS_T2V = Schema(_SKYREELS_FIELDS)
SKYREELS_I2V = Schema(_SKYREELS_FIELDS, required=("prompt", "img_b64_first"))

WAN_RESOLUTIONS = ("1280*720", "720*1280", "832*480", "480*832", "1024*1024")


def _frames(v: Any) -> bool:
    return integer(81, 241)(v) and (int(float(v)) - 1) % 4 == 0


# kikakkz-wan2-1-14b-flf2v: its own schema was not found; the sibling wan2.1-14b-720p
# image2video schema's ranges (steps 20-50, frames 81-241 as 4n+1) [uncertain].
FLF2V = Schema(
    {
        "prompt": text,
        "negative_prompt": optional(text),
        "first_image_b64": text,
        "last_image_b64": text,
        "resolution": one_of(*WAN_RESOLUTIONS),
        "frames": _frames,
        "fps": integer(16, 60),
        "steps": integer(20, 50),
        "guidance_scale": number(1, 7.5),
        "sample_shift": optional(number(1, 7)),
        "single_frame": boolean,
        "seed": optional(integer()),
    },
    required=("prompt", "first_image_b64", "last_image_b64"),
)
# chutes-wan2-1-14b /text2video (examples/wan21.py): steps 10-30, frames 81-241.
WAN_T2V = Schema(
    {
        "prompt": text,
        "negative_prompt": optional(text),
        "resolution": one_of(*WAN_RESOLUTIONS),
        "frames": integer(81, 241),
        "fps": integer(16, 60),
        "steps": integer(10, 30),
        "guidance_scale": number(1, 7.5),
        "sample_shift": optional(number(1, 7)),
        "single_frame": boolean,
        "seed": optional(integer()),
    }
)


@dataclass
class Checked:
    """What a chute reads of a valid body, and what it ignored."""

    args: dict[str, Any]
    ignored: list[str] = field(default_factory=list)


def as_int(v: Any, default: int) -> int:
    """An integer field's value (already validated), or ``default`` when absent."""
    return default if v is None else int(float(v))
