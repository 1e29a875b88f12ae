"""Google Gemini image models ("Nano Banana"): ``models/{model}:generateContent`` with text and
inline image parts in, ``inlineData`` image parts out.

Wire facts follow PROTOCOLS.md §3. The key travels only in the ``x-goog-api-key`` header, never
as ``?key=`` (the previous implementation leaked it into error messages that way). "No image"
answers come back as HTTP 200; they become :class:`BlockedError` or :class:`ModelError` here.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import time
from typing import TYPE_CHECKING, Any, ClassVar

from twat_genai.core.errors import (
    AuthenticationError,
    BlockedError,
    ModelError,
    ProviderError,
    UsageError,
)
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

if TYPE_CHECKING:
    from twat_genai.providers.catalog import ModelInfo

__all__ = [
    "ASPECT_RATIOS",
    "DEFAULT_MODEL",
    "SAFETY_FINISH_REASONS",
    "GeminiProvider",
    "google_error_info",
]

#: The current Gemini image model (Google's changelog, 2026-10-06; the catalog has the rest).
DEFAULT_MODEL = "gemini-nano-banana-2.1"

#: Aspect ratios every Gemini image model takes, with the 1K pixels (PROTOCOLS §3.2).
ASPECT_RATIOS: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "2:3": (832, 1248),
    "3:2": (1248, 832),
    "3:4": (864, 1184),
    "4:3": (1184, 864),
    "4:5": (896, 1152),
    "5:4": (1152, 896),
    "9:16": (768, 1344),
    "16:9": (1344, 768),
    "21:9": (1536, 672),
}
IMAGE_SIZES = ("1K", "2K", "4K")
#: Where the catalog lists a model's image sizes.
IMAGE_SIZE_PARAM = "generationConfig.imageConfig.imageSize"

#: ``finishReason`` values that mean the safety system withheld the image.
SAFETY_FINISH_REASONS = frozenset(
    {
        "SAFETY",
        "IMAGE_SAFETY",
        "PROHIBITED_CONTENT",
        "IMAGE_PROHIBITED_CONTENT",
        "BLOCKLIST",
        "SPII",
        "RECITATION",
        "IMAGE_RECITATION",
    }
)

DEFAULT_TIMEOUT = 300.0  # 4K images on the pro model can take minutes
API_VERSION = "v1beta"


def google_error_info(status: int, body: Any, text: str) -> ErrorInfo:
    """Read ``{"error": {code, message, status, details}}``; the type is the ErrorInfo
    ``reason`` (e.g. ``API_KEY_INVALID``) when given, else the status (``RESOURCE_EXHAUSTED``)."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return default_error_info(status, body, text)
    message = str(error.get("message") or f"HTTP {status}")
    kind = error.get("status")
    for item in error.get("details") or []:
        if isinstance(item, dict) and str(item.get("@type", "")).endswith("google.rpc.ErrorInfo"):
            kind = item.get("reason") or kind
    return ErrorInfo(" ".join(message.split()), str(kind) if kind else None)


