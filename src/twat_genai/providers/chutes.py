"""The Chutes provider: neutral requests → one synchronous POST per chute cord → saved media.

Every operation is a row of :data:`ENDPOINTS` (chute slug, cord path, body builder, limits,
input images, read timeout), so adding a chute is adding data. Hosts are
``https://{slug}.chutes.ai``; a base URL (argument or ``TWAT_GENAI_CHUTES_BASE_URL``) sends
``https://{slug}.chutes.ai/p`` to ``<base>/{slug}/p`` instead (a ``{slug}`` placeholder in the
base is filled in). Wire facts: PROTOCOLS.md §4, SPEC §7.

:class:`ChutesClient` is the public facade: one method per operation, async and sync, files and
sidecars written by the core (:func:`twat_genai.jobs.generate.generate`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from twat_genai.core.config import ImageInput, ImageSizeWH
from twat_genai.core.errors import ModelError, UsageError
from twat_genai.core.models import (
    BackgroundRemovalRequest,
    ImageEditRequest,
    ImageGenerationRequest,
    MediaFile,
    MediaKind,
    ProviderResponse,
    Request,
    VideoGenerationRequest,
)
from twat_genai.core.records import shorten
from twat_genai.providers.base import CallContext, Capabilities, Provider
from twat_genai.providers.facade import ProviderFacade, sync_twin
from twat_genai.providers.inputs import read_input
from twat_genai.transport._httpx import httpx
from twat_genai.transport.http import ErrorInfo, HttpClient, default_error_info
from twat_genai.transport.retry import RetryPolicy

if TYPE_CHECKING:
    from twat_genai.core.writer import OutputWriter

DEFAULT_IMAGE_MODEL = "FLUX.1-dev"
#: ``model`` values (lower case) that go to the HiDream chute instead of the image router.
HIDREAM_MODELS = frozenset({"hidream", "chutes-hidream", "hidream-i1", "hidream-i1-full"})
HIDREAM_RESOLUTIONS = (
    "1024x1024",
    "768x1360",
    "1360x768",
    "880x1168",
    "1168x880",
    "1248x832",
    "832x1248",
)
#: SkyReels resolutions and the frame size an image2video first frame is cover-cropped to.
SKYREELS_FRAMES: dict[str, tuple[int, int]] = {"540P": (960, 544), "720P": (1280, 720)}
FLF2V_RESOLUTIONS = ("1280*720", "720*1280", "832*480", "480*832", "1024*1024")
#: SkyReels names accepted for flf2video; Wan 2.1 has no 540P, its nearest is 480p.
FLF2V_ALIASES = {"720P": "1280*720", "540P": "832*480"}
IMAGE_READ_TIMEOUT = 300.0
#: Video cords answer only when the clip is done: minutes, sometimes tens of them.
VIDEO_READ_TIMEOUT = 1800.0
SEED_MAX = 2**32 - 1


# --------------------------------------------------------------------------- limits


@dataclass(frozen=True)
class Range:
    """A numeric field's allowed range (``hi=None``: no upper bound)."""

    lo: float
    hi: float | None = None
    integer: bool = False

    def check(self, name: str, value: Any) -> None:
        kind = "an integer" if self.integer else "a number"
        ok_type = isinstance(value, int) if self.integer else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok_type or not math.isfinite(value):
            raise UsageError(f"chutes: {name} must be {kind} (got {value!r})")
        if value < self.lo or (self.hi is not None and value > self.hi):
            bounds = f"{_num(self.lo)}–{_num(self.hi)}" if self.hi is not None else f"≥ {self.lo}"
            raise UsageError(f"chutes: {name} must be in {bounds} (got {value!r})")


@dataclass(frozen=True)
class OneOf:
    """An enum field."""

    values: tuple[str, ...]

    def check(self, name: str, value: Any) -> None:
        if value not in self.values:
            raise UsageError(
                f"chutes: {name} must be one of {', '.join(self.values)} (got {value!r})"
            )


