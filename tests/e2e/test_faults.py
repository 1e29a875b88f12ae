"""The client under injected faults, against the emulator (real HTTP, real files): every item
of a run over the four providers is saved once, valid, and paid for once; an answer lost after a
paid submission is never paid again silently; stuck and dripping jobs end at their deadline.
The larger run is ``bench/faults.py``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from twat_genai.testing import EmulatorServer

from .test_cli_providers import providers_env  # noqa: F401 - the fixture

Run = Callable[..., tuple[int, str, str]]
Log = Callable[[], list[dict[str, Any]]]

MODELS = {
    "fal": "fal-ai/flux/schnell",
    "chutes": "FLUX.1-dev",
    "openai": "gpt-image-2",
    "gemini": "gemini-nano-banana-2.1",
}
PER_PROVIDER = 5

pytestmark = pytest.mark.usefixtures("fal_env", "providers_env")


@pytest.fixture(autouse=True)
def _no_faults_after(emulator: EmulatorServer) -> Any:
    yield
    emulator.set_faults(None)


def set_faults(emulator: EmulatorServer, spec: str) -> None:
    emulator.set_faults(spec)


def count(emulator: EmulatorServer, key: str) -> int:
    return sum(emulator.stats.get(key, provider) for provider in MODELS)


def batch(path: Path) -> Path:
    """A JSONL batch of :data:`PER_PROVIDER` items for each provider."""
    lines = [
        json.dumps({"prompt": f"{provider} lighthouse {i}", "model": model})
        for provider, model in MODELS.items()
        for i in range(PER_PROVIDER)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def submissions(emulator: EmulatorServer) -> dict[str, int]:
    """Jobs the emulator created (billed), per provider."""
    return {p: emulator.stats.get("submissions", p) for p in MODELS}


def valid_images(folder: Path) -> list[Path]:
    images = sorted(p for p in folder.iterdir() if p.suffix in (".png", ".jpg", ".webp"))
    for path in images:
        with Image.open(path) as img:
            img.load()  # the whole file decodes: nothing cut short was saved
        assert path.with_suffix(".json").is_file()
    assert not [p for p in folder.iterdir() if ".twat-tmp-" in p.name]
    return images


def test_a_run_under_faults_saves_every_item_once(run_cli: Run, emulator: EmulatorServer) -> None:
    set_faults(emulator, "429=0.1,5xx=0.05,reset=0.05,truncate=0.1,seed=11")
    code, out, err = run_cli(
        "generate", "--batch", str(batch(Path("jobs.jsonl"))), "--concurrency", "6"
    )
    assert code == 0, err
    assert len(out.split()) == len(valid_images(Path("generated_images"))) == 4 * PER_PROVIDER
    assert submissions(emulator) == dict.fromkeys(MODELS, PER_PROVIDER)
    injected = sum(count(emulator, f"fault_{k}") for k in ("429", "5xx", "reset", "truncate"))
    assert injected > 0 and "retries" in err  # faults struck and the summary counts the retries


def test_a_lost_answer_is_not_paid_again_without_retry_lost(
    run_cli: Run, emulator: EmulatorServer
) -> None:
    set_faults(emulator, "reset_after=0.25,seed=5")
    code, _, err = run_cli("generate", "--batch", str(batch(Path("jobs.jsonl"))))
    lost = [
        line
        for line in err.splitlines()
        if "answer lost after submit (the job may have been billed)" in line
    ]
    saved = valid_images(Path("generated_images"))
    assert lost and code == 1
    assert len(saved) + len(lost) == 4 * PER_PROVIDER
    # One submission per item: the lost ones were paid for once and never sent again.
    assert sum(submissions(emulator).values()) == 4 * PER_PROVIDER


def test_retry_lost_resubmits_and_the_summary_counts_it(
    run_cli: Run, emulator: EmulatorServer
) -> None:
    set_faults(emulator, "reset_after=0.25,seed=5")
    code, _, err = run_cli("generate", "--batch", str(batch(Path("jobs.jsonl"))), "--retry-lost")
    assert code == 0, err
    assert len(valid_images(Path("generated_images"))) == 4 * PER_PROVIDER
    lost = count(emulator, "fault_reset_after")
    assert lost > 0
    assert sum(submissions(emulator).values()) == 4 * PER_PROVIDER + lost
    assert f"{lost} resubmitted after a lost answer" in err


def test_a_stuck_job_ends_at_its_deadline_and_is_cancelled(run_cli: Run, requests_log: Log) -> None:
    started = time.monotonic()
    code, _, err = run_cli("text", "[emulate:stuck] a cat", "--timeout", "3")
    assert time.monotonic() - started < 10
    assert code == 1
    assert "timed out after 3 s (queued 3 s)" in err, err
    assert any(e["method"] == "PUT" and e["path"].endswith("/cancel") for e in requests_log())


def test_a_dripping_download_ends_at_its_deadline_leaving_nothing(run_cli: Run) -> None:
    started = time.monotonic()
    code, _, err = run_cli("text", "[emulate:drip] a cat", "--timeout", "5")
    assert time.monotonic() - started < 12
    assert code == 1 and "timed out after 5 s" in err, err
    folder = Path("generated_images")
    left = (
        [p.name for p in folder.iterdir() if not p.name.startswith(".twat-genai-journal")]
        if folder.exists()
        else []
    )
    assert left == []