class GeminiProvider(Provider):
    """Gemini image generation and multi-image editing over the Generative Language API."""

    name = "gemini"
    summary = "Google Gemini image models (Nano Banana): text to image, multi-image transforms"
    key_env = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    base_url_env = ("TWAT_GENAI_GEMINI_BASE_URL", "GOOGLE_GEMINI_BASE_URL")
    default_base_url = "https://generativelanguage.googleapis.com"
    default_concurrency = 4
    model_patterns = (r"gemini-", r"imagen-", r"models/")
    default_model = DEFAULT_MODEL
    capabilities: ClassVar[Capabilities] = Capabilities(
        kinds=frozenset({"image", "edit"}),
        operations=frozenset({"edit"}),
        max_images_per_call=1,
    )
    default_map: ClassVar[dict[str, str]] = {"prompt": "contents[].parts[].text"}
    default_size = SizeSpec(
        form="aspect_ratio",
        param="generationConfig.imageConfig.aspectRatio",
        values=tuple(ASPECT_RATIOS),
    )
    default_inputs: ClassVar[dict[str, str]] = {"images": "contents[].parts[].inlineData"}

    default_timeout = DEFAULT_TIMEOUT

    def error_info(self, status: int, body: Any, text: str) -> ErrorInfo:
        return google_error_info(status, body, text)

    def auth_headers(self) -> dict[str, str]:
        return {"x-goog-api-key": str(self.api_key)}

    async def generate(self, request: Request, ctx: CallContext) -> ProviderResponse:
        if not isinstance(request, ImageGenerationRequest):
            raise UsageError(f"gemini cannot run a {type(request).__name__}")
        if isinstance(request, ImageEditRequest) and request.operation != "edit":
            raise UsageError(f"gemini has no {request.operation!r} operation (it has: edit)")
        model = (request.model or DEFAULT_MODEL).removeprefix("models/")
        info = self.model_info(model)
        payload, sent, warnings = await self._payload(request, model, info)
        path = f"{API_VERSION}/models/{model}:generateContent"
        started = time.monotonic()
        try:
            # Retry only what surely did not run: a 500 may already have been billed.
            body = await self.http.post_json(path, payload, retry="safe")
        except ProviderError as exc:
            if exc.error_type == "API_KEY_INVALID" and not isinstance(exc, AuthenticationError):
                raise AuthenticationError(
                    str(exc),
                    provider=self.name,
                    status_code=exc.status_code,
                    error_type=exc.error_type,
                    body=exc.body,
                ) from exc
            raise
        elapsed = time.monotonic() - started
        if not isinstance(body, dict):
            raise ModelError(
                f"unexpected answer from {model}: {str(body)[:120]}", provider=self.name
            )
        request_id = str(body.get("responseId") or _content_id(body))
        files, text, thoughts = _parts(body)
        if not files:
            raise _no_image(body, model, request_id, text)
        ctx.event("completed", request_id=request_id)
        usage = body.get("usageMetadata")
        raw = shorten(body)
        if thoughts:
            raw["skipped_thought_images"] = thoughts
        return ProviderResponse(
            provider=self.name,
            model=str(body.get("modelVersion") or model),
            request_id=request_id,
            files=files,
            sent=sent,
            raw=raw,
            text=text,
            usage=usage if isinstance(usage, dict) else None,
            warnings=warnings,
            timings={"request": round(elapsed, 3)},
        )

    # -- request building --------------------------------------------------------------------

    async def _payload(
        self, request: ImageGenerationRequest, model: str, info: ModelInfo
    ) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
        """(wire body, its record for the sidecar, warnings)."""
        warnings: list[str] = []
        parts: list[dict[str, Any]] = [{"text": request.prompt}]
        sent_parts: list[Any] = [{"text": request.prompt}]
        first_size: tuple[int, int] | None = None
        if isinstance(request, ImageEditRequest):
            inputs = await asyncio.gather(*(read_input(i, self.fetcher) for i in request.images))
            for inp, (data, mime, size) in zip(request.images, inputs, strict=True):
                first_size = first_size or size
                encoded = base64.b64encode(data).decode("ascii")
                parts.append({"inlineData": {"mimeType": mime, "data": encoded}})
                sent_parts.append({"inlineData": {"mimeType": mime, "source": inp.describe()}})
            if request.mask is not None:
                warnings.append("gemini does not take a mask; describe the area in the prompt")
        generation_config, safety = self._generation_config(
            request, model, info, first_size, warnings
        )
        payload: dict[str, Any] = {
            "contents": [{"role": "user", "parts": parts}],
            "generationConfig": generation_config,
        }
        if safety is not None:
            payload["safetySettings"] = safety
        sent = {
            "model": model,
            "contents": [{"role": "user", "parts": sent_parts}],
            "generationConfig": generation_config,
        }
        if safety is not None:
            sent["safetySettings"] = safety
        return payload, sent, warnings

    def preview(self, request: Request) -> dict[str, Any]:
        """The body a call would send, input images shown by their source."""
        if not isinstance(request, ImageGenerationRequest):
            return request.model_dump(mode="json", exclude_none=True)
        model = (request.model or DEFAULT_MODEL).removeprefix("models/")
        info = self.model_info(model)
        parts: list[Any] = [{"text": request.prompt}]
        if isinstance(request, ImageEditRequest):
            parts += [{"inlineData": {"source": i.describe()}} for i in request.images]
        config, safety = self._generation_config(request, model, info, None, [])
        body: dict[str, Any] = {"contents": [{"role": "user", "parts": parts}]}
        body["generationConfig"] = config
        if safety is not None:
            body["safetySettings"] = safety
        return {"endpoint": f"{API_VERSION}/models/{model}:generateContent", "arguments": body}

    def _generation_config(
        self,
        request: ImageGenerationRequest,
        model: str,
        info: ModelInfo,
        first_size: tuple[int, int] | None,
        warnings: list[str],
    ) -> tuple[dict[str, Any], Any]:
        """(``generationConfig``, ``safetySettings``) for ``request``."""
        # Options that belong in ``imageConfig`` leave ``options`` in every spelling, so none
        # of them reaches ``generationConfig`` (where Gemini refuses unknown fields).
        options = dict(request.options)
        for name in _RATIO_OPTIONS:
            options.pop(name, None)
        sizes = [options.pop(name, None) for name in _SIZE_OPTIONS]
        image_config: dict[str, Any] = {}
        ratio = self._aspect_ratio(request, info, first_size, warnings)
        if ratio:
            image_config["aspectRatio"] = ratio
        image_size = next((s for s in sizes if s), None)
        if image_size:
            size_text = str(image_size).strip().upper()
            if size_text not in IMAGE_SIZES:
                raise UsageError(f"invalid Gemini image size {image_size!r}: use 1K, 2K or 4K")
            spec = info.params.get(IMAGE_SIZE_PARAM)
            if not info.known or (spec is not None and size_text in spec.values):
                image_config["imageSize"] = size_text
            elif spec is not None:
                allowed = ", ".join(map(str, spec.values))
                raise UsageError(f"{model} takes image sizes {allowed}, not {image_size!r}")
            else:
                warnings.append(f"{model} makes 1K images only; image size {size_text} ignored")
        modalities = options.pop("response_modalities", None) or ["TEXT", "IMAGE"]
        generation_config: dict[str, Any] = {"responseModalities": list(modalities)}
        seed_field = info.wire("seed")
        if request.seed is not None and seed_field:
            generation_config[seed_field.rpartition(".")[2]] = request.seed
        if image_config:
            generation_config["imageConfig"] = image_config
        safety = options.pop("safety_settings", None) or options.pop("safetySettings", None)
        generation_config.update(_generation_fields(info, options))
        return generation_config, safety

    def _aspect_ratio(
        self,
        request: ImageGenerationRequest,
        info: ModelInfo,
        first_size: tuple[int, int] | None,
        warnings: list[str],
    ) -> str | None:
        """Explicit ratio, else the size's nearest ratio, else (edits) the first input's; a
        size is mapped only onto the common ratios (the model's extra ones must be asked for)."""
        from twat_genai.core.sizes import nearest_aspect_ratio

        choices = list(ASPECT_RATIOS)
        asked = request.aspect_ratio or next(
            (request.options[n] for n in _RATIO_OPTIONS if request.options.get(n)), None
        )
        if asked:
            text = str(asked).strip().replace("/", ":").replace("x", ":")
            allowed = list(info.size.values) or choices
            if text in allowed:
                return text
            a, _, b = text.partition(":")
            try:
                near = nearest_aspect_ratio(float(a), float(b), choices)
            except ValueError:
                raise UsageError(
                    f"invalid aspect ratio {asked!r}: use one of {', '.join(choices)}"
                ) from None
            warnings.append(f"gemini: requested aspect ratio {asked}, used {near}")
            return near
        if request.size is not None:
            w, h = request.size.width, request.size.height
            near = nearest_aspect_ratio(w, h, choices)
            pw, ph = ASPECT_RATIOS[near]
            if (pw, ph) != (w, h):
                warnings.append(f"gemini: requested {w}x{h}, used {near} ({pw}x{ph} at 1K)")
            return near
        if first_size is not None:
            return nearest_aspect_ratio(first_size[0], first_size[1], choices)
        return None