@dataclass(frozen=True)
class FourNPlusOne:
    """Wan 2.1 frame counts: 4n+1 (its VAE compresses time by 4)."""

    lo: int = 5

    def check(self, name: str, value: Any) -> None:
        Range(self.lo, integer=True).check(name, value)
        if (value - 1) % 4:
            lower = value - (value - 1) % 4
            raise UsageError(
                f"chutes: {name} must be 4n+1, e.g. {lower} or {lower + 4} (got {value})"
            )


Check = Range | OneOf | FourNPlusOne

SEED = Range(0, SEED_MAX, integer=True)
STEPS = Range(1, 50, integer=True)
GUIDANCE = Range(1, 20)
SIDE = Range(128, 2048, integer=True)
FPS = Range(1, 60, integer=True)

DIFFUSION_LIMITS: dict[str, Check] = {
    "width": SIDE,
    "height": SIDE,
    "num_inference_steps": STEPS,
    "guidance_scale": GUIDANCE,
    "seed": SEED,
}
HIDREAM_LIMITS: dict[str, Check] = {
    "resolution": OneOf(HIDREAM_RESOLUTIONS),
    "num_inference_steps": STEPS,
    "guidance_scale": GUIDANCE,
    "seed": SEED,
}
HIDREAM_EDIT_LIMITS: dict[str, Check] = {
    "num_inference_steps": STEPS,
    "guidance_scale": GUIDANCE,
    "image_guidance_scale": GUIDANCE,
    "seed": SEED,
}
SKYREELS_LIMITS: dict[str, Check] = {
    "resolution": OneOf(tuple(SKYREELS_FRAMES)),
    "fps": FPS,
    "num_frames": Range(1, integer=True),
    "guidance_scale": GUIDANCE,
    "inference_steps": STEPS,
    "shift": Range(0),
    "seed": SEED,
}
FLF2V_LIMITS: dict[str, Check] = {
    "resolution": OneOf(FLF2V_RESOLUTIONS),
    "fps": FPS,
    "frames": FourNPlusOne(),
    "guidance_scale": GUIDANCE,
    "steps": STEPS,
    "seed": SEED,
}


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


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


def _image_body(req: ImageGenerationRequest) -> Built:
    width, height = _pixels(req) or (1024, 1024)
    body: Body = {"model": req.model or DEFAULT_IMAGE_MODEL, "prompt": req.prompt}
    _put(body, "negative_prompt", req.negative_prompt)
    body.update(width=width, height=height)
    _put(body, "num_inference_steps", req.num_inference_steps)
    _put(body, "guidance_scale", req.guidance_scale)
    _put(body, "seed", req.seed)
    return body, []


def _hidream_body(req: ImageGenerationRequest) -> Built:
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


def _hidream_edit_body(req: ImageEditRequest) -> Built:
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


def _rembg_body(req: BackgroundRemovalRequest) -> Built:
    return {}, []


def _skyreels_body(req: VideoGenerationRequest) -> Built:
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


def _flf2v_body(req: VideoGenerationRequest) -> Built:
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
    build: Callable[[Any], Built]
    limits: Mapping[str, Check] = field(default_factory=dict)
    inputs: tuple[InputField, ...] = ()
    read_timeout: float = IMAGE_READ_TIMEOUT

    @property
    def label(self) -> str:
        return self.slug if self.path == "/generate" else f"{self.slug}{self.path}"


_SKYREELS = "kikakkz-skyreels-v2-14b-540p"
_FIRST = InputField("img_b64_first", lambda r: r.first_frame, _skyreels_frame)

