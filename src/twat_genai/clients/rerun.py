"""``rerun``: the same request again from a sidecar: same provider, model, parameters and seed
(``seed="random"`` for a variation), the local inputs checked by hash first. Sidecars of every
schema version are read; one written before inputs were hashed is rerun with a warning."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

from twat_genai.core.errors import UsageError
from twat_genai.core.models import (
    BackgroundRemovalRequest,
    ImageEditRequest,
    ImageGenerationRequest,
    Request,
    VideoGenerationRequest,
)
from twat_genai.jobs.pipeline import Job, RunOptions, run_jobs
from twat_genai.jobs.runner import Summary


def read_sidecar(path: Path | str) -> dict[str, Any]:
    """A sidecar's record; a usage error naming the file when it is not one."""
    file = Path(path).expanduser()
    if file.suffix != ".json":
        file = file.with_suffix(".json")
    try:
        record = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"rerun: cannot read {file} ({exc.strerror})") from None
    except ValueError as exc:
        raise UsageError(f"rerun: {file} is not JSON ({exc})") from None
    if not isinstance(record, dict) or "provider" not in record or "request" not in record:
        raise UsageError(f"rerun: {file} is not a twat-genai sidecar (no provider or request)")
    return record


def request_of(record: dict[str, Any], seed: int | str | None = None) -> tuple[Request, list[str]]:
    """The neutral request a sidecar recorded (seed replaced when asked) and warnings about
    inputs that could not be checked."""
    data = dict(record["request"])
    if seed == "random":
        data["seed"] = random.randint(0, 2**31 - 1) if "seed" in data else None
    elif seed is not None:
        data["seed"] = int(seed)
    warnings = check_inputs(record)
    kind: type[Request]
    if "images" in data:
        kind = ImageEditRequest
    elif "image" in data:
        kind = BackgroundRemovalRequest
    elif "n" in data:  # every image request records its n; a video request has none
        kind = ImageGenerationRequest
    else:
        kind = VideoGenerationRequest
    try:
        return kind.model_validate(data), warnings
    except ValueError as exc:
        raise UsageError(f"rerun: the recorded request does not load ({exc})") from None


def check_inputs(record: dict[str, Any]) -> list[str]:
    """Refuse when a local input changed since the sidecar was written (its sha256 differs);
    warn when the sidecar holds no hash to check against."""
    warnings = []
    for entry in record.get("inputs") or []:
        if not isinstance(entry, dict):
            warnings.append(f"input {entry} was not hashed by the run that made this file")
            continue
        source, digest = entry.get("source", ""), entry.get("sha256")
        path = Path(source)
        if digest is None or source.startswith(("http://", "https://", "data:")):
            if digest is None:
                warnings.append(f"input {source} has no recorded hash; not checked")
            continue
        if not path.is_file():
            raise UsageError(f"rerun: the input {source} is gone; restore it to rerun")
        if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            raise UsageError(
                f"rerun: the input {source} changed since the file was made (sha256 differs)"
            )
    return warnings


async def arerun(
    sidecar: Path | str,
    *,
    seed: int | str | None = None,
    options: RunOptions | None = None,
) -> Summary:
    """Run a sidecar's request again (not journaled: each rerun is a new file)."""
    from twat_genai.clients.generate import open_provider
    from twat_genai.providers.registry import get_provider_class

    record = read_sidecar(sidecar)
    request, warnings = request_of(record, seed)
    cls = get_provider_class(str(record["provider"]))
    options = options or RunOptions()
    options.command = "rerun"
    job = record.get("job") or {}
    meta = {
        "command": "rerun",
        "rerun_of": str(Path(sidecar)),
        "original_prompt": record.get("original_prompt"),
        "prompt_template": record.get("prompt_template") or job.get("prompt_template"),
    }
    label = getattr(request, "prompt", "") or str(record.get("model", "rerun"))
    async with open_provider(cls, dry_run=options.dry_run) as provider:
        return await run_jobs(provider, [Job(request, label, meta, warnings)], options)


__all__ = ["arerun", "check_inputs", "read_sidecar", "request_of"]