def _generation_fields(info: ModelInfo, options: dict[str, Any]) -> dict[str, Any]:
    """Leftover options as ``generationConfig`` fields (snake_case or camelCase). Gemini answers
    400 INVALID_ARGUMENT for a field it does not know, so for a catalog model any other name is
    refused here, before the call; an unknown model's options go as given."""
    documented = {
        name.removeprefix("generationConfig.").split(".")[0]
        for name in info.params
        if name.startswith("generationConfig.")
    }
    fields: dict[str, Any] = {}
    for key, value in options.items():
        head, *rest = key.split("_")
        camel = head + "".join(w[:1].upper() + w[1:] for w in rest)
        if info.known and camel not in documented:
            allowed = ", ".join(sorted(documented)) or "none"
            raise UsageError(
                f"{info.id} has no generationConfig field {key!r} (Gemini answers 400 "
                f"INVALID_ARGUMENT): use one of {allowed}"
            )
        if value is not None:
            fields[camel] = value
    return fields


#: Spellings of the ``imageConfig`` options a request may carry in ``options``.
_RATIO_OPTIONS = ("aspect_ratio", "aspectRatio")
_SIZE_OPTIONS = ("image_size", "imageSize")


def _content_id(body: dict[str, Any]) -> str:
    digest = hashlib.sha256(repr(shorten(body, max_len=64)).encode()).hexdigest()
    return f"gem-{digest[:16]}"


