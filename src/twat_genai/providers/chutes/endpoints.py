"""The Chutes cords the provider calls: one row per operation (chute slug, cord path, body
builder, limits, input images, read timeout), so adding a chute is adding data.
Wire facts: PROTOCOLS.md §4, SPEC §7."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from twat_genai.core.errors import UsageError
from twat_genai.core.inputs import ImageInput
from twat_genai.core.models import (
    BackgroundRemovalRequest,
    ImageEditRequest,
    ImageGenerationRequest,
    Request,
    VideoGenerationRequest,
)
from twat_genai.providers.catalog import ModelInfo
from twat_genai.providers.chutes.limits import (
    FLF2V_ALIASES,
    HIDREAM_RESOLUTIONS,
    SKYREELS_FRAMES,
    FourNPlusOne,
)

DEFAULT_IMAGE_MODEL = "FLUX.1-dev"
#: The catalog model each cord stands for when a request names none.
DEFAULT_MODELS = {
    "image": DEFAULT_IMAGE_MODEL,
    "hidream": "hidream",
    "hidream_edit": "hidream-edit",
    "rembg": "rembg",
    "text2video": "skyreels-v2-14b-540p",
    "image2video": "skyreels-v2-14b-540p-i2v",
    "flf2video": "wan2.1-14b-flf2v",
}
#: ``model`` values (lower case) that go to the HiDream chute instead of the image router.
HIDREAM_MODELS = frozenset({"hidream", "chutes-hidream", "hidream-i1", "hidream-i1-full"})
IMAGE_READ_TIMEOUT = 300.0
#: Video cords answer only when the clip is done: minutes, sometimes tens of them.
VIDEO_READ_TIMEOUT = 1800.0


# --------------------------------------------------------------------------- body builders

Body = dict[str, Any]
Built = tuple[Body, list[str]]


def _put(body: Body, key: str, value: Any) -> None:
    """Set ``key`` only when ``value`` is given ("absent" = the chute's own default)."""
    if value is not None and value != "":
        body[key] = value


def _or(value: Any, default: Any) -> Any:
    """``value`` unless absent: 0 is a value to check, not a request for the default."""
    return default if value is None else value


def _pixels(req: ImageGenerationRequest) -> tuple[int, int] | None:
    if req.size is not None:
        return req.size.width, req.size.height
    if req.size_preset:
        from twat_genai.core.sizes import size_to_wh

        wh = size_to_wh(req.size_preset)
        return wh.width, wh.height
    return None


def nearest_hidream_resolution(width: int, height: int) -> str:
    """HiDream's resolution closest in aspect ratio (log distance), then in area."""

    def cost(res: str) -> tuple[float, float]:
        w, h = (int(v) for v in res.split("x"))
        return abs(math.log((w / h) / (width / height))), abs(math.log((w * h) / (width * height)))

    return min(HIDREAM_RESOLUTIONS, key=cost)


def _image_body(req: ImageGenerationRequest, info: ModelInfo) -> Built:
    """The diffusion router: the model picks the chute; field names follow the model's entry
    (``true_cfg_scale`` on qwen-image, ``cfg``/``steps`` on neta-lumina …)."""
    width, height = _pixels(req) or (1024, 1024)
    body: Body = {"model": req.model or DEFAULT_IMAGE_MODEL, "prompt": req.prompt}
    for neutral in ("negative_prompt",):
        _put(body, info.wire(neutral) or neutral, getattr(req, neutral))
    body.update(width=width, height=height)
    for neutral in ("num_inference_steps", "guidance_scale", "seed"):
        _put(body, info.wire(neutral) or neutral, getattr(req, neutral))
    return body, []


def _hidream_body(req: ImageGenerationRequest, info: ModelInfo | None = None) -> Built:
    warnings: list[str] = []
    pixels = _pixels(req)
    resolution = "1024x1024"
    if pixels is not None:
        resolution = nearest_hidream_resolution(*pixels)
        if resolution != f"{pixels[0]}x{pixels[1]}":
            warnings.append(
                f"HiDream has no {pixels[0]}x{pixels[1]}: used the nearest resolution {resolution}"
            )
    if req.negative_prompt:
        warnings.append("HiDream generate takes no negative prompt; ignored")
    body: Body = {
        "prompt": req.prompt,
        "resolution": resolution,
        "guidance_scale": _or(req.guidance_scale, 5.0),
        "num_inference_steps": _or(req.num_inference_steps, 50),
    }
    _put(body, "seed", req.seed)
    return body, warnings


def _hidream_edit_body(req: ImageEditRequest, info: ModelInfo | None = None) -> Built:
    if len(req.images) != 1:
        raise UsageError(f"chutes: HiDream edit takes one input image (got {len(req.images)})")
    warnings = [
        f"HiDream edit does not take {what}; ignored"
        for what, value in (("a mask", req.mask), ("strength", req.strength))
        if value is not None
    ]
    if _pixels(req) is not None:
        warnings.append("HiDream edit keeps the input image's size; the requested size is ignored")
    if req.model and req.model.lower() not in HIDREAM_MODELS | {
        "hidream-edit",
        "chutes-hidream-edit",
    }:
        warnings.append(f"Chutes edits run on HiDream edit; model {req.model!r} ignored")
    body: Body = {
        "prompt": req.prompt,
        "guidance_scale": _or(req.guidance_scale, 5.0),
        "image_guidance_scale": 4.0,
        "num_inference_steps": _or(req.num_inference_steps, 28),
    }
    _put(body, "negative_prompt", req.negative_prompt)
    _put(body, "seed", req.seed)
    return body, warnings


def _rembg_body(req: BackgroundRemovalRequest, info: ModelInfo | None = None) -> Built:
    return {}, []


def _skyreels_body(req: VideoGenerationRequest, info: ModelInfo | None = None) -> Built:
    body: Body = {"prompt": req.prompt}
    _put(body, "negative_prompt", req.negative_prompt)
    body.update(
        resolution=(req.resolution or "540P").upper(),
        fps=_or(req.fps, 24),
        num_frames=_or(req.num_frames, 97),
        guidance_scale=_or(req.guidance_scale, 6.0),
        inference_steps=_or(req.num_inference_steps, 30),
    )
    _put(body, "seed", req.seed)
    body["shift"] = 8.0
    return body, []


def _flf2v_body(req: VideoGenerationRequest, info: ModelInfo | None = None) -> Built:
    warnings: list[str] = []
    # No resolution chosen: Wan's 832*480, the twin of the other video endpoints' 540P default,
    # silently. Only a 540P the user asked for is worth a warning (Wan 2.1 has no 540P).
    asked = (req.resolution or "").strip() or "832*480"
    resolution = FLF2V_ALIASES.get(asked.upper(), asked.lower().replace("x", "*"))
    if asked.upper() == "540P":
        warnings.append(f"first+last-frame video has no 540P: used {resolution}")
    body: Body = {
        "prompt": req.prompt,
        "resolution": resolution,
        "fps": _or(req.fps, 16),
        "frames": _or(req.num_frames, 81),
        "guidance_scale": _or(req.guidance_scale, 5.0),
        "steps": _or(req.num_inference_steps, 25),
    }
    if req.negative_prompt:
        warnings.append("first+last-frame video takes no negative prompt; ignored")
    _put(body, "seed", req.seed)
    return body, warnings


def _skyreels_frame(body: Body) -> tuple[int, int]:
    return SKYREELS_FRAMES[body["resolution"]]


def _flf2v_frame(body: Body) -> tuple[int, int]:
    w, h = (int(v) for v in str(body["resolution"]).split("*"))
    return w, h


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class InputField:
    """An input image sent as raw base64 in ``name``; ``frame`` gives the exact size (from the
    body) a video frame is cover-cropped to, as JPEG."""

    name: str
    source: Callable[[Any], ImageInput | None]
    frame: Callable[[Body], tuple[int, int]] | None = None


@dataclass(frozen=True)
class Endpoint:
    """One chute cord: ``https://{slug}.chutes.ai{path}``, its body, limits and inputs."""

    slug: str
    path: str
    build: Callable[[Any, ModelInfo], Built]
    #: Rules beyond the catalog's ranges (Wan's 4n+1 frame counts).
    rules: Mapping[str, FourNPlusOne] = field(default_factory=dict)
    inputs: tuple[InputField, ...] = ()
    read_timeout: float = IMAGE_READ_TIMEOUT

    @property
    def label(self) -> str:
        return self.slug if self.path == "/generate" else f"{self.slug}{self.path}"


_SKYREELS = "kikakkz-skyreels-v2-14b-540p"
_FIRST = InputField("img_b64_first", lambda r: r.first_frame, _skyreels_frame)

ENDPOINTS: dict[str, Endpoint] = {
    "image": Endpoint("image", "/generate", _image_body),
    "hidream": Endpoint("chutes-hidream", "/generate", _hidream_body),
    "hidream_edit": Endpoint(
        "chutes-hidream-edit",
        "/generate",
        _hidream_edit_body,
        {},
        (InputField("image_b64", lambda r: r.images[0]),),
    ),
    # [uncertain] rembg's shape comes from one third-party client (PROTOCOLS.md §4.4).
    "rembg": Endpoint(
        "desudesuka-rembg",
        "/remove",
        _rembg_body,
        {},
        (InputField("image_b64", lambda r: r.image),),
    ),
    "text2video": Endpoint(_SKYREELS, "/text2video", _skyreels_body, {}, (), VIDEO_READ_TIMEOUT),
    "image2video": Endpoint(
        _SKYREELS, "/image2video", _skyreels_body, {}, (_FIRST,), VIDEO_READ_TIMEOUT
    ),
    # The frames are sent at the output resolution so first and last agree in size.
    "flf2video": Endpoint(
        "kikakkz-wan2-1-14b-flf2v",
        "/flf2video",
        _flf2v_body,
        {"frames": FourNPlusOne()},
        (
            InputField("first_image_b64", lambda r: r.first_frame, _flf2v_frame),
            InputField("last_image_b64", lambda r: r.last_frame, _flf2v_frame),
        ),
        VIDEO_READ_TIMEOUT,
    ),
}


#: The rows above by cord (``slug/path``), so a catalog entry naming one of them uses it.
BY_CORD = {f"{e.slug}{e.path}": e for e in ENDPOINTS.values()}
#: Neutral fields a generic cord sends, under the catalog entry's wire names.
_NEUTRAL = (
    "prompt",
    "negative_prompt",
    "seed",
    "guidance_scale",
    "num_inference_steps",
    "fps",
    "num_frames",
)
#: Where a generic cord's input images come from, by the catalog's input name.
_SOURCES: dict[str, Callable[[Any], ImageInput | None]] = {
    "image": lambda r: r.images[0] if getattr(r, "images", None) else getattr(r, "image", None),
    "first_frame": lambda r: r.first_frame,
    "last_frame": lambda r: r.last_frame,
}


def endpoint_for(request: Request, info: ModelInfo) -> Endpoint:
    """The cord a request goes to: the one its catalog entry names (one of the rows above, or a
    generic cord built from the entry alone), else the row its kind routes to."""
    cord = info.endpoint if info.known else None
    if not cord:
        return ENDPOINTS[operation_for(request)]
    slug, _, path = cord.partition("/")
    row = BY_CORD.get(f"{slug}/{path}")
    if row is not None:
        return row
    inputs = tuple(
        InputField(wire, _SOURCES[name], _frame if name != "image" else None)
        for name, wire in info.inputs.items()
        if name in _SOURCES
    )
    timeout = VIDEO_READ_TIMEOUT if info.kind == "video" else IMAGE_READ_TIMEOUT
    return Endpoint(slug, f"/{path}", _generic_body, {}, inputs, timeout)


def _generic_body(req: Any, info: ModelInfo) -> Built:
    """A cord's body from its catalog entry alone: each neutral field the request sets under
    the entry's wire name, the size in the entry's form; what is unset is the chute's default."""
    body: Body = {}
    for neutral in _NEUTRAL:
        wire = info.wire(neutral)
        if wire:
            _put(body, wire, getattr(req, neutral, None))
    form, param = info.size.form, info.size.param or ""
    pixels = _pixels(req) if isinstance(req, ImageGenerationRequest) else None
    if form == "wh" and pixels is not None:
        width, height = param.split(",") if "," in param else ("width", "height")
        body.update({width: pixels[0], height: pixels[1]})
    elif form == "resolution":
        asked = getattr(req, "resolution", None)
        if asked is None and pixels is not None:
            asked = f"{pixels[0]}x{pixels[1]}"
        if asked:
            body[param or "resolution"] = _one_of(info, str(asked))
        elif info.params.get(param or "resolution") is not None:
            default = info.params[param or "resolution"].default
            _put(body, param or "resolution", default)
    return body, []


def _one_of(info: ModelInfo, asked: str) -> str:
    """``asked`` as the model spells one of its resolutions (``832x480`` is ``832*480``)."""
    for value in info.size.values:
        if value.lower().replace("*", "x") == asked.lower().replace("*", "x"):
            return value
    return asked  # checked against the catalog's values with the rest of the body


def _frame(body: Body) -> tuple[int, int]:
    """The size a video frame is cropped to: the body's resolution as pixels."""
    resolution = str(body.get("resolution", ""))
    if resolution.upper() in SKYREELS_FRAMES:
        return SKYREELS_FRAMES[resolution.upper()]
    w, _, h = resolution.replace("x", "*").partition("*")
    return int(w), int(h)


def operation_for(request: Request) -> str:
    """Which row of :data:`ENDPOINTS` serves ``request`` (video routed by the frames given)."""
    if isinstance(request, BackgroundRemovalRequest):
        return "rembg"
    if isinstance(request, ImageEditRequest):
        return "hidream_edit"
    if isinstance(request, ImageGenerationRequest):
        return "hidream" if (request.model or "").lower() in HIDREAM_MODELS else "image"
    if isinstance(request, VideoGenerationRequest):
        first, last = request.first_frame is not None, request.last_frame is not None
        if last and not first:
            raise UsageError("chutes: a last frame needs a first frame too (--first_frame)")
        return "flf2video" if last else "image2video" if first else "text2video"
    raise UsageError(f"chutes cannot run a {type(request).__name__}")


def chutes_url(base_url: str, endpoint: Endpoint) -> str:
    if not base_url:
        return f"https://{endpoint.slug}.chutes.ai{endpoint.path}"
    if "{slug}" in base_url:
        return base_url.format(slug=endpoint.slug) + endpoint.path
    return f"{base_url}/{endpoint.slug}{endpoint.path}"
