"""OpenAI Images API emulator: ``POST /v1/images/generations`` (JSON) and ``/v1/images/edits``
(multipart ``image`` or repeated ``image[]`` and optional ``mask``, or JSON ``images[]`` and
``mask`` referencing ``image_url``s, fetched as :mod:`.inputs` fetches), with real image bytes.

Mounted at ``/openai``, so clients and the official SDK use ``base_url=<root>/openai/v1``.
Wire facts follow PROTOCOLS.md §2; where that file marks a fact uncertain, a comment says so.
OpenAI's own model names answer as OpenAI's host does (:mod:`.openai_models`): 404
``model_not_found`` for shut-down models, 400 for parameters, qualities and sizes the model
refuses; a mask must be a PNG with fully transparent pixels, and exactly those pixels come back
painted :data:`EDIT_COLOUR`. Any other model id is served as an OpenAI-compatible host would
(``response_format=url`` answers ``data[].url``, downloadable from the emulator).
Scenarios (see :mod:`twat_genai.testing.scenarios`) come from the prompt:
``[emulate:blocked]`` → 400 ``moderation_blocked``,
``[emulate:error=CODE]``, ``[emulate:slow=S]``, ``[emulate:ratelimit]`` (429 once, with
``retry-after-ms: 10``), ``[emulate:broken_url]`` (with ``response_format=url``).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import math
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from . import media
from .app import EmulatorApp
from .faults import INJECTED_WAIT, drip
from .host import Host
from .http import EmulatorRequest, EmulatorResponse, json_response
from .inputs import InputError
from .openai_models import (
    BadRequest,
    NotServed,
    OpenAIModel,
    check_mask,
    check_params,
    edit_area,
    is_openai_name,
    lookup,
    parse_size,
)
from .scenarios import Scenarios, parse_scenarios, strip_scenarios

__all__ = ["OpenAIEmulator", "install", "openai_error"]

#: What the emulator assumes when no model is sent: the SDK says "specify a model
#: explicitly", and what the API picks then is [uncertain].
DEFAULT_MODEL = "gpt-image-2"
#: The colour a masked edit paints the mask's fully transparent pixels with (nothing else
#: changes), so a test can see the exact area edited.
EDIT_COLOUR = (255, 0, 255)
MAX_IMAGES_PER_EDIT = 16
#: Longest side produced for models without documented limits (keeps the emulator cheap).
MAX_OTHER_SIDE = 4096

_STATUS_TYPES: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Emulated bad request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Forbidden."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist."),
    409: ("invalid_request_error", None, "Conflict."),
    422: ("invalid_request_error", None, "Unprocessable request."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for images per minute."),
    500: ("server_error", None, "The server had an error while processing your request."),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
    504: ("server_error", None, "Gateway timeout."),
}


def openai_error(
    status: int,
    message: str,
    *,
    type_: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> EmulatorResponse:
    """An error in OpenAI's envelope ``{"error": {message, type, param, code}}``."""
    error: dict[str, Any] = {"message": message, "type": type_, "param": param, "code": code}
    error.update(extra or {})
    return json_response({"error": error}, status, headers)


_BadRequest = BadRequest


@dataclass
class _Call:
    """One parsed call: what the model would see."""

    kind: str  # "generations" | "edits"
    model: str
    prompt: str
    n: int
    size: str | None
    args: dict[str, Any]
    images: list[Image.Image] = field(default_factory=list)
    mask: Image.Image | None = None
    spec: OpenAIModel | None = None  # None: not an OpenAI name (a compatible host's model)