ENDPOINTS: dict[str, Endpoint] = {
    "image": Endpoint("image", "/generate", _image_body, DIFFUSION_LIMITS),
    "hidream": Endpoint("chutes-hidream", "/generate", _hidream_body, HIDREAM_LIMITS),
    "hidream_edit": Endpoint(
        "chutes-hidream-edit",
        "/generate",
        _hidream_edit_body,
        HIDREAM_EDIT_LIMITS,
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
    "text2video": Endpoint(
        _SKYREELS, "/text2video", _skyreels_body, SKYREELS_LIMITS, (), VIDEO_READ_TIMEOUT
    ),
    "image2video": Endpoint(
        _SKYREELS, "/image2video", _skyreels_body, SKYREELS_LIMITS, (_FIRST,), VIDEO_READ_TIMEOUT
    ),
    # The frames are sent at the output resolution so first and last agree in size.
    "flf2video": Endpoint(
        "kikakkz-wan2-1-14b-flf2v",
        "/flf2video",
        _flf2v_body,
        FLF2V_LIMITS,
        (
            InputField("first_image_b64", lambda r: r.first_frame, _flf2v_frame),
            InputField("last_image_b64", lambda r: r.last_frame, _flf2v_frame),
        ),
        VIDEO_READ_TIMEOUT,
    ),
}


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


def check_limits(endpoint: Endpoint, body: Body) -> None:
    """Refuse out-of-range values before any request (the gateway would answer a vague 400)."""
    for name, check in endpoint.limits.items():
        if body.get(name) is not None:
            check.check(name, body[name])


def chutes_url(base_url: str, endpoint: Endpoint) -> str:
    if not base_url:
        return f"https://{endpoint.slug}.chutes.ai{endpoint.path}"
    if "{slug}" in base_url:
        return base_url.format(slug=endpoint.slug) + endpoint.path
    return f"{base_url}/{endpoint.slug}{endpoint.path}"


# --------------------------------------------------------------------------- errors

_SAFETY = re.compile(r"nsfw|safety|unsafe|content polic|flagged|prohibited", re.IGNORECASE)


def chutes_error_info(status: int, body: Any, text: str) -> ErrorInfo:
    """FastAPI ``{"detail": str | {"message": ...}}`` with the fix for the known cases."""
    info = default_error_info(status, body, text)
    message = info.message
    if status == 402:
        hint = "" if "balance" in message.lower() else "; no balance left"
        return ErrorInfo(f"{message}{hint} - top up your Chutes account balance", "no_balance")
    if status == 401:
        return ErrorInfo(f"{message} - check CHUTES_API_KEY", info.error_type)
    if status == 404 and message.startswith("model not found"):
        return ErrorInfo(f"{message} - check the model name", "model_not_found")
    if status == 429:
        return ErrorInfo(f"Chutes is busy ({message}); try again later", message or "rate_limited")
    if status == 503 and "no instances" in message.lower():
        return ErrorInfo(f"{message} - the chute is cold; try again in a minute", "no_instances")
    if status == 400 and _SAFETY.search(message):
        # [uncertain] Chutes has no documented safety envelope; chutes answer with a detail.
        return ErrorInfo(message, "safety", blocked=True)
    return info


# --------------------------------------------------------------------------- responses

_JSON_MEDIA_KEYS = ("image", "b64_json", "image_b64", "video", "images", "data")


def _decode_media(value: Any) -> tuple[bytes | None, str | None]:
    """(bytes, None) for base64 or a data URI, (None, url) for a URL, (None, None) otherwise."""
    if isinstance(value, list) and value:
        value = value[0]
    if isinstance(value, dict):
        for key in ("b64_json", "image", "image_b64", "video", "url"):
            if isinstance(value.get(key), str):
                return _decode_media(value[key])
        return None, None
    if not isinstance(value, str) or not value:
        return None, None
    if value.startswith(("http://", "https://")):
        return None, value
    payload = value.partition(",")[2] if value.startswith("data:") else value
    try:
        return base64.b64decode(re.sub(r"\s+", "", payload), validate=True), None
    except (binascii.Error, ValueError):
        return None, None


def _file_for(data: bytes, declared: str, seed: Any, model: str) -> MediaFile:
    """The answer as a file, its type from the bytes alone: a body that is empty or not an
    image or video is refused, whatever its ``Content-Type`` claims."""
    from twat_genai.core.media import not_media_error, sniff_media_type

    error = not_media_error(
        data[:4096],
        len(data),
        provider="chutes",
        model=model,
        expected="an image or video",
        declared=declared,
    )
    if error is not None:
        raise error
    mime = sniff_media_type(data) or ""
    return MediaFile(
        kind=MediaKind.VIDEO if mime.startswith("video/") else MediaKind.IMAGE,
        data=data,
        content_type=mime,
        seed=seed if isinstance(seed, int) else None,
    )


def parse_outputs(
    response: httpx.Response, seed: Any, model: str = "the chute"
) -> tuple[list[MediaFile], Body]:
    """Raw media bodies are kept as they are; JSON bodies are searched for base64 or URLs."""
    declared = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if not declared.endswith("json"):
        data = response.content
        raw: Body = {"content_type": declared, "bytes": len(data)}
        _put(raw, "content_disposition", response.headers.get("content-disposition"))
        return [_file_for(data, declared, seed, model)], raw
    try:
        body = response.json()
    except ValueError as exc:
        raise ModelError("chutes: the answer claims JSON but is not") from exc
    if not isinstance(body, dict):
        raise ModelError("chutes: the JSON answer is not an object")
    for key in _JSON_MEDIA_KEYS:
        decoded, url = _decode_media(body.get(key))
        if decoded is not None:
            return [_file_for(decoded, "", seed, model)], shorten(body)
        if url is not None:
            return [MediaFile(url=url, seed=seed if isinstance(seed, int) else None)], shorten(body)
    keys = ", ".join(sorted(body)) or "none"
    raise ModelError(f"chutes: the JSON answer holds no image or video (keys: {keys})")


def _request_id(response: httpx.Response, files: list[MediaFile]) -> str:
    """The gateway's invocation id, else the file name it gave, else a content hash."""
    invocation = response.headers.get("x-chutes-invocationid")
    if invocation:
        return invocation
    match = re.search(r'filename="?([^";.]+)', response.headers.get("content-disposition", ""))
    if match:
        return match.group(1)
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.data or (f.url or "").encode())
    return digest.hexdigest()[:16]


