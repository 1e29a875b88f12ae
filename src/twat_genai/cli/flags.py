"""Every command's flags (``--snake_case`` and ``--kebab-case`` alike) and the command table.
Imports nothing heavy: ``--help`` stays fast."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from twat_genai.cli.argtypes import (
    above_zero,
    at_least_one,
    fraction,
    not_blank,
    not_negative,
    number,
    one_of,
    port,
    seed_or_random,
    whole,
)

Builder = Callable[[argparse.ArgumentParser], None]


def _opt(p: argparse.ArgumentParser | argparse._ArgumentGroup, name: str, **kw: object) -> None:
    """``--name`` plus its hyphen spelling, one destination."""
    flags = [f"--{name}"]
    if "_" in name:
        flags.append(f"--{name.replace('_', '-')}")
    p.add_argument(*flags, dest=name, **kw)  # type: ignore[arg-type]


def _flag(p: argparse.ArgumentParser | argparse._ArgumentGroup, name: str, help: str) -> None:
    _opt(p, name, action="store_true", default=False, help=help)


def _run_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("output and run")
    _opt(
        g,
        "output_dir",
        metavar="DIR",
        help="folder for files and sidecars (default: generated_images)",
    )
    _opt(g, "output", metavar="SUBFOLDER", help="subfolder inside --output_dir")
    _opt(g, "filename_prefix", metavar="TEXT", help="text at the start of every file name")
    _opt(g, "filename_suffix", metavar="TEXT", help="text before the extension of every file name")
    _opt(
        g,
        "name",
        metavar="TEMPLATE",
        help="file names from {prompt} {index} {seed} {model} {date} {id} (default {prompt}-{id})",
    )
    _opt(
        g,
        "concurrency",
        type=at_least_one,
        metavar="N",
        help="items run at once (default: the provider's)",
    )
    _opt(
        g,
        "expand_limit",
        type=at_least_one,
        default=1000,
        metavar="N",
        help="refuse prompts expanding to more (default 1000)",
    )
    _flag(g, "json", "one JSON object per result on stdout")
    _flag(g, "dry_run", "show each item's endpoint, exact arguments and cost; call nothing")
    _opt(
        g,
        "budget",
        type=not_negative,
        metavar="USD",
        help="refuse to start above this estimated cost, stop starting items once it is spent",
    )
    _opt(
        g,
        "timeout",
        type=above_zero,
        metavar="SECONDS",
        help="bound each item from start to saved (default 600, video 3600)",
    )
    _flag(g, "retry_lost", "send again an item whose answer was lost after submit (may pay twice)")
    _flag(g, "sandbox", "run against the built-in emulator (no API key needed)")
    _flag(g, "verbose", "debug logging on stderr (and save intermediate masks)")
    _flag(g, "quiet", "print nothing but errors")
    _flag(g, "fresh", "ignore and reset the journal: re-run items already done in this folder")
    _flag(g, "allow_retired", "send a model the catalog says is shut down (if it is stale)")
    _flag(g, "gallery", "write or refresh the folder's gallery page (index.html) at the end")


def _prompt_options(p: argparse.ArgumentParser, *, positional: bool = True) -> None:
    if positional:
        p.add_argument("prompt", nargs="?", help="the prompt (same as --prompts)")
    _opt(
        p,
        "prompts",
        metavar="TEXT",
        help="prompt; ';' separates prompts, {a,b} expands to each option",
    )
    _opt(p, "negative_prompt", metavar="TEXT", help="what to avoid")
    _opt(p, "seed", type=whole, help="random seed")


def _flux_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("FLUX settings")
    _opt(
        g,
        "image_size",
        metavar="SIZE",
        help="preset (SQ SQL SDV HDV SD HD PORT LAND WIDE ULTRA) or W,H / WxH; default SQ",
    )
    _opt(
        g,
        "lora",
        type=_LORA,
        metavar="SPEC",
        help="LoRA: library key, URL or repo id, ':scale' optional, ';' for several",
    )
    _opt(g, "guidance_scale", type=number, metavar="X", help="default 3.5")
    _opt(g, "num_inference_steps", type=at_least_one, metavar="N", help="default 28")
    _opt(
        g,
        "num_images",
        type=at_least_one,
        default=1,
        metavar="N",
        help="images per prompt (default 1)",
    )
    _opt(
        g, "output_format", type=_FORMATS, choices=["jpeg", "png"], help="image format fal returns"
    )
    _flag(g, "enable_safety_checker", "ask fal to flag NSFW outputs (flagged images are not saved)")


def _input_option(p: argparse.ArgumentParser, required: bool = True) -> None:
    _opt(
        p,
        "input_image",
        metavar="PATH_OR_URL",
        required=required,
        help="input image: local file or URL",
    )


_LORA = not_blank("give a library key, URL or owner/name repo id, or drop --lora")
_FORMATS = one_of(("jpeg", "png"))
#: The argparse type of each kind of upscaler option.
_TYPES: dict[type, object] = {int: whole, float: number}

#: Upscaler options: flag -> (type, help). Names match UpscaleConfig fields.
UPSCALE_OPTIONS: dict[str, tuple[type, str]] = {
    "esrgan_model": (
        str,
        "esrgan: RealESRGAN_x4plus (default), _x2plus, _x4plus_anime_6B, _x4_v3, _x4_wdn_v3, _x4_anime_v3",
    ),
    "esrgan_tile": (int, "esrgan: tile size (0 = none)"),
    "esrgan_face": (bool, "esrgan: face enhancement"),
    "esrgan_output_format": (str, "esrgan: png or jpeg"),
    "clarity_creativity": (float, "clarity: creativity (0.35)"),
    "clarity_resemblance": (float, "clarity: resemblance (0.6)"),
    "clarity_guidance_scale": (float, "clarity: guidance (4)"),
    "clarity_num_inference_steps": (int, "clarity: steps (18)"),
    "aura_sr_overlapping_tiles": (bool, "aura_sr: overlapping tiles"),
    "aura_sr_checkpoint": (str, "aura_sr: v1 or v2"),
    "ideogram_resemblance": (int, "ideogram: resemblance 1-100 (50)"),
    "ideogram_detail": (int, "ideogram: detail 1-100 (50)"),
    "ideogram_expand_prompt": (bool, "ideogram: let the model expand the prompt"),
    "ccsr_scale": (float, "ccsr: scale (2)"),
    "ccsr_steps": (int, "ccsr: steps (50)"),
    "ccsr_tile_diffusion": (str, "ccsr: none, mix or gaussian"),
    "ccsr_color_fix_type": (str, "ccsr: none, wavelet or adain (adain)"),
    "recraft_sync_mode": (bool, "recraft: return the image inline"),
}
UPSCALE_TOOL_NAMES = (
    "aura_sr", "ccsr", "clarity", "drct", "esrgan", "ideogram", "recraft_clarity", "recraft_creative",
)  # fmt: skip
#: Upscalers that run on this machine (the ``local`` provider), no key needed.
LOCAL_UPSCALE_TOOLS = ("realesrgan", "realesrgan-x4plus", "lanczos")


def _provider_option(p: argparse.ArgumentParser) -> None:
    _opt(
        p,
        "provider",
        type=one_of(("fal", "local")),
        choices=["fal", "local"],
        help="fal (default) or local: run on this machine, no key or network",
    )


def _text(p: argparse.ArgumentParser) -> None:
    _prompt_options(p)
    _flux_options(p)
    _run_options(p)


def _image(p: argparse.ArgumentParser) -> None:
    _input_option(p)
    _prompt_options(p)
    _opt(
        p,
        "strength",
        type=fraction,
        default=0.75,
        help="how far to move from the input, 0-1 (0.75)",
    )
    _flux_options(p)
    _run_options(p)


def _control(p: argparse.ArgumentParser) -> None:
    _input_option(p)
    _prompt_options(p)
    _flux_options(p)
    _run_options(p)


def _canny(p: argparse.ArgumentParser) -> None:
    _control(p)
    _provider_option(p)
    _opt(
        p,
        "preprocess",
        type=one_of(("local",)),
        choices=["local"],
        help="local: make the edge map here and send it to fal as the control image",
    )


def _upscale(p: argparse.ArgumentParser) -> None:
    _input_option(p)
    _prompt_options(p)
    _opt(
        p,
        "tool",
        type=one_of(UPSCALE_TOOL_NAMES + LOCAL_UPSCALE_TOOLS),
        choices=UPSCALE_TOOL_NAMES + LOCAL_UPSCALE_TOOLS,
        default="esrgan",
        help="upscaler (default esrgan); realesrgan, realesrgan-x4plus and lanczos run here",
    )
    _opt(p, "scale", type=above_zero, help="upscale factor for tools that take one")
    _provider_option(p)
    g = p.add_argument_group("tool options")
    for name, (kind, help_text) in UPSCALE_OPTIONS.items():
        if kind is bool:
            _flag(g, name, help_text)
        else:
            _opt(g, name, type=_TYPES.get(kind, kind), help=help_text)
    _run_options(p)


def _outpaint(p: argparse.ArgumentParser) -> None:
    _input_option(p)
    _prompt_options(p)
    _opt(p, "target_width", type=at_least_one, required=True, metavar="W", help="canvas width")
    _opt(p, "target_height", type=at_least_one, required=True, metavar="H", help="canvas height")
    _opt(
        p,
        "tool",
        type=one_of(("bria", "flux", "local")),
        choices=["bria", "flux", "local"],
        default="bria",
        help="bria (default, with GenFill border pass), flux, or local: a classical fill "
        "made here (OpenCV inpainting, not generation)",
    )
    _opt(
        p,
        "border",
        type=not_negative,
        default=5.0,
        metavar="PERCENT",
        help="bria GenFill border, %% of the shorter side (5; 0 = off)",
    )
    _opt(p, "num_images", type=at_least_one, default=1, metavar="N", help="images (default 1)")
    g = p.add_argument_group("flux settings")
    _opt(g, "lora", type=_LORA, metavar="SPEC", help="LoRA (flux only)")
    _opt(g, "guidance_scale", type=number, default=3.5, metavar="X")
    _opt(g, "num_inference_steps", type=at_least_one, default=28, metavar="N")
    _run_options(p)


def _common_gen(p: argparse.ArgumentParser) -> None:
    _opt(p, "seed", type=whole, help="random seed")
    _opt(p, "negative_prompt", metavar="TEXT", help="what to avoid")
    _opt(p, "prompts", metavar="TEXT", help="prompt(s), same grammar as 'text' (instead of PROMPT)")


def _chutes_image(p: argparse.ArgumentParser) -> None:
    p.add_argument("prompt", nargs="?", help="the prompt ({a,b} and ';' expand to several jobs)")
    _opt(
        p,
        "model",
        default="FLUX.1-dev",
        help="Chutes image model (default FLUX.1-dev; 'hidream' for HiDream)",
    )
    _opt(p, "width", type=at_least_one, default=1024, help="128-2048 (1024)")
    _opt(p, "height", type=at_least_one, default=1024, help="128-2048 (1024)")
    _opt(p, "guidance_scale", type=number, metavar="X", help="1-20")
    _opt(p, "steps", type=at_least_one, metavar="N", help="inference steps, 1-50")
    _common_gen(p)
    _run_options(p)


def _chutes_video(p: argparse.ArgumentParser) -> None:
    p.add_argument("prompt", nargs="?", help="the prompt")
    _opt(
        p,
        "resolution",
        help="540P (default) or 720P; first+last frame: 1280*720, 832*480 (default), ...",
    )
    _opt(p, "first_frame", metavar="IMAGE", help="start from this image (image-to-video)")
    _opt(p, "last_frame", metavar="IMAGE", help="end on this image (needs --first_frame)")
    _opt(p, "fps", type=at_least_one, help="frames per second")
    _opt(p, "num_frames", type=at_least_one, metavar="N", help="number of frames")
    _opt(p, "guidance_scale", type=number, metavar="X")
    _opt(p, "steps", type=at_least_one, metavar="N", help="inference steps")
    _common_gen(p)
    _run_options(p)


def _rembg(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", nargs="?", help="input image (same as --input_image)")
    _input_option(p, required=False)
    _run_options(p)


def _openai_image(p: argparse.ArgumentParser) -> None:
    p.add_argument("prompt", nargs="?", help="the prompt")
    _opt(p, "model", default="gpt", help="gpt (= gpt-image-2, default), nano, or any model name")
    _opt(p, "width", type=at_least_one, help="output width")
    _opt(p, "height", type=at_least_one, help="output height")
    _opt(p, "n", type=at_least_one, default=1, help="images per prompt (1)")
    _opt(p, "quality", help="low, medium, high or auto")
    _opt(p, "background", help="transparent, opaque or auto")
    _opt(p, "output_format", help="png, jpeg or webp")
    _opt(
        p,
        "input",
        action="append",
        metavar="IMAGE",
        help="input image to edit (repeat for several)",
    )
    _opt(p, "mask", metavar="IMAGE", help="mask for the first input image (PNG)")
    _opt(p, "prompts", metavar="TEXT", help="prompt(s) (instead of PROMPT)")
    _run_options(p)


def _gemini_transform(p: argparse.ArgumentParser) -> None:
    p.add_argument("subject", help="the image to transform")
    p.add_argument("reference", help="the reference image (lighting, style, ...)")
    p.add_argument("prompt", nargs="?", help="what to do")
    _opt(p, "model", default="nano", help="nano/flash31 (default), flash25, pro3, or a model name")
    _opt(p, "aspect_ratio", help="e.g. 16:9 (default: the subject's, rounded to a supported ratio)")
    _opt(p, "image_size", help="1K, 2K or 4K (3-series models)")
    _opt(p, "prompts", metavar="TEXT", help="prompt(s) (instead of PROMPT)")
    _run_options(p)


def _emulator(p: argparse.ArgumentParser) -> None:
    _opt(p, "host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    _opt(p, "port", type=port, default=8765, help="port (0 = any free port; default 8765)")
    _opt(
        p,
        "latency",
        type=not_negative,
        default=0.0,
        metavar="SECONDS",
        help="processing time per job",
    )
    _opt(
        p,
        "capacity",
        type=at_least_one,
        default=8,
        metavar="N",
        help="jobs processed at once per endpoint",
    )
    # default None: the TWAT_GENAI_EMULATOR_* environment variables decide when a flag is absent
    _opt(
        p,
        "plain_images",
        action="store_true",
        default=None,
        help="one flat uncaptioned picture per size (benchmarks)",
    )
    _opt(
        p,
        "fetch_remote",
        action="store_true",
        default=None,
        help="fetch input URLs on any host (default: loopback only)",
    )
    _opt(
        p,
        "faults",
        metavar="SPEC",
        help="inject faults: [PROVIDER:]KIND=RATE,...;... with kinds 429 5xx reset reset_after "
        "truncate drip, and seed=N (e.g. 429=0.2,reset=0.02,seed=7 or fal:5xx=0.1)",
    )


def _gallery(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder", help="output folder of a run (its files, sidecars and journal)")
    p.add_argument("-o", "--out", metavar="FILE.html", help="the page (default FOLDER/index.html)")
    _flag(p, "open", "open the page in the web browser")


def _generate(p: argparse.ArgumentParser) -> None:
    p.add_argument("prompt", nargs="?", help="the prompt ({a,b} and ';' expand to several jobs)")
    _opt(p, "prompts", metavar="TEXT", help="prompt(s), same grammar (instead of PROMPT)")
    _opt(
        p,
        "model",
        metavar="MODEL",
        help="model id, alias or provider:model, e.g. fal-ai/flux/dev (see 'twat-genai models')",
    )
    _opt(p, "provider", metavar="NAME", help="the provider, when the model id does not say")
    p.add_argument(
        "--input_image",
        "--input-image",
        "--image",
        dest="input_image",
        action="append",
        metavar="PATH_OR_URL",
        help="input image (repeat for several)",
    )
    _opt(p, "mask", metavar="PATH_OR_URL", help="mask image: white marks the area to change")
    p.add_argument(
        "--param",
        action="append",
        metavar="KEY=VALUE",
        help="a provider argument sent as given; numbers, true/false, null and JSON are typed",
    )
    g = p.add_argument_group("generation settings (mapped by the model's catalog entry)")
    g.add_argument(
        "--image_size",
        "--image-size",
        "--size",
        dest="image_size",
        metavar="SIZE",
        help="preset (SQ HD ...) or W,H / WxH",
    )
    _opt(g, "aspect_ratio", metavar="W:H", help="e.g. 16:9")
    _opt(g, "seed", type=whole, help="random seed")
    g.add_argument(
        "--num_images",
        "--num-images",
        "-n",
        dest="num_images",
        type=at_least_one,
        default=1,
        metavar="N",
        help="images per prompt (default 1)",
    )
    _opt(g, "negative_prompt", metavar="TEXT", help="what to avoid")
    _opt(g, "resolution", metavar="TIER", help="the provider's own resolution tier, e.g. 2K")
    _opt(g, "guidance_scale", type=number, metavar="X")
    _opt(g, "num_inference_steps", type=at_least_one, metavar="N")
    _opt(g, "strength", type=fraction, metavar="X", help="how far to move from the input, 0-1")
    _opt(
        g,
        "lora",
        type=_LORA,
        metavar="SPEC",
        help="LoRA: library key, URL or repo id, ':scale' optional",
    )
    _opt(p, "batch", metavar="FILE.jsonl", help="one job per line: {prompt, model, params, ...}")
    _run_options(p)


def _rerun(p: argparse.ArgumentParser) -> None:
    p.add_argument("sidecar", help="a file's sidecar (FILE.json, or the file itself)")
    _opt(
        p,
        "seed",
        type=seed_or_random,
        metavar="N|random",
        help="the recorded seed (default), another one, or 'random' for a variation",
    )
    _run_options(p)


def _models(p: argparse.ArgumentParser) -> None:
    _opt(p, "provider", metavar="NAME", help="only this provider's models")
    _opt(p, "kind", metavar="KIND", help="text-to-image, edit, upscale, outpaint, video, ...")
    _flag(p, "all", "include retired models")
    _flag(p, "json", "one JSON object per model")


def _aliases(p: argparse.ArgumentParser) -> None:
    actions = ("list", "set", "remove")
    p.add_argument(
        "action", nargs="?", type=one_of(actions), choices=actions, default="list", help="(list)"
    )
    p.add_argument("name", nargs="?", help="the alias")
    p.add_argument("target", nargs="?", help="the model it names (set)")
    _flag(p, "json", "machine-readable output")


def _none(p: argparse.ArgumentParser) -> None:
    _flag(p, "json", "machine-readable output")


def _metadata(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="FILE", help="images, videos or any other files")
    _flag(p, "json", "one JSON object per file")


#: name -> (aliases, help, builder). Provider commands of later modules register here too.
COMMANDS: dict[str, tuple[tuple[str, ...], str, Builder]] = {
    "generate": ((), "any model of any provider: text, image, edit, upscale, video", _generate),
    "text": ((), "text to image (fal FLUX LoRA)", _text),
    "image": ((), "image to image (fal FLUX LoRA)", _image),
    "canny": ((), "generate following the input's edges (fal FLUX canny)", _canny),
    "depth": ((), "generate following the input's depth (fal FLUX depth)", _control),
    "upscale": ((), "upscale with one of 8 fal tools", _upscale),
    "outpaint": ((), "extend an image onto a larger canvas (fal Bria or Flux)", _outpaint),
    "chutes_image": (("chutes-image",), "text to image on Chutes", _chutes_image),
    "chutes_video": (("chutes-video",), "text or frames to video on Chutes", _chutes_video),
    "rembg": (("remove-background", "remove_background"), "remove the background (Chutes)", _rembg),
    "openai_image": (
        ("openai-image",),
        "generate or edit with an OpenAI-compatible images API",
        _openai_image,
    ),
    "gemini_transform": (
        ("gemini-transform",),
        "transform a subject after a reference (Gemini)",
        _gemini_transform,
    ),
    "gallery": ((), "write an HTML page of a folder's outputs, with thumbnails", _gallery),
    "emulator": ((), "run the provider emulators on 127.0.0.1 (prints export lines)", _emulator),
    "rerun": ((), "make a file again from its sidecar: same request, seed and inputs", _rerun),
    "models": (
        ("list-models", "list_models"),
        "list the model catalog: ids, kinds, fields and prices",
        _models,
    ),
    "aliases": ((), "list model aliases; 'aliases set NAME MODEL' adds your own", _aliases),
    "list-providers": (
        ("list_providers",),
        "list providers, the key each needs, and whether it is set",
        _none,
    ),
    "metadata": (
        (),
        "show a file's embedded parameters, sidecar and Content Credentials",
        _metadata,
    ),
    "loras": ((), "list the LoRA library: trigger phrases, LoRAs and the file each is from", _none),
    "sizes": ((), "list the --image_size presets and their pixels", _none),
    "keys": ((), "show each provider's key (last 4 characters) and where it came from", _none),
    "version": ((), "print the version", _none),
}
