"""OpenAI-compatible image endpoints: ``/images/generations`` (JSON) and ``/images/edits``
(multipart), for OpenAI itself, CLIProxy-style proxies and the local emulator.

Wire facts follow PROTOCOLS.md §2. The provider only maps requests to wire calls and answers to
:class:`~twat_genai.core.models.ProviderResponse`; the core saves files and the transport retries.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import math
import time
from typing import Any, ClassVar

from twat_genai.core.errors import ModelError, UsageError
from twat_genai.core.inputs import ImageInput, ImageSizeWH
from twat_genai.core.models import (
    ImageEditRequest,
    ImageGenerationRequest,
    MediaFile,
    ProviderResponse,
    Request,
)
from twat_genai.core.records import shorten
from twat_genai.providers.base import CallContext, Capabilities, Provider
from twat_genai.providers.catalog import SizeSpec
from twat_genai.providers.inputs import read_input
from twat_genai.transport.http import ErrorInfo, default_error_info

__all__ = ["DEFAULT_MODEL", "OpenAIProvider", "openai_error_info", "wire_size"]

DEFAULT_MODEL = "gpt-image-2"

#: Error codes that mean "the safety system refused": a blocked outcome, not a crash.
BLOCKED_CODES = frozenset({"moderation_blocked", "content_policy_violation"})

#: Sizes the classic models accept (PROTOCOLS §2.2); gpt-image-2 takes any multiple of 16.
CLASSIC_SIZES: dict[str, tuple[tuple[int, int], ...]] = {
    "gpt-image-1": ((1024, 1024), (1536, 1024), (1024, 1536)),
    "gpt-image-1-mini": ((1024, 1024), (1536, 1024), (1024, 1536)),
    "gpt-image-1.5": ((1024, 1024), (1536, 1024), (1024, 1536)),
    "dall-e-3": ((1024, 1024), (1792, 1024), (1024, 1792)),
    "dall-e-2": ((256, 256), (512, 512), (1024, 1024)),
}

#: gpt-image-2 limits (PROTOCOLS §2.2, from SDK docstrings): sides multiples of 16, aspect
#: between 1:3 and 3:1, at most 3840x2160 worth of pixels and 3840 on the long side.
GPT2_STEP = 16
GPT2_MAX_SIDE = 3840
GPT2_MAX_PIXELS = 3840 * 2160
GPT2_MAX_ASPECT = 3.0

#: ``request.options`` keys that go on the wire as they are (besides anything else given).
OPTION_FIELDS = (
    "quality",
    "background",
    "output_format",
    "output_compression",
    "moderation",
    "style",
    "user",
)
#: Options this client cannot consume (it reads one JSON answer, not an event stream).
_UNSUPPORTED_OPTIONS = frozenset({"stream", "partial_images"})

DEFAULT_TIMEOUT = 300.0  # GPT image models can take minutes for large, high-quality images


def _family(model: str) -> str:
    """The size rules a model follows: a key of :data:`CLASSIC_SIZES`, ``gpt-image-2``, or ``""``."""
    name = model.lower().rsplit("/", 1)[-1]
    if name in CLASSIC_SIZES:
        return name
    if name.startswith("gpt-image-2"):
        return "gpt-image-2"
    for key in sorted(CLASSIC_SIZES, key=len, reverse=True):
        if name.startswith(key + "-"):  # dated snapshots, e.g. gpt-image-1-2025-04-15
            return key
    return ""


def _gpt2_size(width: int, height: int) -> tuple[int, int]:
    w, h = float(width), float(height)
    if w / h > GPT2_MAX_ASPECT:
        w = h * GPT2_MAX_ASPECT
    elif w / h < 1 / GPT2_MAX_ASPECT:
        h = w * GPT2_MAX_ASPECT
    shrink = min(1.0, GPT2_MAX_SIDE / max(w, h), math.sqrt(GPT2_MAX_PIXELS / (w * h)))
    w, h = w * shrink, h * shrink

    def snap(v: float, down: bool) -> int:
        steps = math.floor(v / GPT2_STEP) if down else round(v / GPT2_STEP)
        return max(GPT2_STEP, int(steps) * GPT2_STEP)

    out = snap(w, shrink < 1), snap(h, shrink < 1)
    if out[0] * out[1] > GPT2_MAX_PIXELS or max(out) > GPT2_MAX_SIDE:  # rounding up overshot
        out = snap(w, True), snap(h, True)
    ow, oh = out
    while ow / oh > GPT2_MAX_ASPECT:  # snapping may nudge the ratio past 3:1
        ow -= GPT2_STEP
    while oh / ow > GPT2_MAX_ASPECT:
        oh -= GPT2_STEP
    return ow, oh


def wire_size(model: str, size: ImageSizeWH) -> tuple[str, str | None]:
    """``("WxH", warning)`` for ``size`` on ``model``: exact when the model allows it, else the
    nearest size it accepts (closest aspect ratio, then closest area) and a warning."""
    w, h = size.width, size.height
    family = _family(model)
    if family == "gpt-image-2":
        used = _gpt2_size(w, h)
    elif family:
        target_ratio, target_area = math.log(w / h), math.log(w * h)
        used = min(
            CLASSIC_SIZES[family],
            key=lambda c: (
                round(abs(math.log(c[0] / c[1]) - target_ratio), 6),
                abs(math.log(c[0] * c[1]) - target_area),
            ),
        )
    else:  # other OpenAI-compatible models (proxies): send what was asked
        used = (w, h)
    text = f"{used[0]}x{used[1]}"
    if used == (w, h):
        return text, None
    return text, f"{model}: requested {w}x{h}, used {text}"


def openai_error_info(status: int, body: Any, text: str) -> ErrorInfo:
    """Read ``{"error": {message, type, param, code}}``; moderation codes are *blocked*."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return default_error_info(status, body, text)
    message = str(error.get("message") or f"HTTP {status}")
    code = error.get("code")
    kind = str(code or error.get("type") or "") or None
    param = error.get("param")
    if param and f"'{param}'" not in message and param not in message:
        message = f"{message} (param: {param})"
    details = error.get("moderation_details") or body.get("moderation_details")
    if isinstance(details, dict) and details.get("categories"):
        message = f"{message} [categories: {', '.join(map(str, details['categories']))}]"
    return ErrorInfo(" ".join(message.split()), kind, blocked=code in BLOCKED_CODES)


