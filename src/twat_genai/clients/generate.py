"""One call for any model: ``twat_genai.generate()`` / ``agenerate()`` (and the CLI's
``generate`` command, which runs the same :func:`run_specs`), plus ``generate_video()``.

A model id picks its provider (``fal-ai/…`` fal, ``gpt-image-…`` OpenAI, ``gemini-…`` Gemini,
catalog names Chutes; ``provider:model`` always works); the neutral settings are mapped by the
model's catalog entry and ``params`` are sent as given. Each prompt (after the prompt grammar)
is one item of one batch on the one execution path (:mod:`twat_genai.jobs.pipeline`).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twat_genai.core.errors import UsageError
from twat_genai.core.models import ProviderResponse
from twat_genai.jobs.pipeline import DEFAULT_OUTPUT_DIR, Job, RunOptions, expand_prompts, run_jobs
from twat_genai.jobs.requests import Spec, build_request, image_list
from twat_genai.jobs.runner import EventHook, Summary

if TYPE_CHECKING:
    from twat_genai.providers.base import Provider

#: Keywords of ``generate_video`` that configure the client rather than the video.
_CLIENT_KEYS = ("api_key", "base_url", "transport", "retry")


async def run_specs(
    specs: Sequence[Spec],
    options: RunOptions,
    *,
    filename_prefix: str | None = None,
    expand_limit: int = 1000,
) -> Summary:
    """Run every spec's prompts as one batch: models resolved, prompts expanded, requests
    built and checked (inputs too) before anything is paid for."""
    from twat_genai.core.prompt import apply_prompt_parameters
    from twat_genai.core.settings import load_dotenv_once
    from twat_genai.providers.registry import get_provider_class, resolve_model

    load_dotenv_once()
    planned: list[tuple[str, Job]] = []
    for spec in specs:
        provider_name, model = _model_of(spec, resolve_model)
        cls = get_provider_class(provider_name)
        info = cls.model_info(model)
        needs_prompt = "prompt" in info.map and not (
            info.kind in ("upscale", "background-removal") and "prompt" not in _required(info)
        )
        if not info.known:
            needs_prompt = not spec.images
        await _check_inputs(spec)
        for prompt in expand_prompts(spec.prompt, limit=expand_limit, required=needs_prompt):
            request = build_request(spec, prompt, model, info)
            request, warnings = apply_prompt_parameters(request, info.fields)
            template = spec.prompt if isinstance(spec.prompt, str) else None
            meta = {
                "command": options.command,
                "original_prompt": prompt,
                "prompt_template": template,
            }
            images = image_list(spec.images)
            prefix = filename_prefix
            if prefix is None and images:
                from twat_genai.core.inputs import ImageInput

                prefix = ImageInput.from_any(images[0]).stem
            job = Job(request, label=prompt or model, meta=meta, warnings=warnings, prefix=prefix)
            planned.append((provider_name, job))
    async with AsyncExitStack() as stack:
        providers: dict[str, Provider] = {}
        for name, job in planned:
            if name not in providers:
                providers[name] = await stack.enter_async_context(
                    open_provider(get_provider_class(name), dry_run=options.dry_run)
                )
            job.provider = providers[name]
        return await run_jobs(None, [job for _, job in planned], options)


def open_provider(cls: type[Provider], *, dry_run: bool = False) -> Provider:
    """A provider instance; a dry run needs no key (it sends nothing)."""
    from twat_genai.core.errors import MissingKeyError

    try:
        return cls()
    except MissingKeyError:
        if not dry_run:
            raise
        return cls(api_key="dry-run")


def _model_of(spec: Spec, resolve: Callable[[str, str | None], tuple[str, str]]) -> tuple[str, str]:
    if spec.model:
        return resolve(spec.model, spec.provider)
    if spec.provider:
        from twat_genai.providers.registry import get_provider_class

        default = get_provider_class(spec.provider).default_model
        if default:
            return spec.provider, default
    raise UsageError("which model? give --model MODEL (see 'twat-genai models')")


def _required(info: Any) -> set[str]:
    return {name for name, p in info.params.items() if p.required}


async def _check_inputs(spec: Spec) -> None:
    """Local input images are read and decoded before any request (a broken file fails here,
    not after earlier items were paid for)."""
    from twat_genai.core.inputs import ImageInput, validate_local_input

    for value in [*image_list(spec.images), *([spec.mask] if spec.mask is not None else [])]:
        inp = ImageInput.from_any(value)  # a UsageError naming what is wrong with it
        if not inp.is_remote:
            await asyncio.to_thread(validate_local_input, inp)


async def agenerate(
    prompt: str | list[str] | None = None,
    *,
    model: str | None = None,
    provider: str | None = None,
    images: Any = None,
    mask: Any = None,
    image_size: Any = None,
    aspect_ratio: str | None = None,
    seed: int | None = None,
    num_images: int = 1,
    negative_prompt: str | None = None,
    resolution: str | None = None,
    guidance_scale: float | None = None,
    num_inference_steps: int | None = None,
    strength: float | None = None,
    lora: Any = None,
    params: Mapping[str, Any] | None = None,
    output_dir: Path | str = DEFAULT_OUTPUT_DIR,
    filename_prefix: str | None = None,
    filename_suffix: str | None = None,
    journal: bool = False,
    fresh: bool = False,
    allow_retired: bool = False,
    concurrency: int | None = None,
    timeout: float | None = None,
    retry_lost: bool = False,
    on_event: EventHook | None = None,
) -> list[ProviderResponse]:
    """Generate with any model and save every file with its sidecar; one response per prompt
    (the prompt grammar expands ``"a {red,blue} car"`` into two), in order.

    ``model`` is a model id, an alias or ``provider:model``; ``images`` one input or a list
    (paths, URLs, bytes, PIL images); ``params`` go to the provider as given. Not journaled
    unless ``journal=True``: two identical calls make two images. ``timeout`` bounds each
    item from start to saved (seconds; default 600, video 3600); ``retry_lost`` sends again an
    item whose answer was lost after a paid submission (it may be paid twice).
    """
    if concurrency is not None and (not isinstance(concurrency, int) or concurrency < 1):
        raise UsageError(
            f"invalid concurrency: use a whole number of at least 1 (got {concurrency!r})"
        )
    spec = Spec(
        prompt=prompt,
        model=model,
        provider=provider,
        images=image_list(images),
        mask=mask,
        image_size=image_size,
        aspect_ratio=aspect_ratio,
        seed=seed,
        num_images=num_images,
        negative_prompt=negative_prompt,
        resolution=resolution,
        guidance_scale=guidance_scale,
        num_inference_steps=num_inference_steps,
        strength=strength,
        lora=lora,
        params=dict(params or {}),
    )
    options = RunOptions(
        output_dir=output_dir,
        suffix=filename_suffix,
        journal=journal,
        fresh=fresh,
        allow_retired=allow_retired,
        concurrency=concurrency,
        timeout=_checked_timeout(timeout),
        retry_lost=retry_lost,
        on_event=on_event,
    )
    summary = await run_specs([spec], options, filename_prefix=filename_prefix)
    return list(summary.results())


def _checked_timeout(timeout: float | None) -> float | None:
    if timeout is not None and not (isinstance(timeout, (int, float)) and 0 < timeout < math.inf):
        raise UsageError(f"timeout must be a number of seconds above 0, got {timeout!r}")
    return timeout


def generate(prompt: str | list[str] | None = None, **kw: Any) -> list[ProviderResponse]:
    """Sync :func:`agenerate` (also inside a running event loop, e.g. a notebook)."""
    from twat_genai.core.sync import run_sync

    return run_sync(lambda: agenerate(prompt, **kw))


def generate_video(
    prompt: str,
    image: Any = None,
    output_dir: str | Path | None = None,
    **kw: Any,
) -> ProviderResponse:
    """Make a video on Chutes and save it (with its sidecar); blocks until it is done.

    ``image`` is the first frame (path, URL, data URI, bytes or PIL image); ``last_frame=``
    adds a last one. Other keywords: ``resolution`` (540P), ``fps``, ``num_frames``, ``seed``,
    ``guidance_scale``, ``steps``, ``negative_prompt``, and ``api_key``/``base_url`` for the
    client. The saved file is ``result.files[0].path``.
    """
    from twat_genai.clients.chutes import ChutesClient

    client_kw = {k: kw.pop(k) for k in _CLIENT_KEYS if k in kw}
    if image is not None:
        if kw.get("first_frame") is not None:
            raise UsageError(
                "generate_video: give the first frame as image= or first_frame=, not both"
            )
        kw["first_frame"] = image
    client = ChutesClient(output_dir=output_dir or "generated_images", **client_kw)
    return client.generate_video(prompt, **kw)


__all__ = ["agenerate", "generate", "generate_video", "run_specs"]
