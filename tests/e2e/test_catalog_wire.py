"""Every model in the catalog, through the real CLI against the emulator: a current model runs
and saves its output, and nothing the tool sends is an argument the service would ignore; a
shut-down model is refused first, with its date, before any request."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from twat_genai.providers.catalog import ModelInfo
from twat_genai.providers.registry import load_catalog

from .test_cli_providers import providers_env  # noqa: F401 - the fixture

Run = Callable[..., tuple[int, str, str]]
Log = Callable[[], list[dict[str, Any]]]

ENTRIES = sorted(load_catalog().entries, key=lambda e: (e.provider, e.id))


def argv_for(entry: ModelInfo, image: Path, mask: Path) -> list[str]:
    """A ``generate`` command line giving the model the inputs it needs."""
    argv = ["generate", "a lighthouse at dusk", "--model", f"{entry.provider}:{entry.id}"]
    needs = set(entry.inputs)
    if entry.kind in ("upscale", "outpaint", "background-removal", "edit"):
        needs.add("image")
    if needs & {"image", "images", "first_frame"}:
        argv += ["--image", str(image)]
    if "last_frame" in needs and entry.id.endswith("flf2v"):
        argv += ["--image", str(image)]
    if "mask" in needs:
        argv += ["--mask", str(mask)]
    if entry.kind == "outpaint":
        argv += ["--size", "256x256"]
    return argv


def calls(log: Log) -> list[dict[str, Any]]:
    return [e for e in log() if not e["path"].startswith("/_emulator")]


@pytest.mark.usefixtures("fal_env", "providers_env")
@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: f"{e.provider}:{e.id}")
def test_every_catalog_model_runs_on_its_wire(
    run_cli: Run, requests_log: Log, make_image: Callable[..., Path], entry: ModelInfo
) -> None:
    from PIL import Image

    # Local models really compute: a small input keeps realesrgan-x4plus to a second.
    size = (48, 32) if entry.provider == "local" else (192, 128)
    image = make_image(Path("in.png"), size)
    mask = Path("mask.png")
    canvas = Image.new("L", size, 0)
    canvas.paste(255, (0, 0, size[0] // 2, size[1]))
    canvas.save(mask)
    code, out, err = run_cli(*argv_for(entry, image, mask))
    if entry.retired:
        assert code == 2, (out, err)
        assert f"was shut down on {entry.retired}" in err
        assert calls(requests_log) == []
        return
    assert code == 0, err
    assert out.strip(), err
    for path in out.split():
        assert Path(path).is_file()
    sent = [e for e in calls(requests_log) if e.get("ignored")]
    assert sent == [], [(e["path"], e["ignored"]) for e in sent]