class OpenAIEmulator(EmulatorApp):
    """The OpenAI Images API emulator app (mount at ``/openai``; :func:`install` does)."""

    name = "openai"

    def env(self, root: str) -> dict[str, str]:
        """Point the project and the ``openai`` SDK at this app (with a dummy key).

        ``TWAT_GENAI_OPENAI_OFFICIAL=1`` declares the base URL a stand-in for OpenAI's own
        host: the client enforces OpenAI's retirements and refusals only there, and this app
        refuses what OpenAI refuses.
        """
        return {
            "OPENAI_BASE_URL": f"{root}{self.prefix}/v1",
            "OPENAI_API_KEY": "emulator-openai-key",
            "TWAT_GENAI_OPENAI_OFFICIAL": "1",
        }

    def not_found(self, req: EmulatorRequest) -> EmulatorResponse:
        return openai_error(
            404,
            f"Invalid URL ({req.method} {req.prefix}{req.path})",
            code=None,
        )

    async def handle(self, req: EmulatorRequest) -> EmulatorResponse:
        """Route ``/v1/images/generations`` and ``/v1/images/edits``."""
        path = req.path.rstrip("/")
        if path not in ("/v1/images/generations", "/v1/images/edits"):
            return self.not_found(req)
        if req.method != "POST":
            return openai_error(405, f"Method {req.method} not allowed for {path}")
        kind = path.rsplit("/", 1)[-1]
        req.endpoint = f"images/{kind}"
        scheme, _, token = req.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            # Wording [uncertain, PROTOCOLS §2.5]; the code is what clients key on.
            return openai_error(
                401,
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                code="invalid_api_key",
            )
        try:
            call = await self._parse(req, kind)
        except _BadRequest as exc:
            return openai_error(400, exc.message, param=exc.param, code=exc.code)
        except NotServed as exc:
            req.note = f"{exc.model} was shut down on {exc.retired}" if exc.retired else None
            return openai_error(404, exc.message, param="model", code="model_not_found")
        req.endpoint = f"images/{kind}:{call.model}"
        sc = parse_scenarios(call.prompt)
        early = self._scenario_response(sc, call)
        if early is not None:
            return early
        started = self.server.clock()
        await self.run_job(req, sc)
        body = await asyncio.to_thread(self._render, call, sc, req.base_url)
        self.count("results")
        request_id = "req_" + uuid.uuid4().hex
        headers = {
            "x-request-id": request_id,
            "openai-processing-ms": str(int((self.server.clock() - started) * 1000) + 1),
            "openai-version": "2020-10-01",
        }
        resp = json_response(body, 200, headers)
        url_results = call.args.get("response_format") == "url"
        return resp.streamed(drip(resp.body)) if sc.drip and not url_results else resp

    def fault_response(self, kind: str, path: str) -> EmulatorResponse:
        """Injected faults in OpenAI's envelope: 429 ``rate_limit_exceeded`` or 503, each with
        a short ``retry-after-ms`` (the SDK honours it), before any image is made."""
        wait = {"retry-after-ms": str(round(INJECTED_WAIT * 1000))}
        if kind == "429":
            return openai_error(
                429,
                "Rate limit reached for images per minute (IPM). Please try again in "
                f"{wait['retry-after-ms']}ms.",
                type_="requests",
                code="rate_limit_exceeded",
                headers={**wait, "x-ratelimit-remaining-requests": "0"},
            )
        type_, code, message = _STATUS_TYPES[503]
        return openai_error(503, message, type_=type_, code=code, headers=wait)

    # -- parsing -----------------------------------------------------------------------------

    async def _parse(self, req: EmulatorRequest, kind: str) -> _Call:
        ctype = req.content_type.lower()
        if kind == "generations" or "json" in ctype:
            try:
                args = req.json() if req.body else None
            except ValueError:
                raise _BadRequest(
                    "We could not parse the JSON body of your request. (HINT: This likely means "
                    "you aren't using your HTTP library correctly.)"
                ) from None
            if not isinstance(args, dict):
                raise _BadRequest("The request body must be a JSON object.")
            call = self._common(kind, args)
            if kind == "edits":  # JSON edits reference images by URL (GPT image models)
                images, mask = await self._fetch_refs(args)
                call.images, call.mask = await asyncio.to_thread(
                    _decode_inputs, images, mask, call.spec is not None
                )
            return call
        if not ctype.startswith("multipart/form-data"):
            raise _BadRequest(
                "Invalid Content-Type header "
                f"({req.content_type or 'none'}), expected multipart/form-data or "
                "application/json.",
                code="invalid_content_type",
            )
        form = req.form()
        args = {k: (v[0] if len(v) == 1 else v) for k, v in form.fields.items()}
        call = self._common(kind, args)
        files = [*form.files.get("image", []), *form.files.get("image[]", [])]
        mask_part = form.file("mask")
        call.images, call.mask = await asyncio.to_thread(
            _decode_inputs,
            [f.data for f in files],
            None if mask_part is None else mask_part.data,
            call.spec is not None,
        )
        return call

    async def _fetch_refs(self, args: dict[str, Any]) -> tuple[list[bytes], bytes | None]:
        """The bytes behind ``images[].image_url`` and ``mask.image_url`` (URL or data URL)."""
        refs = args.get("images")
        if not isinstance(refs, list) or not refs:
            raise _BadRequest(
                "Missing required parameter: 'images'.", "images", "missing_required_parameter"
            )
        params = [f"images[{i}]" for i in range(len(refs))]
        urls = [_ref_url(ref, param) for ref, param in zip(refs, params, strict=True)]
        if args.get("mask") is not None:
            params.append("mask")
            urls.append(_ref_url(args["mask"], "mask"))
        fetched = await self.server.inputs.fetch_many(urls)
        datas: list[bytes] = []
        for url, param in zip(urls, params, strict=True):
            got = fetched[url]
            if isinstance(got, InputError):
                # Wording [uncertain]; the 400 invalid_request_error naming the input is what
                # clients key on.
                raise _BadRequest(
                    f"Invalid '{param}.image_url': the image could not be downloaded "
                    f"({got.reason}).",
                    f"{param}.image_url",
                    "invalid_image_url",
                )
            datas.append(got)
        has_mask = args.get("mask") is not None
        return (datas[:-1], datas[-1]) if has_mask else (datas, None)

    def _common(self, kind: str, args: dict[str, Any]) -> _Call:
        prompt = args.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise _BadRequest(
                "Missing required parameter: 'prompt'.", "prompt", "missing_required_parameter"
            )
        model = str(args.get("model") or DEFAULT_MODEL)
        spec = lookup(model) if is_openai_name(model) else None
        if len(prompt) > 32000:
            raise _BadRequest(
                f"Invalid 'prompt': string too long. Expected a string with maximum length "
                f"32000, but got a string with length {len(prompt)} instead.",
                "prompt",
                "string_above_max_length",
            )
        n = _int(args.get("n", 1), "n")
        if not 1 <= n <= 10:
            raise _BadRequest(
                f"Invalid 'n': integer above maximum value. Expected a value <= 10, "
                f"but got {n} instead.",
                "n",
                "integer_above_max_value",
            )
        size = args.get("size")
        if spec is not None:
            check_params(spec, args)
        elif size is not None and size != "auto":
            parse_size(str(size))
        fmt = str(args.get("output_format") or "png").lower()
        if fmt not in ("png", "jpeg", "webp"):
            raise _BadRequest(
                f"Invalid value: '{fmt}'. Supported values are: 'png', 'jpeg', and 'webp'.",
                "output_format",
                "invalid_value",
            )
        # Transparent backgrounds: GPT image models (gpt-image-2 "in preview"), png/webp only.
        if args.get("background") == "transparent" and fmt == "jpeg":
            raise _BadRequest(
                "Transparent background requires output_format png or webp.",
                "background",
                "invalid_value",
            )
        response_format = args.get("response_format")
        if response_format not in (None, "url", "b64_json"):
            raise _BadRequest(
                f"Invalid value: '{response_format}'. Supported values are: 'url' and 'b64_json'.",
                "response_format",
                "invalid_value",
            )
        return _Call(kind, model, prompt, n, None if size is None else str(size), args, spec=spec)

    # -- scenarios ---------------------------------------------------------------------------

    def _scenario_response(self, sc: Scenarios, call: _Call) -> EmulatorResponse | None:
        if not sc:
            return None
        if sc.ratelimit and self.first_time("ratelimit", call.prompt):
            self.count("rate_limited")
            return openai_error(
                429,
                f"Rate limit reached for {call.model} on images per minute (IPM): "
                "Limit 5, Used 5, Requested 1. Please try again in 10ms.",
                type_="requests",
                code="rate_limit_exceeded",
                headers={"retry-after-ms": "10", "x-ratelimit-remaining-requests": "0"},
            )
        if sc.error:
            type_, code, message = _STATUS_TYPES.get(
                sc.error, ("invalid_request_error", None, f"Emulated error {sc.error}.")
            )
            # retry-after-ms keeps retrying clients fast; whether the real service sends it on
            # image endpoints is [uncertain] (PROTOCOLS §2.6).
            headers = {"retry-after-ms": "10"} if sc.error == 429 or sc.error >= 500 else None
            return openai_error(sc.error, message, type_=type_, code=code, headers=headers)
        if sc.blocked:
            return openai_error(
                400,
                "Your request was rejected by the safety system. If you believe this is an "
                "error, contact us at help.openai.com and include the request ID "
                f"req_{uuid.uuid4().hex}. safety_violations=[sexual].",
                type_="image_generation_user_error",
                code="moderation_blocked",
                extra={
                    "moderation_details": {"moderation_stage": "input", "categories": ["sexual"]}
                },
            )
        return None

    # -- output ------------------------------------------------------------------------------

    def _render(self, call: _Call, sc: Scenarios, base_url: str) -> dict[str, Any]:
        """The 200 body: images of the requested size and format, plus the echoed settings."""
        args = call.args
        width, height = self._out_size(call)
        fmt = str(args.get("output_format") or "png").lower()
        transparent = args.get("background") == "transparent"
        visible = strip_scenarios(call.prompt)
        data: list[dict[str, Any]] = []
        for i in range(call.n):
            key = f"{call.model}|{visible}|{width}x{height}|{i}"
            if self.server.plain_images and not call.images and not transparent:
                blob = media.render(key, width, height, fmt, plain=True)
            else:
                img = self._picture(call, key, width, height, visible)
                if transparent:
                    img = _with_alpha(img)
                blob = _encode(img, fmt, args.get("output_compression"))
            item: dict[str, Any] = {}
            if args.get("response_format") == "url":  # compatible hosts only (GPT refuses it)
                ctype = media.content_type_for(fmt)
                name = f"img-{hashlib.sha256(blob).hexdigest()[:12]}.{media.extension_for(ctype)}"
                item["url"] = self.server.files.put(
                    blob,
                    ctype,
                    name,
                    broken=sc.broken_url,
                    owner=self.name,
                    drip=sc.drip,
                    expire_after=sc.expire,
                )
            else:
                item["b64_json"] = base64.b64encode(blob).decode("ascii")
            data.append(item)
        body: dict[str, Any] = {
            "created": int(time.time()),
            "data": data,
            "background": "transparent" if transparent else "opaque",
            "output_format": fmt,
            "quality": _quality(args.get("quality")),
            "size": f"{width}x{height}",
        }
        if call.spec is not None:
            body["usage"] = _usage(visible, len(call.images), width, height, call.n)
        return body

    def _out_size(self, call: _Call) -> tuple[int, int]:
        size = call.size
        if size is None or size == "auto":
            if call.images:
                # "auto" picks the standard size closest to the first input's shape.
                w0, h0 = call.images[0].size
                target = math.log(w0 / h0)
                choices = [(1024, 1024), (1536, 1024), (1024, 1536)]
                return min(choices, key=lambda c: abs(math.log(c[0] / c[1]) - target))
            return (1024, 1024)
        return media.capped(*parse_size(size), MAX_OTHER_SIDE)

    def _picture(self, call: _Call, key: str, width: int, height: int, prompt: str) -> Image.Image:
        """A fresh captioned picture, or the inputs mixed and blended with one (edits). With
        a mask, the first image comes back unchanged except its edit area, painted
        :data:`EDIT_COLOUR` (no caption), so the area edited is exactly the one the mask
        marks. OpenAI takes no seed: captions say so."""
        caption = media.Caption(prompt)
        if not call.images:
            return media.captioned(media.picture(key, width, height), caption)
        first = media.fit(call.images[0], width, height)
        if call.mask is not None:
            area = edit_area(call.mask).resize((width, height), Image.Resampling.NEAREST)
            first.paste(EDIT_COLOUR, (0, 0, width, height), area)
            return first
        mixed = first
        for k, img in enumerate(call.images[1:], start=2):
            mixed = Image.blend(mixed, media.fit(img, width, height), 1.0 / k)
        return media.captioned(media.blend(mixed, key, 0.35), caption)


