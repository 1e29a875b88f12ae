"""Gemini API emulator for the image models ("Nano Banana"):
``POST /{v1|v1beta}/models/{model}:generateContent``, with real PNG outputs.

Mounted at ``/gemini``, so the ``google-genai`` SDK uses ``HttpOptions(base_url=<root>/gemini)``
(it appends the API version: ``v1`` by default in 3.x, ``v1beta`` in 2.x). Wire facts follow
PROTOCOLS.md §3: the key only in ``x-goog-api-key`` (a ``?key=`` query is refused, so tests prove
clients never put it in the URL), camelCase and snake_case fields, standard or URL-safe base64 in,
standard base64 out. It serves the image models of its own table (:mod:`.gemini_models`):
a shut-down or unknown model is 404 ``NOT_FOUND``, an unknown ``generationConfig`` or
``imageConfig`` field, or an aspect ratio or image size the model does not take, is 400
``INVALID_ARGUMENT``, as on the real API. Scenarios from the prompt text (:mod:`twat_genai.testing.scenarios`):
``[emulate:blocked]`` (200, ``finishReason: IMAGE_SAFETY``, text-only refusal),
``[emulate:prompt_blocked]`` (200, no candidates, ``promptFeedback.blockReason``),
``[emulate:thought]`` (a ``thought: true`` draft image before the real one),
``[emulate:error=CODE]`` (Google error envelope), ``[emulate:ratelimit]`` (429 once, with
``RetryInfo`` ``0s``) and ``[emulate:slow=S]``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from . import media
from .app import EmulatorApp
from .faults import INJECTED_WAIT, drip
from .gemini_models import (
    GENERATION_CONFIG_FIELDS,
    IMAGE_CONFIG_FIELDS,
    MODELS,
    RATIO_SIZES,
    GeminiModel,
    not_found_message,
    retired_on,
    unknown_fields,
)
from .host import Host
from .http import EmulatorRequest, EmulatorResponse, json_response
from .inputs import InputError
from .scenarios import Scenarios, parse_scenarios, strip_scenarios

__all__ = ["ASPECT_RATIOS", "GeminiEmulator", "google_error", "install"]

#: Aspect ratio -> 1K output pixels (every ratio any served model takes).
ASPECT_RATIOS = RATIO_SIZES
IMAGE_TOKENS = 1290  # output tokens per 1K image (Google's figure for its image models)

_STATUS_NAMES: dict[int, tuple[str, str]] = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: ("UNAUTHENTICATED", "Request had invalid authentication credentials."),
    403: ("PERMISSION_DENIED", "The caller does not have permission."),
    404: ("NOT_FOUND", "Requested entity was not found."),
    409: ("ABORTED", "The operation was aborted."),
    429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    499: ("CANCELLED", "The operation was cancelled."),
    500: ("INTERNAL", "An internal error has occurred. Please retry or report."),
    501: ("UNIMPLEMENTED", "Method not implemented."),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    504: ("DEADLINE_EXCEEDED", "The request timed out. Please try again."),
}


def google_error(
    code: int,
    message: str | None = None,
    *,
    status: str | None = None,
    details: list[dict[str, Any]] | None = None,
) -> EmulatorResponse:
    """An error in Google's ``google.rpc.Status`` JSON envelope."""
    name, default = _STATUS_NAMES.get(code, ("UNKNOWN", f"Emulated error {code}."))
    error: dict[str, Any] = {
        "code": code,
        "message": message or default,
        "status": status or name,
    }
    if details:
        error["details"] = details
    return json_response({"error": error}, code)


def _quota_exhausted(model: str, retry_delay: float) -> EmulatorResponse:
    """Google's 429: QuotaFailure, Help and a RetryInfo of ``retry_delay`` seconds (RetryInfo
    in quota errors is [uncertain], PROTOCOLS §3.5; a short one keeps clients fast)."""
    return google_error(
        429,
        "You exceeded your current quota, please check your plan and billing details. "
        "For more information on this error, head to: "
        "https://ai.google.dev/gemini-api/docs/rate-limits.",
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": "generativelanguage.googleapis.com/"
                        "generate_content_free_tier_requests",
                        "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                        "quotaDimensions": {"location": "global", "model": model},
                    }
                ],
            },
            {
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [
                    {
                        "description": "Learn more about Gemini API quotas",
                        "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                    }
                ],
            },
            {
                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                "retryDelay": f"{retry_delay:g}s",
            },
        ],
    )


def _api_key_invalid() -> EmulatorResponse:
    message = "API key not valid. Please pass a valid API key."
    return google_error(
        400,
        message,
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            },
            {
                "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                "locale": "en-US",
                "message": message,
            },
        ],
    )


class _Invalid(Exception):
    """A 400 INVALID_ARGUMENT with this message."""