def _decode(data: str) -> bytes:
    """Standard or URL-safe base64, padded or not."""
    text = "".join(data.split()).replace("-", "+").replace("_", "/")
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=False)


def _parts(body: dict[str, Any]) -> tuple[list[MediaFile], list[str], int]:
    """(images, texts, skipped thought images) from ``candidates[].content.parts``."""
    from twat_genai.core.media import sniff_media_type

    files: list[MediaFile] = []
    texts: list[str] = []
    thoughts = 0
    for index, cand in enumerate(body.get("candidates") or []):
        if not isinstance(cand, dict):
            continue
        content = cand.get("content")
        parts = content.get("parts") if isinstance(content, dict) else None
        for part in parts if isinstance(parts, list) else []:
            if not isinstance(part, dict):
                continue
            inline = part.get("inlineData") or part.get("inline_data")
            if part.get("thought"):
                thoughts += 1 if isinstance(inline, dict) else 0
                continue  # drafts and reasoning, not the answer
            if isinstance(part.get("text"), str) and part["text"].strip():
                texts.append(part["text"].strip())
            if not isinstance(inline, dict) or not inline.get("data"):
                continue
            try:
                data = _decode(str(inline["data"]))
            except (binascii.Error, ValueError) as exc:
                raise ModelError(f"gemini returned bad base64 image data: {exc}") from exc
            # The type comes from the bytes only (not ``mimeType``): the core refuses bytes
            # that are not an image.
            files.append(
                MediaFile(
                    data=data,
                    content_type=sniff_media_type(data),
                    extra={"candidate": cand.get("index", index)},
                )
            )
    return files, texts, thoughts


def _no_image(body: dict[str, Any], model: str, request_id: str, text: list[str]) -> ProviderError:
    """BlockedError for a prompt block or a safety finish; ModelError for any other empty answer."""
    said = f": model said {' '.join(text)[:300]!r}" if text else ""
    feedback = body.get("promptFeedback") or body.get("prompt_feedback") or {}
    block = feedback.get("blockReason") or feedback.get("block_reason")
    kw: dict[str, Any] = {"provider": "gemini", "request_id": request_id, "body": shorten(body)}
    if block:
        message = feedback.get("blockReasonMessage") or feedback.get("block_reason_message")
        extra = f" ({message})" if message else ""
        return BlockedError(
            f"{model}: prompt blocked (blockReason={block}){extra}{said}", reason=str(block), **kw
        )
    reasons: list[str] = []
    notes: list[str] = []
    for cand in body.get("candidates") or []:
        if isinstance(cand, dict):
            reason = cand.get("finishReason") or cand.get("finish_reason")
            if reason:
                reasons.append(str(reason))
            note = cand.get("finishMessage") or cand.get("finish_message")
            if note:
                notes.append(str(note))
    detail = f" ({'; '.join(notes)[:200]})" if notes else ""
    blocked = next((r for r in reasons if r in SAFETY_FINISH_REASONS), None)
    if blocked:
        return BlockedError(
            f"{model}: image blocked (finishReason={blocked}){detail}{said}", reason=blocked, **kw
        )
    shown = ",".join(reasons) or "none"
    return ModelError(f"{model}: no image returned (finishReason={shown}){detail}{said}", **kw)
