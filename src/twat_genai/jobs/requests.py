"""Neutral requests from the generic settings (``generate``'s flags, a ``--batch`` line, the
Python ``generate()``): the request type follows the model's kind in the catalog, or, for a model
the catalog does not hold, whether input images were given.

:class:`Spec` is one job as a user writes it (prompt template, model, inputs, settings,
``params``); :func:`requests_for` expands its prompt and builds one request per prompt.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twat_genai.core.errors import UsageError, validated
from twat_genai.core.inputs import ImageInput
from twat_genai.core.models import (
    BackgroundRemovalRequest,
    ImageEditRequest,
    ImageGenerationRequest,
    Request,
    VideoGenerationRequest,
)

if TYPE_CHECKING:
    from twat_genai.providers.catalog import ModelInfo

#: Keys a ``--batch`` line may hold (besides these spellings' aliases below).
SPEC_KEYS = (
    "prompt",
    "model",
    "provider",
    "images",
    "mask",
    "image_size",
    "aspect_ratio",
    "seed",
    "num_images",
    "negative_prompt",
    "resolution",
    "guidance_scale",
    "num_inference_steps",
    "strength",
    "lora",
    "params",
)
#: Request fields by the names the caller gave them (``generate()``, a ``--batch`` line).
_NAMES = {"n": "num_images", "size": "image_size", "first_frame": "images", "last_frame": "images"}
_ALIASES = {
    "prompts": "prompt",
    "input_image": "images",
    "image": "images",
    "inputs": "images",
    "size": "image_size",
    "n": "num_images",
    "loras": "lora",
}


@dataclass
class Spec:
    """One job as written by a user; ``prompt`` may use the prompt grammar."""

    prompt: str | list[str] | None = None
    model: str | None = None
    provider: str | None = None
    images: list[Any] = field(default_factory=list)
    mask: Any = None
    image_size: Any = None
    aspect_ratio: str | None = None
    seed: int | None = None
    num_images: int = 1
    negative_prompt: str | None = None
    resolution: str | None = None
    guidance_scale: float | None = None
    num_inference_steps: int | None = None
    strength: float | None = None
    lora: Any = None
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, where: str = "") -> Spec:
        """A spec from a ``--batch`` line (JSON object): unknown keys are a usage error."""
        values: dict[str, Any] = {}
        for key, value in data.items():
            name = _ALIASES.get(key, key)
            if name not in SPEC_KEYS:
                raise UsageError(f"{where}unknown key {key!r}: use {', '.join(SPEC_KEYS)}")
            values[name] = value
        images = values.get("images")
        if images is not None and not isinstance(images, list):
            values["images"] = [images]
        params = values.get("params")
        if params is not None and not isinstance(params, dict):
            raise UsageError(f"{where}params must be a JSON object")
        return cls(**values)

    def merged(self, defaults: Spec) -> Spec:
        """This spec with the settings it leaves unset taken from ``defaults`` (the flags)."""
        out = Spec(**vars(self))
        for name, value in vars(defaults).items():
            current = getattr(out, name)
            if name == "params":
                out.params = {**value, **current}
            elif current in (None, [], {}) or (name == "num_images" and current == 1):
                setattr(out, name, value)
        return out


def parse_param(text: str) -> tuple[str, Any]:
    """``key=value`` with a typed value: numbers, ``true``/``false``, ``null`` and JSON
    objects/arrays; anything else is the string as given."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise UsageError(f"--param {text!r}: write it as key=value, e.g. --param raw=true")
    value = raw.strip()
    if value[:1] in "{[":
        try:
            return key, json.loads(value)
        except ValueError as exc:
            raise UsageError(f"--param {key}: {value!r} is not valid JSON ({exc})") from None
    try:
        parsed = json.loads(value)
    except ValueError:
        return key, raw
    return key, parsed if not isinstance(parsed, str) else raw