# --------------------------------------------------------------------------- provider


class ChutesProvider(Provider):
    """Chutes: one synchronous POST per request, routed by :func:`operation_for`."""

    name = "chutes"
    summary = (
        "Chutes: FLUX/SDXL/Qwen image router, HiDream generate+edit, rembg, SkyReels/Wan video"
    )
    key_env = ("CHUTES_API_KEY", "CHUTES_API_TOKEN")
    base_url_env = ("TWAT_GENAI_CHUTES_BASE_URL",)
    default_base_url = ""
    # Chutes cold-starts chutes per request burst; a few at a time avoids 429 infra_overload.
    default_concurrency = 2
    capabilities: ClassVar[Capabilities] = Capabilities(
        kinds=frozenset({"image", "edit", "video", "background_removal"}),
        operations=frozenset({"edit"}),
        max_images_per_call=1,
        fields=frozenset(
            {"negative_prompt", "size", "seed", "guidance_scale", "num_inference_steps"}
        ),
    )

    def __init__(self, *, retry: RetryPolicy | None = None, **kwargs: Any) -> None:
        self._retry = retry
        self._timeout = kwargs.get("timeout")
        super().__init__(**kwargs)

    def make_http(self, *, transport: Any, timeout: float | None) -> HttpClient:
        # No auth header on the client: it also fetches input URLs from other hosts.
        return HttpClient(
            self.name,
            transport=transport,
            timeout=timeout,
            retry=self._retry,
            error_parser=chutes_error_info,
        )

    def url_for(self, endpoint: Endpoint) -> str:
        return chutes_url(self.base_url, endpoint)

    async def generate(self, request: Request, ctx: CallContext) -> ProviderResponse:
        endpoint = ENDPOINTS[operation_for(request)]
        body, warnings = endpoint.build(request)
        body.update(request.options)
        check_limits(endpoint, body)
        for spec in endpoint.inputs:
            image = spec.source(request)
            if image is not None:
                size = spec.frame(body) if spec.frame else None
                body[spec.name] = await self._encode(image, size)
        ctx.event("started", endpoint=endpoint.label)
        timeout = httpx.Timeout(self._timeout or endpoint.read_timeout, connect=10.0)
        # Timed here: ``response.elapsed`` is unset (and raises) for buffered responses.
        started = time.monotonic()
        response = await self.http.request(
            "POST",
            self.url_for(endpoint),
            json=body,
            headers={"Authorization": f"Bearer {self.api_key}"},
            retry="safe",  # a read timeout may mean a billed generation: never resend it
            timeout=timeout,
        )
        elapsed = time.monotonic() - started
        model = body["model"] if endpoint.slug == "image" else endpoint.label
        files, raw = parse_outputs(response, body.get("seed"), str(model))
        return ProviderResponse(
            provider=self.name,
            model=str(model),
            request_id=_request_id(response, files),
            files=files,
            sent=shorten(body),
            raw=raw,
            warnings=warnings,
            timings={"inference": round(elapsed, 3)},
        )

    async def _encode(self, image: ImageInput, frame: tuple[int, int] | None) -> str:
        """Raw base64 of an input; video frames cover-cropped to ``frame`` as JPEG first."""
        from twat_genai.core.media import cover_crop

        data, _, _ = await read_input(image, self.fetcher)
        if frame is not None:
            data = await asyncio.to_thread(cover_crop, data, frame[0], frame[1], "jpeg")
        return base64.b64encode(data).decode("ascii")