@dataclass
class _Call:
    model: str
    prompt: str
    images: list[Image.Image] = field(default_factory=list)
    modalities: list[str] = field(default_factory=lambda: ["TEXT", "IMAGE"])
    aspect_ratio: str | None = None
    image_size: str | None = None
    ratios: tuple[str, ...] = tuple(RATIO_SIZES)  # the model's
    seed: object = None  # generationConfig.seed, if given
    notes: list[str] = field(default_factory=list)


class GeminiEmulator(EmulatorApp):
    """The Gemini generateContent emulator app (mount at ``/gemini``; :func:`install` does)."""

    name = "gemini"

    def env(self, root: str) -> dict[str, str]:
        """Point the project and the ``google-genai`` SDK at this app (with a dummy key)."""
        base = f"{root}{self.prefix}"
        return {
            "TWAT_GENAI_GEMINI_BASE_URL": base,
            "GOOGLE_GEMINI_BASE_URL": base,
            "GEMINI_API_KEY": "emulator-gemini-key",
        }

    def not_found(self, req: EmulatorRequest) -> EmulatorResponse:
        return google_error(404, f"Requested entity was not found: {req.path}")

    async def handle(self, req: EmulatorRequest) -> EmulatorResponse:
        """``POST /{v1|v1beta}/models/{model}:generateContent``."""
        parts = [p for p in req.path.split("/") if p]
        if len(parts) < 3 or parts[0] not in ("v1", "v1beta") or parts[1] != "models":
            return self.not_found(req)
        target = "/".join(parts[2:])
        model, _, method = target.rpartition(":")
        model = model.removeprefix("models/")
        if method != "generateContent" or not model:
            return self.not_found(req)
        if req.method != "POST":
            return google_error(405, f"Method {req.method} not allowed.", status="INVALID_ARGUMENT")
        req.endpoint = f"{parts[0]}/{model}"
        if "key" in req.query or not req.headers.get("x-goog-api-key", "").strip():
            # The real API accepts ?key=; refusing it here proves our client never sends it.
            req.note = "key in URL refused" if "key" in req.query else "no x-goog-api-key"
            return _api_key_invalid()
        spec = MODELS.get(model)
        if spec is None:
            shut = retired_on(model)
            req.note = f"{model} was shut down on {shut}" if shut else f"{model} is not served"
            return google_error(404, not_found_message(model, parts[0]))
        try:
            body = req.json() if req.body else None
        except ValueError:
            return google_error(400, "Invalid JSON payload received.")
        if not isinstance(body, dict):
            return google_error(400, "Invalid JSON payload received. Expected an object.")
        try:
            fetched = await self.server.inputs.fetch_many(_file_uris(body))
            call = await asyncio.to_thread(_parse, spec, body, fetched)
        except _Invalid as exc:
            return google_error(400, str(exc))
        if call.notes:
            req.note = "; ".join(call.notes)
        sc = parse_scenarios(call.prompt)
        early = self._scenario_response(sc, call)
        if early is not None:
            return early
        await self.run_job(req, sc)
        answer = await asyncio.to_thread(_answer, call, sc, self.server.plain_images)
        self.count("results")
        resp = json_response(answer)
        return resp.streamed(drip(resp.body)) if sc.drip else resp

    def fault_response(self, kind: str, path: str) -> EmulatorResponse:
        """Injected faults in Google's envelope: 429 ``RESOURCE_EXHAUSTED`` with a short
        ``RetryInfo``, or 503 ``UNAVAILABLE``; neither generated anything."""
        if kind == "429":
            return _quota_exhausted(path.rsplit("/", 1)[-1].partition(":")[0], INJECTED_WAIT)
        return google_error(503)

    def _scenario_response(self, sc: Scenarios, call: _Call) -> EmulatorResponse | None:
        if not sc and not sc.unknown:
            return None
        if sc.ratelimit and self.first_time("ratelimit", call.prompt):
            self.count("rate_limited")
            return _quota_exhausted(call.model, 0.0)
        if sc.error:
            return google_error(sc.error)
        if "prompt_blocked" in sc.unknown:
            return json_response(
                {
                    "promptFeedback": {
                        "blockReason": "PROHIBITED_CONTENT",
                        "safetyRatings": [],
                    },
                    "usageMetadata": _usage(call, images_out=0),
                    "modelVersion": call.model,
                    "responseId": _response_id(),
                }
            )
        if sc.blocked:
            return json_response(
                {
                    "candidates": [
                        {
                            "content": {
                                "role": "model",
                                "parts": [
                                    {
                                        "text": "I can't create that image because it may go "
                                        "against my safety guidelines."
                                    }
                                ],
                            },
                            "finishReason": "IMAGE_SAFETY",
                            "index": 0,
                        }
                    ],
                    "usageMetadata": _usage(call, images_out=0),
                    "modelVersion": call.model,
                    "responseId": _response_id(),
                }
            )
        return None