def _ref_url(ref: Any, param: str) -> str:
    """The URL of one image reference ``{"image_url": ...}`` of a JSON edit."""
    if isinstance(ref, dict) and isinstance(ref.get("image_url"), str) and ref["image_url"]:
        return str(ref["image_url"])
    if isinstance(ref, dict) and ref.get("file_id"):
        # The emulator has no Files API, so no file id can exist here.
        raise _BadRequest(
            f"Invalid '{param}.file_id': no such file.", f"{param}.file_id", "invalid_file_id"
        )
    raise _BadRequest(
        f"Invalid '{param}': expected an object with 'image_url' or 'file_id'.",
        param,
        "invalid_type",
    )


def _decode_inputs(
    blobs: list[bytes], mask_blob: bytes | None, openai_host: bool = True
) -> tuple[list[Image.Image], Image.Image | None]:
    """Decode and check the edit inputs (count, decodable, mask), in OpenAI's 400s; a
    compatible host's model (``openai_host`` false) also takes a mask without alpha."""
    if not blobs:
        raise _BadRequest(
            "Missing required parameter: 'image'.", "image", "missing_required_parameter"
        )
    if len(blobs) > MAX_IMAGES_PER_EDIT:
        raise _BadRequest(
            f"Invalid 'image': array too long. Expected an array with maximum length "
            f"{MAX_IMAGES_PER_EDIT}, but got an array with length {len(blobs)} instead.",
            "image",
            "array_above_max_length",
        )
    images: list[Image.Image] = []
    for n, data in enumerate(blobs, start=1):
        try:
            images.append(media.decode(data))
        except media.MediaError:
            raise _BadRequest(
                f"Invalid image file or mode for image {n}, please check your image file.",
                "image",
                "invalid_image_file",
            ) from None
    mask: Image.Image | None = None
    if mask_blob is not None:
        try:
            mask = media.decode(mask_blob)
        except media.MediaError:
            raise _BadRequest("Invalid mask image file.", "mask", "invalid_image_file") from None
        if mask.size != images[0].size:
            raise _BadRequest(
                "Invalid mask image: the mask and the image must have the same dimensions "
                f"(got {mask.width}x{mask.height} and {images[0].width}x{images[0].height}).",
                "mask",
                "invalid_image_dimensions",
            )
        if openai_host:
            check_mask(mask_blob, mask)
    return images, mask