def read_batch(path: Path | str) -> list[Spec]:
    """The specs of a JSON-lines file: one JSON object per line (blank lines and ``#``
    comments skipped). Any bad line is a usage error naming its number."""
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--batch {file}: cannot read it ({exc.strerror})") from None
    specs = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        where = f"--batch {file.name} line {number}: "
        try:
            data = json.loads(stripped)
        except ValueError as exc:
            raise UsageError(f"{where}not JSON ({exc})") from None
        if not isinstance(data, dict):
            raise UsageError(f"{where}expected a JSON object")
        specs.append(Spec.from_mapping(data, where=where))
    if not specs:
        raise UsageError(f"--batch {file}: no jobs in it (one JSON object per line)")
    return specs


def build_request(spec: Spec, prompt: str, model: str, info: ModelInfo) -> Request:
    """The neutral request of one expanded prompt on ``model`` (``info`` is its entry)."""
    from twat_genai.core.lora import parse_lora_spec
    from twat_genai.core.sizes import ImageSizes, parse_image_size

    images = [ImageInput.from_any(i) for i in spec.images]
    mask = ImageInput.from_any(spec.mask) if spec.mask is not None else None
    kind = info.kind if info.known else ("edit" if images else "text-to-image")
    selection = parse_lora_spec(spec.lora) if spec.lora else None
    final = selection.apply_to_prompt(prompt) if selection and selection.loras else prompt
    common: dict[str, Any] = {"model": model, "seed": spec.seed, "options": dict(spec.params)}
    if kind == "video":
        if len(images) > 2:
            raise UsageError(
                f"{model} takes at most a first and a last frame ({len(images)} given)"
            )
        return validated(
            VideoGenerationRequest,
            {
                **common,
                "prompt": final,
                "negative_prompt": spec.negative_prompt,
                "first_frame": images[0] if images else None,
                "last_frame": images[1] if len(images) > 1 else None,
                "resolution": spec.resolution,
                "guidance_scale": spec.guidance_scale,
                "num_inference_steps": spec.num_inference_steps,
            },
            names=_NAMES,
        )
    if kind == "background-removal":
        if len(images) != 1:
            raise UsageError(f"{model} removes the background of one image: give one --image")
        return validated(BackgroundRemovalRequest, {**common, "image": images[0]}, names=_NAMES)
    size: dict[str, Any] = {}
    if spec.image_size is not None:
        parsed = parse_image_size(spec.image_size)
        if isinstance(parsed, ImageSizes):
            size = {"size": parsed.wh, "size_preset": parsed.name}
        else:
            size = {"size": parsed}
    fields: dict[str, Any] = {
        **common,
        **size,
        "prompt": final,
        "negative_prompt": spec.negative_prompt,
        "aspect_ratio": spec.aspect_ratio,
        "n": spec.num_images,
        "guidance_scale": spec.guidance_scale,
        "num_inference_steps": spec.num_inference_steps,
        "loras": selection.loras if selection else [],
    }
    if spec.resolution is not None:
        fields["options"] = {"resolution": spec.resolution, **fields["options"]}
    if kind in ("edit", "upscale", "outpaint") and not images:
        raise UsageError(f"{model} works on an input image: give one with --image PATH_OR_URL")
    if images:
        if info.known and not (info.inputs or info.kind != "text-to-image"):
            raise UsageError(f"{model} takes no input image: drop --image or choose an edit model")
        return validated(
            ImageEditRequest,
            {**fields, "images": images, "mask": mask, "strength": spec.strength},
            names=_NAMES,
        )
    if mask is not None:
        raise UsageError("--mask needs an input image to edit (--image)")
    if spec.strength is not None:
        raise UsageError("--strength applies to an input image: give one with --image")
    return validated(ImageGenerationRequest, fields, names=_NAMES)


def image_list(values: Sequence[Any] | None) -> list[Any]:
    """Input images given once or several times, as a list."""
    if values is None:
        return []
    if isinstance(values, (str, bytes, Path, ImageInput)):
        return [values]
    return list(values)


__all__ = ["SPEC_KEYS", "Spec", "build_request", "image_list", "parse_param", "read_batch"]
