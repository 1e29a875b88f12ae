"""Bad input through the real CLI: one stderr line naming what is wrong and the fix, exit 2,
nothing written and nothing sent to the (emulated) providers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from twat_genai.testing import EmulatorServer

BAD_URL = "http://example.com:99999/a.png"


@pytest.fixture
def env(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Every provider pointed at the emulator with a key; cwd = an empty folder; returns it."""
    for name, value in emulator.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def refused(
    run_cli: Callable[..., tuple[int, str, str]],
    requests_log: Callable[[], list[dict[str, Any]]],
    folder: Path,
    *argv: str,
) -> str:
    """Run ``argv``; assert exit 2, one stderr line, no stdout, no request and no new file.
    Returns the line."""
    before = sorted(folder.rglob("*"))
    code, out, err = run_cli(*argv)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert out == ""
    assert requests_log() == []
    assert sorted(folder.rglob("*")) == before
    return lines[0]


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["image", "--input_image", BAD_URL, "--prompts", "x"], id="image"),
        pytest.param(["upscale", "--input_image", BAD_URL], id="upscale"),
        pytest.param(
            [
                "outpaint",
                "--input_image",
                BAD_URL,
                "--prompts",
                "x",
                "--target_width",
                "64",
                "--target_height",
                "64",
            ],
            id="outpaint",
        ),
        pytest.param(["generate", "x", "--model", "fal-ai/flux/dev", "--image", BAD_URL], id="gen"),
        pytest.param(["chutes_video", "x", "--first_frame", BAD_URL], id="chutes_video"),
        pytest.param(["openai_image", "x", "--input", BAD_URL], id="openai_image"),
        pytest.param(["gemini_transform", BAD_URL, BAD_URL, "x"], id="gemini_transform"),
        pytest.param(["rembg", BAD_URL], id="rembg"),
    ],
)
def test_malformed_input_url_is_refused_before_anything_is_sent(run_cli, requests_log, env, argv):
    """An input URL with a malformed port is one line naming the URL, in every command."""
    line = refused(run_cli, requests_log, env, *argv)
    assert BAD_URL in line and "malformed port" in line


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://host:abc/x.png", "malformed port"),
        ("http:///x.png", "has no host"),
        ("ftp://example.com/x.png", "the scheme 'ftp://'"),
    ],
)
def test_other_bad_urls(run_cli, requests_log, env, url, problem):
    """A port that is not a number, no host, or a scheme other than http(s) are refused too."""
    line = refused(run_cli, requests_log, env, "image", "--input_image", url, "--prompts", "x")
    assert problem in line and url in line