class OpenAIProvider(Provider):
    """OpenAI Images API (and compatible proxies): text to image and multi-image edits."""

    name = "openai"
    summary = "OpenAI-compatible images: gpt-image-2 generation and multi-image edits with masks"
    key_env = ("OPENAI_API_KEY", "CLIPROXY_API_KEY")
    base_url_env = ("OPENAI_BASE_URL", "CLIPROXY_API_ENDPOINT")
    default_base_url = "https://api.openai.com/v1"
    default_concurrency = 4
    model_patterns = (r"gpt-image", r"dall-e", r"chatgpt-image")
    compatible_hosts = True
    default_model = DEFAULT_MODEL
    capabilities: ClassVar[Capabilities] = Capabilities(
        kinds=frozenset({"image", "edit"}),
        operations=frozenset({"edit"}),
        max_images_per_call=10,
    )
    # OpenAI-compatible hosts serve their own model names: the Images API's field names.
    default_map: ClassVar[dict[str, str]] = {"prompt": "prompt", "n": "n"}
    default_size = SizeSpec(form="size_string", param="size")
    default_inputs: ClassVar[dict[str, str]] = {"image": "image", "mask": "mask"}

    default_timeout = DEFAULT_TIMEOUT

    def error_info(self, status: int, body: Any, text: str) -> ErrorInfo:
        return openai_error_info(status, body, text)

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    async def generate(self, request: Request, ctx: CallContext) -> ProviderResponse:
        if not isinstance(request, ImageGenerationRequest):
            raise UsageError(f"openai cannot run a {type(request).__name__}")
        model = request.model or DEFAULT_MODEL
        fields, warnings = self._fields(request, model)
        started = time.monotonic()
        if isinstance(request, ImageEditRequest):
            if request.operation != "edit":
                raise UsageError(f"openai has no {request.operation!r} operation (it has: edit)")
            response, sent = await self._edit(request, fields)
            path = "images/edits"
        else:
            path = "images/generations"
            sent = dict(fields)
            # A 500 or a read timeout may already have cost money: retry only what surely did not.
            response = await self.http.request("POST", path, json=fields, retry="safe")
        elapsed = time.monotonic() - started
        try:
            body = response.json()
        except ValueError as exc:
            raise ModelError(
                f"expected JSON from {path}, got {response.headers.get('content-type')}",
                provider=self.name,
                status_code=response.status_code,
            ) from exc
        if not isinstance(body, dict):
            raise ModelError(
                f"unexpected answer from {path}: {str(body)[:120]}", provider=self.name
            )
        request_id = response.headers.get("x-request-id") or _content_id(body)
        ctx.event("completed", request_id=request_id)
        usage = body.get("usage")
        return ProviderResponse(
            provider=self.name,
            model=model,
            request_id=request_id,
            files=_files(body),
            sent=shorten(sent),
            raw=shorten(body),
            usage=usage if isinstance(usage, dict) else None,
            warnings=warnings,
            timings={"request": round(elapsed, 3)},
        )

    def preview(self, request: Request) -> dict[str, Any]:
        """The fields a call would send (input images shown by their source)."""
        if not isinstance(request, ImageGenerationRequest):
            return request.model_dump(mode="json", exclude_none=True)
        model = request.model or DEFAULT_MODEL
        fields, _ = self._fields(request, model)
        path = "images/generations"
        if isinstance(request, ImageEditRequest):
            path = "images/edits"
            name = "image" if len(request.images) == 1 else "image[]"
            fields[name] = [i.describe() for i in request.images]
            if request.mask is not None:
                fields["mask"] = f"{request.mask.describe()} (white = edit, sent as alpha)"
        return {"endpoint": path, "arguments": fields}

    # -- request building --------------------------------------------------------------------

    def _fields(
        self, request: ImageGenerationRequest, model: str
    ) -> tuple[dict[str, Any], list[str]]:
        """The scalar wire fields shared by generations and edits, and mapping warnings."""
        warnings: list[str] = []
        fields: dict[str, Any] = {"model": model, "prompt": request.prompt, "n": request.n}
        if request.size is not None:
            fields["size"], warning = wire_size(model, request.size)
            if warning:
                warnings.append(warning)
        options = dict(request.options)
        for key in sorted(_UNSUPPORTED_OPTIONS & options.keys()):
            options.pop(key)
            warnings.append(f"openai: option {key!r} is not supported here; ignored")
        for key in OPTION_FIELDS:
            value = options.pop(key, None)
            if value is not None:
                fields[key] = value
        fields.update({k: v for k, v in options.items() if v is not None})
        fmt = fields.get("output_format")
        if isinstance(fmt, str):
            fmt = fmt.strip().lower().removeprefix("image/").lstrip(".")
            fields["output_format"] = "jpeg" if fmt in ("jpg", "jpe") else fmt
        return fields, warnings

    async def _edit(
        self, request: ImageEditRequest, fields: dict[str, Any]
    ) -> tuple[Any, dict[str, Any]]:
        """POST the multipart edit: ``image`` for one file, ``image[]`` per file for several."""
        from twat_genai.core.media import extension_for

        inputs = await asyncio.gather(*(read_input(i, self.fetcher) for i in request.images))
        field_name = "image" if len(inputs) == 1 else "image[]"
        files: list[tuple[str, tuple[str, bytes, str]]] = []
        for n, (inp, (data, mime, _)) in enumerate(
            zip(request.images, inputs, strict=True), start=1
        ):
            files.append((field_name, (_filename(inp, n, extension_for(mime)), data, mime)))
        sent: dict[str, Any] = dict(fields)
        sent[field_name] = [i.describe() for i in request.images]
        if request.mask is not None:
            data, _, _ = await read_input(request.mask, self.fetcher)
            first_size = inputs[0][2]
            mask, converted = await asyncio.to_thread(alpha_mask, data, first_size)
            files.append(("mask", ("mask.png", mask, "image/png")))
            sent["mask"] = request.mask.describe() + (
                " (white = edit, sent as alpha)" if converted else ""
            )
        form = {k: _form_value(v) for k, v in fields.items()}
        response = await self.http.request(
            "POST", "images/edits", data=form, files=files, retry="safe"
        )
        return response, sent


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _filename(inp: ImageInput, n: int, ext: str) -> str:
    from twat_genai.core.naming import slugify

    stem = slugify(inp.stem or "", max_len=60) or f"image-{n}"
    return f"{stem}.{ext}"


