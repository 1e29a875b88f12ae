"""Provider facts from the catalog, through the real CLI against the emulator: what the
services refuse is refused first, in one line with exit 2, before any request; current ids and
parameter names reach the wire."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .test_cli_providers import providers_env  # noqa: F401 - the fixture

Run = Callable[..., tuple[int, str, str]]
Log = Callable[[], list[dict[str, Any]]]


def refused(run_cli: Run, requests_log: Log, *argv: str) -> str:
    """Run a command that must be refused: exit 2, one error line, no request, no file."""
    code, out, err = run_cli(*argv)
    assert code == 2, (out, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("twat-genai: error: "), err
    assert [e for e in requests_log() if not e["path"].startswith("/_emulator")] == []
    assert not Path("generated_images").exists()
    return lines[0]


@pytest.mark.usefixtures("providers_env")
def test_a_shut_down_gemini_model_names_its_date_and_replacement(
    run_cli: Run, requests_log: Log, make_image: Callable[..., Path]
) -> None:
    """``--model gemini-2.5-flash-image`` (alias ``flash25``) is refused with the retirement
    line; the default and every alias are current models."""
    a = make_image(Path("a.png"), (64, 48))
    for model in ("gemini-2.5-flash-image", "flash25"):
        line = refused(
            run_cli, requests_log, "gemini_transform", str(a), str(a), "x", "--model", model
        )
        assert "gemini-2.5-flash-image was shut down on 2026-10-02" in line
        assert "use gemini-nano-banana-2.1 (alias: nano)" in line
    for model in ("nano", "flash31", "pro3"):
        code, _, err = run_cli("gemini_transform", str(a), str(a), "x", "--model", model)
        assert code == 0, err


@pytest.mark.usefixtures("providers_env")
def test_allow_retired_sends_a_shut_down_model_anyway(run_cli: Run, requests_log: Log) -> None:
    """``--allow-retired`` is for a stale catalog: the request goes, with a warning."""
    code, _, err = run_cli("generate", "x", "--model", "gemini-2.5-flash-image", "--allow-retired")
    paths = [e["path"] for e in requests_log()]
    assert any("gemini-2.5-flash-image:generateContent" in p for p in paths)
    assert "shut down on 2026-10-02" in err and code in (0, 1)


@pytest.mark.usefixtures("providers_env")
def test_openai_refusals_come_from_the_catalog_first(run_cli: Run, requests_log: Log) -> None:
    """A retired model, a parameter GPT image models refuse, and gpt-image-2 below its pixel
    minimum: each one line, exit 2, nothing sent."""
    line = refused(run_cli, requests_log, "openai_image", "x", "--model", "dall-e-3")
    assert "dall-e-3 was shut down on 2026-05-12" in line
    line = refused(
        run_cli, requests_log, "generate", "x", "--model", "gpt-image-2",
        "--param", "response_format=url",
    )  # fmt: skip
    assert "does not take response_format" in line
    line = refused(run_cli, requests_log, "openai_image", "x", "--width", "512", "--height", "512")
    assert "gpt-image-2 needs at least 655,360 pixels: 512x512 is 262,144" in line


@pytest.mark.usefixtures("providers_env")
def test_chutes_values_inside_old_limits_but_outside_published_ranges(
    run_cli: Run, requests_log: Log, make_image: Callable[..., Path]
) -> None:
    """HiDream seed 2e8 or guidance 15, SkyReels fps 10 or 33 frames: refused first."""
    base = ("chutes_image", "x", "--model", "hidream")
    assert "seed must be between 0 and 100,000,000" in refused(
        run_cli, requests_log, *base, "--seed", "200000000"
    )
    assert "guidance_scale must be between 0 and 10" in refused(
        run_cli, requests_log, *base, "--guidance_scale", "15"
    )
    assert "fps must be between 16 and 60" in refused(
        run_cli, requests_log, "chutes_video", "x", "--fps", "10"
    )
    assert "num_frames must be between 97" in refused(
        run_cli, requests_log, "chutes_video", "x", "--num_frames", "33"
    )


@pytest.mark.usefixtures("providers_env")
def test_gemini_unknown_generation_config_field_is_refused(run_cli: Run, requests_log: Log) -> None:
    line = refused(run_cli, requests_log, "generate", "x", "--model", "nano", "--param", "foo=1")
    assert "no generationConfig field 'foo'" in line and "INVALID_ARGUMENT" in line


@pytest.mark.usefixtures("providers_env")
def test_a_white_on_black_mask_edits_the_white_area_on_openai(
    run_cli: Run, requests_log: Log
) -> None:
    """The one mask convention (white = change) reaches OpenAI as the alpha mask it takes, and
    the area edited is the white one: the emulator paints exactly the mask's transparent
    pixels (magenta) and leaves the rest as it was."""
    from PIL import Image

    Image.new("RGB", (1024, 1024), (40, 90, 160)).save("photo.png")
    mask = Image.new("L", (1024, 1024), 0)
    mask.paste(255, (0, 0, 512, 1024))  # the left half is to change
    mask.save("mask.png")
    code, out, err = run_cli(
        "openai_image", "paint it", "--input", "photo.png", "--mask", "mask.png"
    )
    assert code == 0, err
    [edit] = [e for e in requests_log() if e["path"].endswith("/images/edits")]
    assert edit["status"] == 200
    with Image.open(out.split()[0]) as result:
        rgb = result.convert("RGB")
        assert rgb.getpixel((100, 500)) == (255, 0, 255)  # white in the mask: edited
        assert rgb.getpixel((900, 500)) == (40, 90, 160)  # black: kept