def _get(obj: dict[str, Any], camel: str, snake: str) -> Any:
    """A field under either spelling (the REST API takes both)."""
    return obj.get(camel, obj.get(snake))


def _decode_b64(data: str) -> bytes:
    text = "".join(data.split()).replace("-", "+").replace("_", "/")
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _parts(body: dict[str, Any]) -> list[dict[str, Any]]:
    contents = body.get("contents")
    contents = [contents] if isinstance(contents, dict) else contents
    if not isinstance(contents, list):
        return []
    return [
        p
        for c in contents
        if isinstance(c, dict) and isinstance(c.get("parts"), list)
        for p in c["parts"]
        if isinstance(p, dict)
    ]


def _file_uris(body: dict[str, Any]) -> list[str]:
    """Every ``fileData.fileUri`` of a request (fetched before the call is parsed)."""
    uris = []
    for part in _parts(body):
        file_data = _get(part, "fileData", "file_data")
        if isinstance(file_data, dict):
            uris.append(str(_get(file_data, "fileUri", "file_uri") or ""))
    return uris


def _parse(
    spec: GeminiModel, body: dict[str, Any], fetched: Mapping[str, bytes | InputError]
) -> _Call:
    """The call's text, images and config from a generateContent body (both spellings)."""
    model = spec.id
    contents = body.get("contents")
    if isinstance(contents, dict):
        contents = [contents]
    if not isinstance(contents, list) or not contents:
        raise _Invalid("* GenerateContentRequest.contents: contents is not specified")
    texts: list[str] = []
    call = _Call(model=model, prompt="", ratios=spec.ratios)
    for content in contents:
        parts = content.get("parts") if isinstance(content, dict) else None
        if not isinstance(parts, list) or not parts:
            raise _Invalid(
                "* GenerateContentRequest.contents.parts: contents.parts must not be empty."
            )
        for part in parts:
            if not isinstance(part, dict):
                raise _Invalid("* GenerateContentRequest.contents.parts: invalid part")
            if isinstance(part.get("text"), str):
                texts.append(part["text"])
            inline = _get(part, "inlineData", "inline_data")
            if isinstance(inline, dict):
                mime = str(_get(inline, "mimeType", "mime_type") or "")
                if not mime.startswith("image/"):
                    raise _Invalid(f"Unsupported MIME type: {mime or '(none)'}")
                try:
                    raw = _decode_b64(str(inline.get("data") or ""))
                    call.images.append(media.decode(raw).convert("RGB"))
                except (binascii.Error, ValueError):
                    raise _Invalid(
                        "Unable to process input image. Please retry or report in "
                        "https://developers.generativeai.google/guide/troubleshooting"
                    ) from None
            file_data = _get(part, "fileData", "file_data")
            if isinstance(file_data, dict):
                uri = str(_get(file_data, "fileUri", "file_uri") or "")
                got = fetched.get(uri)
                try:
                    if not isinstance(got, bytes):
                        raise media.MediaError(got.reason if got else "not fetched")
                    call.images.append(media.decode(got).convert("RGB"))
                except media.MediaError as exc:
                    # Google's wording for an unreadable fileUri is [uncertain]; the status
                    # (400 INVALID_ARGUMENT) is what clients key on.
                    raise _Invalid(
                        f"* GenerateContentRequest.contents.parts.file_data.file_uri: "
                        f"Cannot fetch content from the provided URL ({exc})."
                    ) from None
    call.prompt = "\n".join(texts)
    _read_config(spec, body, call)
    return call