def _content_id(body: dict[str, Any]) -> str:
    """A stable id when no ``x-request-id`` came back (some proxies drop it)."""
    digest = hashlib.sha256(repr(shorten(body, max_len=64)).encode()).hexdigest()
    return f"oai-{digest[:16]}"


def _decode_b64(value: str) -> bytes:
    text = value.strip()
    if text.startswith("data:"):
        text = text.partition(",")[2]
    text = text.replace("-", "+").replace("_", "/")
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=False)


def _files(body: dict[str, Any]) -> list[MediaFile]:
    """``data[].b64_json`` (bytes in hand) or ``data[].url`` (downloaded by the core at once)."""
    from twat_genai.core.media import sniff_media_type

    items = body.get("data")
    fmt = body.get("output_format")
    declared = f"image/{fmt}" if isinstance(fmt, str) and fmt else None
    files: list[MediaFile] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        extra: dict[str, Any] = {}
        if item.get("revised_prompt"):
            extra["revised_prompt"] = item["revised_prompt"]
        b64 = item.get("b64_json")
        if isinstance(b64, str) and b64:
            try:
                data = _decode_b64(b64)
            except (binascii.Error, ValueError) as exc:
                raise ModelError(f"openai returned bad base64 image data: {exc}") from exc
            # The type comes from the bytes only: the core refuses bytes that are not an image.
            files.append(MediaFile(data=data, content_type=sniff_media_type(data), extra=extra))
        elif isinstance(item.get("url"), str) and item["url"]:
            files.append(MediaFile(url=item["url"], content_type=declared, extra=extra))
    return files


