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
def env(
    emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    make_image: Callable[..., Path],
) -> Path:
    """Every provider pointed at the emulator with a key; cwd = a folder holding only a small
    ``in.png``; returns the folder."""
    for name, value in emulator.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    work = tmp_path / "work"
    make_image(work / "in.png", (64, 64))
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


# ----------------------------------------------------------------------------- argument errors


@pytest.mark.parametrize(
    "case",
    [
        (["upscale", "--input_image", "in.png", "--tool", "nosuch"], "--tool", "'nosuch'",
         "is not one of aura_sr, ccsr, clarity, drct, esrgan, ideogram, recraft_clarity, "
         "recraft_creative"),
        (["upscale", "--input_image", "in.png", "--tool", "esrgn"], "--tool", "'esrgn'",
         "did you mean 'esrgan'?"),
        (["text", "x", "--seed", "abc"], "--seed", "'abc'", "give one such as 42"),
        (["generate", "x", "--seed", "1.5"], "--seed", "'1.5'", "is not a whole number"),
        (["text", "x", "--concurrency", "0"], "--concurrency", "'0'", "at least 1"),
        (["text", "x", "--concurrency", "-1"], "--concurrency", "'-1'", "at least 1"),
        (["chutes_image", "x", "--expand_limit", "0"], "--expand_limit", "'0'", "at least 1"),
        (["text", "x", "--expand-limit", "many"], "--expand_limit", "'many'", "not a whole"),
        (["text", "x", "--budget", "-1"], "--budget", "'-1'", "a number of at least 0"),
        (["text", "x", "--budget", "lots"], "--budget", "'lots'", "is not a number"),
        (["text", "x", "--num_images", "0"], "--num_images", "'0'", "at least 1"),
        (["text", "x", "--guidance_scale", "nan"], "--guidance_scale", "'nan'", "finite"),
        (["image", "x", "--input_image", "in.png", "--strength", "2"], "--strength", "'2'",
         "between 0 and 1"),
        (["text", "x", "--output_format", "gif"], "--output_format", "'gif'", "jpeg, png"),
        (["outpaint", "x", "--input_image", "in.png", "--target_width", "-5",
          "--target_height", "9"], "--target_width", "'-5'", "at least 1"),
        (["openai_image", "x", "--n", "0"], "--n", "'0'", "at least 1"),
        (["chutes_image", "x", "--width", "wide"], "--width", "'wide'", "not a whole number"),
        (["rerun", "x.json", "--seed", "abc"], "--seed", "'abc'", "or 'random'"),
        (["text", "x", "--lora", " "], "--lora", "' '", "is empty"),
        (["text", "x", "--sed", "1"], "--sed", "", "did you mean --seed?"),
    ],
)  # fmt: skip
def test_argument_errors_are_one_line_naming_flag_value_and_help(run_cli, requests_log, env, case):
    """Every argument error is one line: the flag, the bad value, the fix, and where the
    command's help is; exit 2; nothing written, nothing sent."""
    argv, flag, value, fix = case
    line = refused(run_cli, requests_log, env, *argv)
    assert line.startswith(f"twat-genai: error: {flag}: {value}"), line
    assert fix in line
    assert line.endswith(f"(see 'twat-genai {argv[0]} --help')"), line


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["txt", "x"], "'txt' is not a command: did you mean 'text'? (see 'twat-genai --help')"),
        (["outpaint", "x", "--input_image", "in.png"],
         "missing --target_width and --target_height: add them (see 'twat-genai outpaint --help')"),
        (["text", "a", "b"],
         "unexpected argument 'b': put a prompt with spaces in quotes (see 'twat-genai text --help')"),
    ],
)  # fmt: skip
def test_other_argument_errors_are_one_line(run_cli, requests_log, env, argv, expected):
    """An unknown command, missing required flags and stray words are one line each too."""
    assert refused(run_cli, requests_log, env, *argv) == f"twat-genai: error: {expected}"


def test_the_installed_entry_point_prints_one_line(tmp_path):
    """The real process (``python -m twat_genai``) prints one line and exits 2."""
    import subprocess
    import sys

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "twat_genai",
            "upscale",
            "--input_image",
            "x.png",
            "--tool",
            "nosuch",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "twat-genai: error: --tool: 'nosuch' is not one of aura_sr, ccsr, clarity, drct, esrgan, "
        "ideogram, recraft_clarity, recraft_creative, realesrgan, realesrgan-x4plus, lanczos "
        "(see 'twat-genai upscale --help')"
    ]
    assert proc.stdout == "" and list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- LoRA specs


@pytest.mark.parametrize(
    ("lora", "message"),
    [
        ("https://x.test/y.safetensors:abc", "invalid LoRA scale 'abc'"),
        (";;", "empty LoRA entry 1 of 3"),
        ("a/b;;c/d", "empty LoRA entry 2 of 3"),
        ("shou_xn", "unknown LoRA 'shou_xn'"),
        ("http://x.test:99999/y.safetensors", "malformed port"),
    ],
)
def test_bad_lora_specs_are_refused_before_anything_is_sent(
    run_cli, requests_log, env, lora, message
):
    """A scale that is not a number, an empty entry, an unknown name (with the closest key)
    and a malformed LoRA URL are one line each, for fal commands and ``generate`` alike."""
    for argv in (["text", "a cat"], ["generate", "a cat", "--model", "fal-ai/flux-lora"]):
        line = refused(run_cli, requests_log, env, *argv, "--lora", lora)
        assert message in line
        if lora == "shou_xn":
            assert "did you mean 'shou_xin'?" in line