def _int(value: Any, name: str) -> int:
    try:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, float) and not value.is_integer():
            raise ValueError
        return int(value)
    except (TypeError, ValueError):
        raise _BadRequest(
            f"Invalid type for '{name}': expected an integer, but got {value!r} instead.",
            name,
            "invalid_type",
        ) from None


def _quality(value: Any) -> str:
    text = str(value or "auto").lower()
    return "high" if text == "auto" else text  # the service reports what "auto" chose


def _usage(prompt: str, images: int, width: int, height: int, n: int) -> dict[str, Any]:
    """Plausible token counts (deterministic): text ~ words, images by tile count."""
    text_tokens = max(1, round(len(prompt.split()) * 1.3))
    image_tokens = 194 * images
    tiles = math.ceil(width / 512) * math.ceil(height / 512)
    output_tokens = (68 + 68 * tiles) * n
    return {
        "input_tokens": text_tokens + image_tokens,
        "input_tokens_details": {"text_tokens": text_tokens, "image_tokens": image_tokens},
        "output_tokens": output_tokens,
        "total_tokens": text_tokens + image_tokens + output_tokens,
    }


def _with_alpha(img: Image.Image) -> Image.Image:
    """``img`` with a transparent border, as a transparent-background render would have."""
    out = img.convert("RGBA")
    alpha = Image.new("L", out.size, 0)
    bw, bh = max(1, out.width // 8), max(1, out.height // 8)
    alpha.paste(255, (bw, bh, out.width - bw, out.height - bh))
    out.putalpha(alpha)
    return out


def _encode(img: Image.Image, fmt: str, compression: Any) -> bytes:
    if fmt in ("jpeg", "webp") and compression is not None:
        import io

        try:
            quality = max(1, min(100, int(compression)))
        except (TypeError, ValueError):
            quality = 85
        buf = io.BytesIO()
        out = img.convert("RGB") if fmt == "jpeg" else img
        out.save(buf, "JPEG" if fmt == "jpeg" else "WEBP", quality=quality)
        return buf.getvalue()
    return media.encode(img, fmt)


def install(server: Host) -> OpenAIEmulator:
    """Mount the OpenAI emulator at ``/openai`` (called for the server's default apps)."""
    app = OpenAIEmulator()
    server.mount("/openai", app)
    return app