# --------------------------------------------------------------------------- public facade


def _image(value: Any) -> ImageInput:
    try:
        return ImageInput.from_any(value)
    except ValueError as exc:
        raise UsageError(f"chutes: bad input image: {exc}") from None


class ChutesClient(ProviderFacade):
    """Chutes image, edit, background removal and video: each call saves files + sidecars.

    The key comes from ``api_key``, ``CHUTES_API_KEY``/``CHUTES_API_TOKEN`` or ``./.env``; a
    missing key fails here, before anything is written. Sync methods run on a fresh connection
    pool each (an httpx pool belongs to one event loop).
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        output_dir: str | Path = "generated_images",
        transport: Any = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> None:
        from twat_genai.core.settings import load_dotenv_once

        load_dotenv_once()
        self.output_dir = Path(output_dir)
        self._settings: dict[str, Any] = {
            "api_key": api_key,
            "base_url": base_url,
            "transport": transport,
            "retry": retry,
        }
        self.provider = ChutesProvider(**self._settings)

    def __repr__(self) -> str:
        return f"ChutesClient(base_url={self.provider.base_url!r}, output_dir={str(self.output_dir)!r})"

    # -- running any request

    def _writer(self, request: Request) -> OutputWriter:
        from twat_genai.core.writer import OutputWriter

        images = getattr(request, "images", None) or [getattr(request, "image", None)]
        stem = images[0].stem if isinstance(images[0], ImageInput) else None
        return OutputWriter(self.output_dir, prefix=stem)

    async def arun(self, request: Request) -> ProviderResponse:
        """Run any neutral request on Chutes and save its outputs (the core's ``generate``)."""
        from twat_genai.jobs.generate import generate

        return await generate(self.provider, request, self._writer(request))

    def run(self, request: Request) -> ProviderResponse:
        """Sync :meth:`arun`."""
        return self._run_sync(lambda client: client.arun(request))

    def _sync_client(self) -> ChutesClient:
        # A fresh client (and connection pool) per sync call, closed after it.
        return ChutesClient(output_dir=self.output_dir, **self._settings)

    # -- requests

    @staticmethod
    def image_request(
        prompt: str,
        *,
        model: str = DEFAULT_IMAGE_MODEL,
        width: int = 1024,
        height: int = 1024,
        seed: int | None = None,
        guidance_scale: float | None = None,
        steps: int | None = None,
        negative_prompt: str | None = None,
    ) -> ImageGenerationRequest:
        """Text to image; ``model="hidream"`` goes to HiDream (size mapped to its resolutions)."""
        if width <= 0 or height <= 0:
            raise UsageError(f"chutes: width and height must be positive (got {width}x{height})")
        return ImageGenerationRequest(
            prompt=prompt,
            model=model,
            size=ImageSizeWH(width=width, height=height),
            seed=seed,
            guidance_scale=guidance_scale,
            num_inference_steps=steps,
            negative_prompt=negative_prompt,
        )

    @staticmethod
    def edit_request(
        prompt: str,
        image: Any,
        *,
        seed: int | None = None,
        guidance_scale: float | None = None,
        image_guidance_scale: float | None = None,
        steps: int | None = None,
        negative_prompt: str | None = None,
    ) -> ImageEditRequest:
        """HiDream edit of one image (path, URL, data URI, bytes or PIL image)."""
        options = (
            {} if image_guidance_scale is None else {"image_guidance_scale": image_guidance_scale}
        )
        return ImageEditRequest(
            prompt=prompt,
            images=[_image(image)],
            seed=seed,
            guidance_scale=guidance_scale,
            num_inference_steps=steps,
            negative_prompt=negative_prompt,
            options=options,
        )

    @staticmethod
    def video_request(
        prompt: str,
        *,
        first_frame: Any = None,
        last_frame: Any = None,
        resolution: str | None = None,
        fps: int | None = None,
        num_frames: int | None = None,
        seed: int | None = None,
        guidance_scale: float | None = None,
        steps: int | None = None,
        negative_prompt: str | None = None,
    ) -> VideoGenerationRequest:
        """Text, first-frame or first+last-frame video (routed by the frames given).

        ``resolution``: ``540P`` (the default when None) or ``720P``; first+last-frame video
        takes Wan sizes (``1280*720``, ``832*480`` …) and maps the tiers to them, warning
        only when 540P was asked for explicitly (it has no twin there)."""
        return VideoGenerationRequest(
            prompt=prompt,
            first_frame=None if first_frame is None else _image(first_frame),
            last_frame=None if last_frame is None else _image(last_frame),
            resolution=resolution,
            fps=fps,
            num_frames=num_frames,
            seed=seed,
            guidance_scale=guidance_scale,
            num_inference_steps=steps,
            negative_prompt=negative_prompt,
        )

    # -- async

    async def agenerate_image(
        self,
        prompt: str,
        *,
        model: str = DEFAULT_IMAGE_MODEL,
        width: int = 1024,
        height: int = 1024,
        seed: int | None = None,
        guidance_scale: float | None = None,
        steps: int | None = None,
        negative_prompt: str | None = None,
    ) -> ProviderResponse:
        """Text to image (see :meth:`image_request`)."""
        return await self.arun(
            self.image_request(
                prompt,
                model=model,
                width=width,
                height=height,
                seed=seed,
                guidance_scale=guidance_scale,
                steps=steps,
                negative_prompt=negative_prompt,
            )
        )

    async def aedit_image(
        self,
        prompt: str,
        image: Any,
        *,
        seed: int | None = None,
        guidance_scale: float | None = None,
        image_guidance_scale: float | None = None,
        steps: int | None = None,
        negative_prompt: str | None = None,
    ) -> ProviderResponse:
        """HiDream edit (see :meth:`edit_request`)."""
        return await self.arun(
            self.edit_request(
                prompt,
                image,
                seed=seed,
                guidance_scale=guidance_scale,
                image_guidance_scale=image_guidance_scale,
                steps=steps,
                negative_prompt=negative_prompt,
            )
        )

    async def aremove_background(self, image: Any) -> ProviderResponse:
        """Cut the subject out: an RGBA PNG."""
        return await self.arun(BackgroundRemovalRequest(image=_image(image)))

    async def agenerate_video(
        self,
        prompt: str,
        *,
        first_frame: Any = None,
        last_frame: Any = None,
        resolution: str | None = None,
        fps: int | None = None,
        num_frames: int | None = None,
        seed: int | None = None,
        guidance_scale: float | None = None,
        steps: int | None = None,
        negative_prompt: str | None = None,
    ) -> ProviderResponse:
        """Video (see :meth:`video_request`); waits as long as the chute renders."""
        return await self.arun(
            self.video_request(
                prompt,
                first_frame=first_frame,
                last_frame=last_frame,
                resolution=resolution,
                fps=fps,
                num_frames=num_frames,
                seed=seed,
                guidance_scale=guidance_scale,
                steps=steps,
                negative_prompt=negative_prompt,
            )
        )

    # -- sync twins

    generate_image = sync_twin(agenerate_image)
    edit_image = sync_twin(aedit_image)
    remove_background = sync_twin(aremove_background)
    generate_video = sync_twin(agenerate_video)


__all__ = [
    "ENDPOINTS",
    "ChutesClient",
    "ChutesProvider",
    "Endpoint",
    "chutes_error_info",
    "nearest_hidream_resolution",
    "operation_for",
]
