"""The fal commands' local forms: ``upscale --tool realesrgan|realesrgan-x4plus|lanczos`` (or
``--provider local``), ``canny --provider local``, ``outpaint --tool local``, and ``canny
--preprocess local`` (an edge map made here, sent to fal). A local form becomes one generic job
for the ``local`` provider, on the same path as ``generate``; nothing is ever moved between a
paid remote call and a local one without being asked for by name."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twat_genai.cli import output
from twat_genai.core.errors import UsageError

if TYPE_CHECKING:
    from twat_genai.jobs.requests import Spec

#: ``upscale --tool`` names that run here, and the local model each runs.
LOCAL_TOOLS = {
    "realesrgan": "realesrgan",
    "realesrgan-x4plus": "realesrgan-x4plus",
    "lanczos": "lanczos",
}
#: Folder (inside the output folder) for inputs made here for a remote call.
MADE_INPUTS = ".inputs"


def local_model(args: argparse.Namespace) -> str | None:
    """The local model a fal command asks for, or None when it runs on fal."""
    command, provider = args.command, getattr(args, "provider", None)
    if command == "upscale":
        tool = args.tool
        if tool in LOCAL_TOOLS:
            return LOCAL_TOOLS[tool]
        if provider == "local":
            if tool == "esrgan":  # the default tool; Real-ESRGAN is its local counterpart
                return "realesrgan"
            raise UsageError(
                f"--tool {tool} runs on fal; on this machine use --tool "
                f"{', '.join(LOCAL_TOOLS)} (see 'twat-genai upscale --help')"
            )
        return None
    if command == "canny" and provider == "local":
        return "canny"
    if command == "outpaint" and getattr(args, "tool", None) == "local":
        return "outpaint-classical"
    if provider == "local":
        raise UsageError(f"{command} has no local form; drop --provider local")
    return None


def local_spec(args: argparse.Namespace, model: str) -> Spec:
    """The generic job a local form of a fal command is."""
    from twat_genai.jobs.requests import Spec

    params: dict[str, Any] = {}
    scale = getattr(args, "scale", None)
    if scale is not None:
        params["scale"] = int(scale) if float(scale).is_integer() else scale
    prompt = args.prompts if getattr(args, "prompts", None) is not None else args.prompt
    if prompt:
        output.warn(f"local:{model} takes no prompt; ignored")
    size = None
    if model == "outpaint-classical":
        size = f"{args.target_width}x{args.target_height}"
    return Spec(
        prompt=None,
        model=f"local:{model}",
        images=[args.input_image],
        image_size=size,
        params=params,
    )


def preprocess_locally(args: argparse.Namespace) -> None:
    """``canny --preprocess local``: make the edge map here, keep it in the output folder (so
    the sidecar's input can be checked and rerun), and send it as the control image."""
    import asyncio

    from twat_genai.core.inputs import ImageInput
    from twat_genai.core.media import encode_png
    from twat_genai.providers.inputs import read_input
    from twat_genai.providers.local import canny
    from twat_genai.providers.local.provider import LocalProvider

    source = ImageInput.from_any(args.input_image)

    async def read() -> bytes:
        async with LocalProvider() as provider:
            data, _, _ = await read_input(source, provider.fetcher)
        return data

    edges = canny(asyncio.run(read()))
    folder = Path(args.output_dir or "generated_images")
    if getattr(args, "output", None):
        folder = folder / args.output
    made = folder / MADE_INPUTS / f"{source.stem or 'input'}-edges.png"
    made.parent.mkdir(parents=True, exist_ok=True)
    made.write_bytes(encode_png(edges))
    if args.filename_prefix is None:
        args.filename_prefix = source.stem
    output.note(f"control image made here: {made}")
    args.input_image = str(made)


__all__ = ["LOCAL_TOOLS", "local_model", "local_spec", "preprocess_locally"]
