"""The local provider on the one pipeline, through the real CLI and Python API, with the
network refused: files with sidecars and a journal, settings checked before anything runs,
progress and estimates reported, and nothing local unless asked for by name."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def photo(
    scene: Callable[..., Image.Image], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("FAL_KEY", "FAL_KEY_ID", "FAL_KEY_SECRET"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "photo.png"
    scene((64, 48)).save(path)
    return path


def only_file(out: str) -> tuple[Image.Image, dict[str, Any]]:
    (line,) = out.split()
    path = Path(line)
    sidecar = json.loads(path.with_suffix(".json").read_text())
    with Image.open(path) as img:
        img.load()
        return img.copy(), sidecar


def test_upscale_with_realesrgan_needs_no_key_and_no_network(run_cli: Run, photo: Path) -> None:
    code, out, err = run_cli(
        "upscale", "--input_image", str(photo), "--tool", "realesrgan", "--scale", "2"
    )
    assert code == 0, err
    image, sidecar = only_file(out)
    assert image.size == (128, 96)
    assert (sidecar["provider"], sidecar["model"]) == ("local", "realesrgan")
    assert sidecar["cost"]["estimate_usd"] == 0.0
    assert Path("generated_images/.twat-genai-journal.sqlite").is_file()


def test_provider_local_turns_the_default_tool_into_realesrgan(run_cli: Run, photo: Path) -> None:
    code, out, err = run_cli("upscale", "--input_image", str(photo), "--provider", "local")
    assert code == 0, err
    image, sidecar = only_file(out)
    assert sidecar["model"] == "realesrgan" and image.size == (128, 96)


def test_lanczos_takes_any_factor(run_cli: Run, photo: Path) -> None:
    code, out, err = run_cli(
        "upscale", "--input_image", str(photo), "--tool", "lanczos", "--scale", "1.5"
    )
    assert code == 0, err
    assert only_file(out)[0].size == (96, 72)


def test_canny_on_this_machine_writes_the_edge_map(run_cli: Run, photo: Path) -> None:
    code, out, err = run_cli("canny", "--input_image", str(photo), "--provider", "local")
    assert code == 0, err
    image, sidecar = only_file(out)
    assert image.size == (64, 48) and sidecar["model"] == "canny"
    values = set(image.convert("L").tobytes())
    assert values <= {0, 255} and 255 in values


def test_outpaint_local_is_a_classical_fill_keeping_the_input(run_cli: Run, photo: Path) -> None:
    args = ("--target_width", "128", "--target_height", "96")
    code, out, err = run_cli("outpaint", "--input_image", str(photo), "--tool", "local", *args)
    assert code == 0, err
    image, sidecar = only_file(out)
    assert image.size == (128, 96) and sidecar["model"] == "outpaint-classical"
    with Image.open(photo) as original:
        assert (
            image.convert("RGB").crop((32, 24, 96, 72)).tobytes()
            == original.convert("RGB").tobytes()
        )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--tool", "clarity", "--provider", "local"), "--tool clarity runs on fal"),
        (("--tool", "realesrgan", "--scale", "5"), "realesrgan takes scale 2, 3, 4, not 5"),
        (("--tool", "realesrgan-x4plus", "--scale", "2"), "realesrgan-x4plus takes scale 4"),
    ],
)
def test_bad_local_settings_are_refused_first(
    run_cli: Run, photo: Path, argv: tuple[str, ...], message: str
) -> None:
    code, _, err = run_cli("upscale", "--input_image", str(photo), *argv)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert not Path("generated_images").exists()


def test_without_a_fal_key_upscale_points_at_the_local_provider(run_cli: Run, photo: Path) -> None:
    code, _, err = run_cli("upscale", "--input_image", str(photo))
    assert code == 2
    assert "FAL_KEY" in err and "--provider local" in err
    assert len(err.strip().splitlines()) == 1


def test_a_slow_model_announces_its_estimate_first(
    run_cli: Run, photo: Path, monkeypatch: pytest.MonkeyPatch, scene: Callable[..., Image.Image]
) -> None:
    from twat_genai.providers.local import provider

    monkeypatch.setattr(provider, "ANNOUNCE_SECONDS", 0.0)
    scene((16, 12)).save(photo)
    code, out, err = run_cli("upscale", "--input_image", str(photo), "--tool", "realesrgan-x4plus")
    assert code == 0, err
    assert "realesrgan-x4plus x4 on 16x12: about" in err
    assert only_file(out)[0].size == (64, 48)


def test_a_tiled_run_reports_its_progress_and_reruns_from_its_sidecar(
    photo: Path, run_cli: Run
) -> None:
    from twat_genai import agenerate

    events: list[tuple[str, dict[str, Any]]] = []

    async def run() -> Any:
        return await agenerate(
            None,
            model="local:realesrgan",
            images=photo,
            params={"tile": 16},
            on_event=lambda name, data: events.append((name, data)),
        )

    (response,) = asyncio.run(run())
    progress = [data for name, data in events if name == "item_progress"]
    assert len(progress) > 2 and progress[-1]["done"] == progress[-1]["total"] > 1
    sidecar = response.files[0].path.with_suffix(".json")
    code, out, err = run_cli("rerun", str(sidecar), "--output_dir", "again")
    assert code == 0, err
    with Image.open(out.split()[0]) as again, Image.open(response.files[0].path) as first:
        assert again.tobytes() == first.tobytes()  # the same work, the same pixels


def test_dry_run_prices_local_work_at_zero(run_cli: Run, photo: Path) -> None:
    code, out, err = run_cli(
        "upscale", "--input_image", str(photo), "--tool", "lanczos", "--dry-run"
    )
    assert code == 0, err
    assert "local local:lanczos $0.0000" in out and "estimated cost $0.00" in out