def _read_config(spec: GeminiModel, body: dict[str, Any], call: _Call) -> None:
    """Check ``generationConfig`` as the API does (unknown fields, the model's ratios and
    sizes) and note what the call asks for."""
    config = _get(body, "generationConfig", "generation_config") or {}
    if not isinstance(config, dict):
        raise _Invalid("* GenerateContentRequest.generation_config: invalid value")
    unknown = unknown_fields(config, GENERATION_CONFIG_FIELDS)
    if unknown:
        # The API's wording for a field it does not know (a JSON payload error).
        raise _Invalid(
            f'Invalid JSON payload received. Unknown name "{unknown[0]}" at '
            "'generation_config': Cannot find field."
        )
    call.seed = config.get("seed")
    modalities = _get(config, "responseModalities", "response_modalities")
    if modalities:
        call.modalities = [str(m).upper() for m in modalities]
    image_config = _get(config, "imageConfig", "image_config") or {}
    if not isinstance(image_config, dict):
        raise _Invalid("* GenerateContentRequest.generation_config.image_config: invalid value")
    unknown = unknown_fields(image_config, IMAGE_CONFIG_FIELDS)
    if unknown:
        raise _Invalid(
            f'Invalid JSON payload received. Unknown name "{unknown[0]}" at '
            "'generation_config.image_config': Cannot find field."
        )
    ratio = _get(image_config, "aspectRatio", "aspect_ratio")
    if ratio is not None:
        if ratio not in spec.ratios:
            # Wording [uncertain]; the 400 INVALID_ARGUMENT is what clients key on.
            raise _Invalid(
                f"* GenerateContentRequest.generation_config.image_config.aspect_ratio: "
                f"Unsupported aspect ratio {ratio} for model {spec.id}. Supported: "
                f"{', '.join(spec.ratios)}"
            )
        call.aspect_ratio = str(ratio)
    size = _get(image_config, "imageSize", "image_size")
    if size is not None:
        if size not in spec.sizes:
            raise _Invalid(
                f"* GenerateContentRequest.generation_config.image_config.image_size: "
                f"Unsupported image size {size} for model {spec.id}. Supported: "
                f"{', '.join(spec.sizes)}"
            )
        call.image_size = str(size)
        if size not in ("512", "1K"):
            call.notes.append(f"imageSize {size} answered at 1K size to keep it cheap")


def _ratio_for(call: _Call) -> str:
    if call.aspect_ratio:
        return call.aspect_ratio
    if call.images:
        w, h = call.images[0].size
        target = math.log(w / h)
        return min(
            call.ratios,
            key=lambda r: abs(math.log(RATIO_SIZES[r][0] / RATIO_SIZES[r][1]) - target),
        )
    return "1:1"


def _render(call: _Call, key: str, plain: bool = False) -> bytes:
    """A deterministic, captioned PNG: a fresh picture, or the inputs mixed and blended with
    one (``key`` names the prompt; the seed, when given, joins it)."""
    ratio = _ratio_for(call)
    width, height = RATIO_SIZES[ratio]
    if call.image_size == "512":
        width, height = width // 2, height // 2
    key = f"{key}|{call.seed}"
    caption = media.Caption(strip_scenarios(call.prompt), call.seed)
    if not call.images:
        return media.render(key, width, height, "png", plain=plain, caption=caption)
    mixed = media.fit(call.images[0], width, height)
    for k, img in enumerate(call.images[1:], start=2):
        mixed = Image.blend(mixed, media.fit(img, width, height), 1.0 / k)
    return media.encode(media.captioned(media.blend(mixed, key, 0.3), caption), "png")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _usage(call: _Call, images_out: int) -> dict[str, Any]:
    text_tokens = max(1, round(len(call.prompt.split()) * 1.3))
    image_tokens = 258 * len(call.images)
    details = [{"modality": "TEXT", "tokenCount": text_tokens}]
    if image_tokens:
        details.append({"modality": "IMAGE", "tokenCount": image_tokens})
    out_text = 12
    out = out_text + IMAGE_TOKENS * images_out
    usage: dict[str, Any] = {
        "promptTokenCount": text_tokens + image_tokens,
        "candidatesTokenCount": out,
        "totalTokenCount": text_tokens + image_tokens + out,
        "promptTokensDetails": details,
    }
    if images_out:
        usage["candidatesTokensDetails"] = [
            {"modality": "IMAGE", "tokenCount": IMAGE_TOKENS * images_out}
        ]
    return usage


def _response_id() -> str:
    return secrets.token_urlsafe(16)[:22]


def _answer(call: _Call, sc: Scenarios, plain: bool = False) -> dict[str, Any]:
    """The 200 body of a normal call (§3.3 shape): a text part, then the image part."""
    visible = strip_scenarios(call.prompt)
    parts: list[dict[str, Any]] = [{"text": f"Here is the image: {visible[:80]}"}]
    images_out = 0
    if "IMAGE" in call.modalities:
        if "thought" in sc.unknown:
            draft = _render(call, f"draft|{call.model}|{visible}", plain)
            parts.insert(
                0, {"thought": True, "inlineData": {"mimeType": "image/png", "data": _b64(draft)}}
            )
        image = _render(call, f"{call.model}|{visible}", plain)
        part: dict[str, Any] = {"inlineData": {"mimeType": "image/png", "data": _b64(image)}}
        part["thoughtSignature"] = _b64(secrets.token_bytes(24))  # every served model thinks
        parts.append(part)
        images_out = 1
    return {
        "candidates": [
            {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
        ],
        "usageMetadata": _usage(call, images_out),
        "modelVersion": call.model,
        "responseId": _response_id(),
    }


def install(server: Host) -> GeminiEmulator:
    """Mount the Gemini emulator at ``/gemini`` (called for the server's default apps)."""
    app = GeminiEmulator()
    server.mount("/gemini", app)
    return app