def alpha_mask(data: bytes, size: tuple[int, int]) -> tuple[bytes, bool]:
    """OpenAI's mask (a PNG the size of the first image whose transparent pixels mark the area
    to edit) from the project's one mask convention, white = edit. A mask that already carries
    transparency is taken as OpenAI's own. Returns (PNG, converted?)."""
    from PIL import Image, ImageOps

    from twat_genai.core.media import decode_image, encode_png

    img = decode_image(data, source="mask")
    try:
        if img.size != size:
            raise UsageError(
                f"the mask is {img.width}x{img.height} but the first image is "
                f"{size[0]}x{size[1]}: OpenAI needs them the same size"
            )
        has_alpha = "A" in img.getbands() or "transparency" in img.info
        alpha = img.convert("RGBA").getchannel("A") if has_alpha else None
        lowest = alpha.getextrema()[0] if alpha is not None else 255
        if alpha is not None and isinstance(lowest, int) and lowest < 255:
            keep = alpha
            converted = False
        else:  # white (edit) becomes transparent, black (keep) opaque
            keep = ImageOps.invert(img.convert("L"))
            converted = True
    finally:
        img.close()
    out = Image.new("RGBA", size, (0, 0, 0, 255))
    out.putalpha(keep)
    return encode_png(out), converted
