"""One request, start to finish, for any provider: check what the provider can honour (warn
about the rest), split ``n`` into calls the provider accepts, run them, download and save every
file with its sidecar, and turn "nothing came back" (or bytes that are empty or not an image or
video, whatever their declared type) into a typed error.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import random
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twat_genai.core.errors import (
    BlockedError,
    DownloadError,
    ModelError,
    ProviderError,
    UsageError,
)
from twat_genai.core.media import SNIFF_BYTES, cut_short, not_media_error
from twat_genai.core.models import (
    ImageEditRequest,
    ImageGenerationRequest,
    MediaFile,
    ProviderResponse,
    Request,
)
from twat_genai.core.sizes import size_for_aspect_ratio
from twat_genai.core.writer import OutputWriter, StreamingFile
from twat_genai.jobs.checks import check_request
from twat_genai.jobs.cost import estimate
from twat_genai.jobs.sidecar import build_metadata, input_records
from twat_genai.providers.base import CallContext, Provider, request_kind
from twat_genai.providers.inputs import noting_inputs
from twat_genai.providers.registry import resolve_alias
from twat_genai.transport.retry import NO_RETRY, note_retry

if TYPE_CHECKING:
    from twat_genai.providers.catalog import ModelInfo

#: Largest output file we download (video included).
MAX_DOWNLOAD_BYTES = 4 * 1024**3
#: Times a paid result's file is fetched before its item fails.
DOWNLOAD_ATTEMPTS = 4

#: Request fields a provider may not support, and the value that means "not set".
_OPTIONAL_FIELDS: dict[str, Any] = {
    "negative_prompt": None,
    "size": None,
    "aspect_ratio": None,
    "seed": None,
    "guidance_scale": None,
    "num_inference_steps": None,
    "loras": [],
}


def adapt_request(
    provider: Provider, request: Request, *, allow_retired: bool = False
) -> tuple[Request, ModelInfo, list[str]]:
    """The request as the model can take it, the model's catalog entry, and the warnings.

    The model defaults to the provider's; settings the model cannot honour are dropped with one
    warning each; an aspect ratio becomes a size of about a megapixel for a model that takes
    sizes; what the provider cannot do at all is refused."""
    caps = provider.capabilities
    kind = request_kind(request)
    if kind not in caps.kinds:
        raise UsageError(f"{provider.name} cannot do {kind.replace('_', ' ')} requests")
    if isinstance(request, ImageEditRequest) and request.operation not in caps.operations:
        ops = ", ".join(sorted(caps.operations))
        raise UsageError(f"{provider.name} has no {request.operation!r} operation (it has: {ops})")
    model = request.model or provider.default_model_for(request)
    info = provider.model_info(model)
    if model and not (info.known and info.id == model):
        # Not an id of the provider's own catalog: maybe an alias (whose table spans every
        # provider's catalog, so an exact id does not read the others).
        model = resolve_alias(model)
        info = provider.model_info(model)
    warnings: list[str] = []
    update: dict[str, Any] = {}
    if model and model != request.model:
        update["model"] = model
    if not info.known:
        warnings.append(
            f"{provider.name}: {info.id} is not in the model catalog; its capabilities are "
            "unknown, so settings are sent as given"
        )
    warnings += check_request(provider, info, request, allow_retired=allow_retired)
    if isinstance(request, ImageGenerationRequest):
        fields = info.fields if info.known else info.fields | {"size", "aspect_ratio"}
        for name, empty in _OPTIONAL_FIELDS.items():
            value = getattr(request, name)
            if value not in (None, [], "") and name not in fields:
                warnings.append(f"{info.id} does not support {name.replace('_', ' ')}; ignored")
                update[name] = empty
        seed = _chosen_seed(info, request)
        if seed is not None:
            update["seed"] = seed
        ratio = update.get("aspect_ratio", request.aspect_ratio)
        size = update.get("size", request.size)
        if ratio and info.size.form not in ("aspect_ratio", "none") and size is None:
            update.update(size=size_for_aspect_ratio(ratio), size_preset=None, aspect_ratio=None)
    return (request.model_copy(update=update) if update else request), info, warnings


def _chosen_seed(info: ModelInfo, request: Request) -> int | None:
    """A seed for a model that honours seeds when the user gave none, within the model's
    documented range: sent and recorded, so the file can be made again."""
    wire = info.wire("seed")
    if not (info.known and info.seed and wire) or getattr(request, "seed", 0) is not None:
        return None
    spec = info.params.get(wire)
    low = int(spec.min) if spec is not None and spec.min is not None else 0
    high = int(spec.max) if spec is not None and spec.max is not None else 2**31 - 1
    return random.randint(low, min(high, 2**31 - 1))


def split_n(request: Request, max_per_call: int) -> list[Request]:
    """Several requests whose ``n`` the provider accepts; seeds step so images differ."""
    if not isinstance(request, ImageGenerationRequest) or request.n <= max_per_call:
        return [request]
    calls = math.ceil(request.n / max_per_call)
    parts: list[Request] = []
    for i in range(calls):
        n = min(max_per_call, request.n - i * max_per_call)
        seed = request.seed + i * max_per_call if request.seed is not None else None
        parts.append(request.model_copy(update={"n": n, "seed": seed}))
    return parts


async def _all_or_none(
    calls: list[Coroutine[Any, Any, ProviderResponse]],
) -> list[ProviderResponse]:
    """Run the calls of one request together; if one fails, cancel the others (their remote
    jobs too) rather than leave them running unobserved, then raise."""
    tasks = [asyncio.ensure_future(c) for c in calls]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _merge(responses: list[ProviderResponse]) -> ProviderResponse:
    if len(responses) == 1:
        return responses[0]
    first = responses[0]
    merged = first.model_copy(deep=True)
    for other in responses[1:]:
        merged.files.extend(other.files)
        merged.text.extend(other.text)
        merged.warnings.extend(other.warnings)
    merged.raw = {"calls": [{"request_id": r.request_id, **r.raw} for r in responses]}
    return merged


async def generate(
    provider: Provider,
    request: Request,
    writer: OutputWriter,
    *,
    ctx: CallContext | None = None,
    job: dict[str, Any] | None = None,
    warnings: list[str] | None = None,
    allow_retired: bool = False,
    index: int | None = None,
) -> ProviderResponse:
    """Run ``request`` on ``provider`` and save every file; return the response with paths set.

    Raises :class:`BlockedError` when every output was blocked, :class:`ModelError` when the
    provider returned nothing, and the provider's own errors otherwise.
    """
    ctx = ctx or CallContext()
    started = time.monotonic()
    request, info, adapt_warnings = adapt_request(provider, request, allow_retired=allow_retired)
    warnings = [*(warnings or []), *adapt_warnings]
    parts = split_n(request, max(1, info.max_images))
    try:
        with noting_inputs() as notes:
            responses = await _all_or_none(
                [provider.generate(p, c) for p, c in zip(parts, ctx.split(len(parts)), strict=True)]
            )
    except ProviderError as exc:
        exc.warnings = [*warnings, *exc.warnings]  # e.g. a retired model sent anyway
        raise
    remote_done = time.monotonic()
    # The remote work is over: a batch runner may start the next job while this one saves.
    ctx.event("remote_done", calls=len(parts))
    # The provider has answered: a failure from here on (a download) is no reason to pay again.
    ctx.event("responded")
    response = _merge(responses)
    warnings = warnings + response.warnings
    response.warnings = warnings
    # Bytes already in hand are checked before anything is written: an answer whose every file
    # is not media fails; one bad file among good ones is left out with a warning.
    bad = [
        (file, error)
        for file in response.files
        if not file.blocked
        and file.data is not None
        and (error := _media_error(file, response, file.data[:SNIFF_BYTES], len(file.data)))
    ]
    if bad and len(bad) == sum(1 for f in response.files if not f.blocked):
        raise bad[0][1]
    for file, error in bad:
        response.files.remove(file)
        warnings.append(f"an output was not saved: {error}")
    created = datetime.now(timezone.utc)
    inputs = input_records(request, notes)
    price = estimate(info, request)
    timings: dict[str, float] = {"remote": round(remote_done - started, 3)}
    saved = blocked = 0
    per_role: Counter[str] = Counter()  # -1, -2 … number the files of one role
    for position, file in enumerate(response.files):
        if file.blocked:
            blocked += 1
            warnings.append("an output was flagged by the provider's safety checker and not saved")
            continue
        # A re-attached job writes each file under the name its interrupted attempt recorded
        # (and skips files already complete), so a resumed batch never holds two copies.
        file_key = f"{response.request_id}#{position}"
        earlier = Path(ctx.files[file_key]) if file_key in ctx.files else None
        if earlier is not None and earlier.exists() and earlier.with_suffix(".json").exists():
            file.data = None
            file.path, file.metadata_path = earlier, earlier.with_suffix(".json")
            per_role[file.role] += 1
            saved += 1
            continue
        if file.data is None and not file.url:
            continue
        path, meta = await _save(
            provider,
            writer,
            ctx,
            file,
            response,
            key=file_key,
            earlier=earlier,
            ident=response.request_id,
            index=per_role[file.role] or None,
            fields=name_fields(request, response, file, index, (job or {}).get("original_prompt")),
            timings=timings,
            started=started,
            metadata=functools.partial(
                build_metadata,
                request,
                response,
                file,
                info=info,
                warnings=warnings,
                job=job,
                created=created,
                inputs=inputs,
                cost=price,
                timings=timings,
            ),
        )
        per_role[file.role] += 1
        file.data = None
        file.path, file.metadata_path = path, meta
        saved += 1
        ctx.event("saved", path=str(path))
    if saved == 0:
        if blocked:
            raise BlockedError(
                f"{response.model}: every output was blocked by the safety checker",
                provider=response.provider,
                request_id=response.request_id,
                reason="nsfw",
            )
        detail = f" ({'; '.join(response.text)[:200]})" if response.text else ""
        raise ModelError(
            f"{response.model} returned no file{detail}",
            provider=response.provider,
            request_id=response.request_id,
        )
    return response


def name_fields(
    request: Request,
    response: ProviderResponse,
    file: MediaFile,
    index: int | None,
    prompt: str | None = None,
) -> dict[str, Any]:
    """What a file's name is made of: a slug of the user's prompt (not the LoRA triggers added
    to it; the input's name when there is no prompt), the item's index, the seed, the model."""
    text = prompt if prompt is not None else getattr(request, "prompt", None) or ""
    if not text.strip():
        images = getattr(request, "images", None) or [getattr(request, "image", None)]
        first = images[0] if images else None
        text = (getattr(first, "stem", None) or "") if first is not None else ""
    return {
        "prompt": text,
        "index": index if index is not None else "",
        "seed": file.seed if file.seed is not None else getattr(request, "seed", None),
        "model": response.model,
    }


async def _save(
    provider: Provider,
    writer: OutputWriter,
    ctx: CallContext,
    file: MediaFile,
    response: ProviderResponse,
    *,
    key: str,
    earlier: Path | None,
    ident: str,
    index: int | None,
    fields: dict[str, Any],
    timings: dict[str, float],
    started: float,
    metadata: Callable[[], dict[str, Any]],
) -> tuple[Path, Path]:
    """Write one output file and its sidecar under ``earlier`` or a new name, recorded (the
    ``saving`` event) before the file appears. A URL streams to a temporary file on disk, so
    memory stays flat whatever the file size. Bytes that are empty or not an image or video
    are refused (:class:`ModelError`) and the temporary file removed."""

    with writer.write_stream() as stream:
        fetch_started = time.monotonic()
        if file.data is None and file.url and not file.url.startswith("data:"):
            await _download(provider, file.url, stream, ctx)
        else:
            stream.write(file.data if file.data is not None else _decode_data_url(file.url or ""))
        timings["downloading"] = round(
            timings.get("downloading", 0.0) + time.monotonic() - fetch_started, 3
        )
        timings["total"] = round(time.monotonic() - started, 3)
        if file.data is None:  # bytes in hand were checked before anything was written
            _check_media(file, response, stream.head, stream.bytes_written)
        if file.width is None and file.kind == "image":
            file.width, file.height = _size_of(stream.head)
        path = earlier or writer.plan(
            stream.head,
            ident=ident,
            role=file.role,
            index=index,
            content_type=file.content_type,
            fields=fields,
        )
        ctx.event("saving", file=key, path=str(path))
        commit = asyncio.ensure_future(
            stream.commit_async(
                ident=ident,
                metadata=metadata(),
                role=file.role,
                index=index,
                content_type=file.content_type,
                path=path,
            )
        )
        try:
            return await asyncio.shield(commit)
        except asyncio.CancelledError:
            # A commit under way finishes in its thread (the file was paid for); waiting for it
            # here keeps the event loop free, where the ``with`` exit would block it.
            with contextlib.suppress(Exception):
                await commit
            raise


async def _download(provider: Provider, url: str, stream: StreamingFile, ctx: CallContext) -> None:
    """Fetch a finished job's file into ``stream``. The job is paid for, so a download that
    breaks off, comes back short or meets a 5xx or 429 is fetched again from the start (a few
    times, waiting as the server asks) before the item fails; a short body is never saved."""
    for attempt in range(DOWNLOAD_ATTEMPTS):
        try:
            # Whole downloads are retried here; the client must not retry inside each one too.
            await provider.fetcher.fetch_to(
                url, stream.write, max_bytes=MAX_DOWNLOAD_BYTES, retry=NO_RETRY
            )
            if cut_short(stream.head, stream.tail, stream.bytes_written):
                raise DownloadError(
                    f"download of {url.split('?', 1)[0]} was cut short: the file ends after "
                    f"{stream.bytes_written} bytes, before the image does",
                    provider=provider.name,
                )
        except DownloadError as exc:
            delay = exc.retry_after if exc.retry_after is not None else 0.5 * 2**attempt
            if not exc.retryable or attempt + 1 >= DOWNLOAD_ATTEMPTS or delay > 60:
                raise
            ctx.event("download_retry", error=str(exc))
            note_retry()
            stream.restart()
            await asyncio.sleep(delay)
        else:
            if attempt:
                note_retry("download_recovered")
            return


def _media_error(
    file: MediaFile, response: ProviderResponse, head: bytes, size: int
) -> ModelError | None:
    """The error for an output whose first bytes (``head`` of ``size``) are not an image or a
    video, else None."""
    return not_media_error(
        head,
        size,
        provider=response.provider,
        model=response.model,
        expected={"video": "a video", "audio": "audio"}.get(str(file.kind), "an image"),
        declared=file.content_type,
        request_id=response.request_id,
    )


def _check_media(file: MediaFile, response: ProviderResponse, head: bytes, size: int) -> None:
    """Raise :class:`ModelError` unless the output is an image or a video."""
    error = _media_error(file, response, head, size)
    if error is not None:
        raise error


def _decode_data_url(url: str) -> bytes:
    import base64

    header, _, payload = url.partition(",")
    return base64.b64decode(payload) if ";base64" in header else payload.encode()


def _size_of(data: bytes) -> tuple[int | None, int | None]:
    from twat_genai.core.media import probe_size

    try:
        w, h = probe_size(data)
    except (UsageError, ProviderError, ValueError, OSError):
        return None, None
    return w, h
