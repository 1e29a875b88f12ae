"""The provider commands (``chutes_image``, ``openai_image`` …): each is a provider name plus a
function from parsed flags and one prompt to a neutral request. Running, saving and printing are
shared with every other command (:mod:`twat_genai.jobs`)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from twat_genai.core.errors import UsageError, validated
from twat_genai.core.inputs import ImageSizeWH
from twat_genai.core.models import (
    BackgroundRemovalRequest,
    ImageEditRequest,
    ImageGenerationRequest,
    Request,
    VideoGenerationRequest,
)

if TYPE_CHECKING:
    from twat_genai.jobs.pipeline import RunOptions


@dataclass(frozen=True)
class ProviderCommand:
    provider: str
    build: Callable[[argparse.Namespace, str], Request]
    needs_prompt: bool = True
    #: The input image whose stem names the output files.
    input_of: Callable[[argparse.Namespace], str | None] = lambda args: None


def _size(args: argparse.Namespace) -> ImageSizeWH | None:
    if args.width is None and args.height is None:
        return None
    if args.width is None or args.height is None:
        raise UsageError("give both --width and --height")
    return validated(ImageSizeWH, {"width": args.width, "height": args.height})


def _options(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


def _chutes_image(args: argparse.Namespace, prompt: str) -> Request:
    return validated(
        ImageGenerationRequest,
        {
            "prompt": prompt,
            "model": args.model,
            "size": _size(args),
            "seed": args.seed,
            "negative_prompt": args.negative_prompt,
            "guidance_scale": args.guidance_scale,
            "num_inference_steps": args.steps,
        },
    )


def _chutes_video(args: argparse.Namespace, prompt: str) -> Request:
    if args.last_frame and not args.first_frame:
        raise UsageError("--last_frame needs --first_frame too (first+last frame video)")
    return validated(
        VideoGenerationRequest,
        {
            "prompt": prompt,
            "first_frame": args.first_frame,
            "last_frame": args.last_frame,
            "resolution": args.resolution,
            "fps": args.fps,
            "num_frames": args.num_frames,
            "seed": args.seed,
            "guidance_scale": args.guidance_scale,
            "num_inference_steps": args.steps,
            "negative_prompt": args.negative_prompt,
        },
    )


def _rembg(args: argparse.Namespace, prompt: str) -> Request:
    image = args.image or args.input_image
    if not image:
        raise UsageError("rembg needs an input image: twat-genai rembg photo.png")
    return validated(BackgroundRemovalRequest, {"image": image})


def _openai_image(args: argparse.Namespace, prompt: str) -> Request:
    common: dict[str, Any] = {
        "prompt": prompt,
        "model": args.model,
        "size": _size(args),
        "n": args.n,
        "options": _options(args, "quality", "background", "output_format"),
    }
    if args.input:
        return validated(ImageEditRequest, {**common, "images": args.input, "mask": args.mask})
    if args.mask:
        raise UsageError("--mask needs at least one --input image to edit")
    return validated(ImageGenerationRequest, common)


def _gemini_transform(args: argparse.Namespace, prompt: str) -> Request:
    return validated(
        ImageEditRequest,
        {
            "prompt": prompt,
            "model": args.model,
            "images": [args.subject, args.reference],
            "aspect_ratio": args.aspect_ratio,
            "options": _options(args, "image_size"),
        },
    )


PROVIDER_COMMANDS: dict[str, ProviderCommand] = {
    "chutes_image": ProviderCommand("chutes", _chutes_image),
    "chutes_video": ProviderCommand("chutes", _chutes_video, input_of=lambda a: a.first_frame),
    "rembg": ProviderCommand(
        "chutes", _rembg, needs_prompt=False, input_of=lambda a: a.image or a.input_image
    ),
    "openai_image": ProviderCommand(
        "openai", _openai_image, input_of=lambda a: (a.input or [None])[0]
    ),
    "gemini_transform": ProviderCommand("gemini", _gemini_transform, input_of=lambda a: a.subject),
}


async def run_provider_command(
    args: argparse.Namespace, prompts: list[str], options: RunOptions
) -> Any:
    """Build one request per prompt and run them as a journaled batch on the command's
    provider. A re-run skips items already saved; ``--fresh`` forgets the journal first."""
    from twat_genai.clients.generate import open_provider
    from twat_genai.core.inputs import ImageInput
    from twat_genai.core.prompt import apply_prompt_parameters
    from twat_genai.jobs.pipeline import Job, run_jobs
    from twat_genai.providers.registry import get_provider_class

    command = PROVIDER_COMMANDS[args.command]
    cls = get_provider_class(command.provider)
    jobs = []
    for p in prompts:
        # Bad flags fail here, before any call; --ar/--no/--seed in a prompt become fields.
        request = command.build(args, p)
        fields = cls.model_info(request.model or cls.default_model_for(request)).fields
        request, warnings = apply_prompt_parameters(request, fields)
        label = getattr(request, "prompt", "") or args.command
        meta = {"command": args.command, "original_prompt": p, "prompt_template": args.prompts}
        jobs.append(Job(request, label=label, meta=meta, warnings=warnings))
    source = command.input_of(args)
    if options.prefix is None and source:
        options.prefix = ImageInput.from_any(source).stem
    async with open_provider(cls, dry_run=options.dry_run) as provider:
        return await run_jobs(provider, jobs, options)
