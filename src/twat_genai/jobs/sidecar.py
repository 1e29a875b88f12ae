"""The sidecar: everything needed to trust and reproduce a file, written beside it as
``{name}.json`` (redacted by the writer).

Schema version 2 (``schema_version``) adds, to the version 1 record (provider, model, request
id, prompts, ``parameters`` sent, the neutral ``request``, ``result``, warnings, timings):
the inputs with their sha256, byte and pixel sizes and any resize before sending, the seed
(or ``"not supported"``), the prompt template and command line, usage and the cost estimate.
Readers (``rerun``, ``metadata``, the gallery) accept both versions.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from twat_genai.core.models import (
    ImageEditRequest,
    MediaFile,
    ProviderResponse,
    Request,
    VideoGenerationRequest,
)
from twat_genai.core.records import shorten

if TYPE_CHECKING:
    from twat_genai.jobs.cost import Estimate
    from twat_genai.providers.catalog import ModelInfo

SCHEMA_VERSION = 2


def input_records(request: Request, notes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each input's role and source, with what reading it showed (sha256, bytes, pixels, the
    form it was sent in when resized or converted)."""
    roles: list[tuple[str, Any]] = []
    if isinstance(request, ImageEditRequest):
        roles += [("image", i) for i in request.images]
        if request.mask is not None:
            roles.append(("mask", request.mask))
    if isinstance(request, VideoGenerationRequest):
        roles += [(r, f) for r, f in (("first_frame", request.first_frame),
                                      ("last_frame", request.last_frame)) if f is not None]  # fmt: skip
    image = getattr(request, "image", None)
    if image is not None and hasattr(image, "describe"):
        roles.append(("image", image))
    records = []
    for role, inp in roles:
        path = getattr(inp, "path", None)
        source = str(path.expanduser().resolve()) if path is not None else inp.describe()
        record: dict[str, Any] = {"role": role, "source": source}
        for note in notes:
            if note["source"] in (source, inp.describe()):
                record.update({k: v for k, v in note.items() if k != "source"})
        records.append(record)
    return records


def seed_of(info: ModelInfo, request: Request, file: MediaFile) -> Any:
    """The seed that made the file; ``"not supported"`` for a model that takes none."""
    if file.seed is not None:
        return file.seed
    if info.known and (info.seed is False or "seed" not in info.map):
        return "not supported"
    return getattr(request, "seed", None)


def build_metadata(
    request: Request,
    response: ProviderResponse,
    file: MediaFile,
    *,
    info: ModelInfo,
    warnings: list[str],
    job: dict[str, Any] | None,
    created: datetime,
    inputs: list[dict[str, Any]],
    cost: Estimate,
    timings: dict[str, float],
) -> dict[str, Any]:
    """The sidecar of one saved file."""
    from twat_genai.core.version import __version__

    job = dict(job or {})
    prompt = getattr(request, "prompt", None)
    seed = seed_of(info, request, file)
    usage_cost: dict[str, Any] = cost.record()
    billed = (response.raw or {}).get("billable_units")
    if billed is not None:
        usage_cost["billable_units"] = billed
    return {
        "schema_version": SCHEMA_VERSION,
        "provider": response.provider,
        "model": response.model,
        "request_id": response.request_id,
        "created": created.isoformat(timespec="seconds"),
        "prompt_template": job.pop("prompt_template", None),
        "original_prompt": job.pop("original_prompt", prompt),
        "prompt": prompt,
        "command_line": job.pop("command_line", None),
        "seed": seed,
        "parameters": response.sent,
        "request": shorten(request.model_dump(mode="json", exclude_none=True)),
        "inputs": inputs,
        "result": {
            "url": file.url if file.url and not file.url.startswith("data:") else None,
            "width": file.width,
            "height": file.height,
            "content_type": file.content_type,
            "seed": seed,
            "blocked": file.blocked,
            "role": file.role or "main",
            **file.extra,
        },
        "provider_result": response.raw,
        "text": response.text,
        "usage": response.usage,
        "cost": usage_cost,
        "warnings": warnings,
        "timings": {**response.timings, **timings},
        "job": job,
        "twat_genai_version": __version__,
    }


__all__ = ["SCHEMA_VERSION", "build_metadata", "input_records", "seed_of"]
