"""CLI basics: help, version, list-models, import weight and side effects, ``.env`` loading, and
the README's first command as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import twat_genai

FAL_ENDPOINTS = {
    "TEXT": "fal-ai/flux-lora",
    "IMAGE": "fal-ai/flux-lora/image-to-image",
    "CANNY": "fal-ai/flux-lora-canny",
    "DEPTH": "fal-ai/flux-lora-depth",
    "UPSCALER_DRCT": "fal-ai/drct-super-resolution",
    "UPSCALER_IDEOGRAM": "fal-ai/ideogram/upscale",
    "UPSCALER_RECRAFT_CREATIVE": "fal-ai/recraft/upscale/creative",
    "UPSCALER_RECRAFT_CLARITY": "fal-ai/recraft/upscale/crisp",
    "UPSCALER_CCSR": "fal-ai/ccsr",
    "UPSCALER_ESRGAN": "fal-ai/esrgan",
    "UPSCALER_AURA_SR": "fal-ai/aura-sr",
    "UPSCALER_CLARITY": "fal-ai/clarity-upscaler",
    "OUTPAINT_BRIA": "fal-ai/bria/expand",
    "OUTPAINT_FLUX": "fal-ai/flux-lora/inpainting",
}

_PROVIDER_VARS = ("FAL_KEY", "FAL_KEY_ID", "FAL_KEY_SECRET", "TWAT_GENAI_FAL_BASE_URL")


def clean_env(**extra: str) -> dict[str, str]:
    """The current environment without fal settings, direct to localhost, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in _PROVIDER_VARS}
    env.update(NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost", **extra)
    return env


def run(
    args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        check=False,
        cwd=cwd,
        env=env if env is not None else clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_module_help_exits_0(tmp_path):
    """``python -m twat_genai --help`` exits 0 and lists the fal commands."""
    proc = run(["-m", "twat_genai", "--help"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    for command in ("text", "image", "canny", "depth", "upscale", "outpaint"):
        assert command in proc.stdout
    assert list(tmp_path.iterdir()) == []


def test_version_command(run_cli):
    """``twat-genai version`` prints the package version."""
    code, out, _ = run_cli("version")
    assert code == 0
    assert out.strip() == twat_genai.__version__


def test_models_lists_the_catalog_across_the_four_providers(run_cli):
    """``models --json`` lists at least 30 models of fal, OpenAI, Gemini and Chutes, each with its
    kind and fields; every endpoint the fal commands call is among them (``--all`` shows the
    retired ones too); ``list-models`` is the same command."""
    code, out, _ = run_cli("models", "--json")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) >= 30
    assert {r["provider"] for r in rows} >= {"fal", "openai", "gemini", "chutes"}
    assert all(r["kind"] and isinstance(r["fields"], list) for r in rows)
    assert not any(r["retired"] for r in rows)
    code, out, _ = run_cli("list-models", "--all", "--json")
    assert code == 0
    every = {json.loads(line)["id"] for line in out.splitlines()}
    assert set(FAL_ENDPOINTS.values()) <= every
    code, text, _ = run_cli("models", "--provider", "gemini", "--kind", "text-to-image")
    assert code == 0 and "gemini-nano-banana-2.1" in text and "fal-ai/" not in text


def test_parser_import_is_light(tmp_path):
    """Importing twat_genai and building the CLI parser (every command, ``generate`` included)
    loads no pydantic, PIL, httpx2 or h11, and reads no model catalog."""
    code = (
        "import sys, twat_genai\n"
        "from twat_genai.cli.parser import build_parser, hoist_command\n"
        "p = build_parser()\n"
        "p.parse_args(hoist_command(['text', '--prompts', 'x'], p))\n"
        "p.parse_args(hoist_command(['generate', 'x', '--model', 'fal-ai/flux/dev'], p))\n"
        "heavy = {'pydantic', 'PIL', 'httpx2', 'httpx', 'h11', 'tomllib', 'tomli', 'aiohttp'}\n"
        "ours = {'twat_genai.providers', 'twat_genai.jobs', 'twat_genai.testing'}\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in heavy\n"
        "          or any(m.startswith(o) for o in ours)]\n"
        "print(sorted(loaded))\n"
    )
    proc = run(["-c", code], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_import_has_no_side_effects(tmp_path):
    """Importing twat_genai creates nothing in the cwd and does not load ./.env."""
    (tmp_path / ".env").write_text("FAL_KEY=from-dotenv\n")
    code = (
        "import os, twat_genai\n"
        "from twat_genai import FALEngine, TwatGenAiCLI, ModelTypes, EngineConfig\n"
        "print(repr(os.environ.get('FAL_KEY')))\n"
    )
    proc = run(["-c", code], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "None"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env"]


def test_cli_loads_dotenv(tmp_path, emulator, requests_log):
    """The CLI reads FAL_KEY and the base URL from ./.env when the environment has neither."""
    (tmp_path / ".env").write_text(
        f'FAL_KEY="from-dotenv-key"\nTWAT_GENAI_FAL_BASE_URL={emulator.root}/fal\n'
    )
    proc = run(["-m", "twat_genai", "text", "--prompts", "a lamp"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    [path] = [Path(line) for line in proc.stdout.splitlines()]
    assert (tmp_path / path).is_file()
    assert (tmp_path / path).with_suffix(".json").is_file()
    submits = [e for e in requests_log() if e["endpoint"] == "fal-ai/flux-lora"]
    assert submits and submits[0]["args"]["prompt"] == "a lamp"


def test_readme_first_command_sandbox(tmp_path):
    """``twat-genai text --prompts "a {red,blue} car" --sandbox`` with no key saves 2 images and 2 sidecars."""
    proc = run(["-m", "twat_genai", "text", "--prompts", "a {red,blue} car", "--sandbox"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    out_dir = tmp_path / "generated_images"
    files = sorted(
        p.name for p in out_dir.iterdir() if not p.name.startswith(".twat-genai-journal")
    )
    images = [f for f in files if not f.endswith(".json")]
    sidecars = [f for f in files if f.endswith(".json")]
    assert len(images) == 2 and len(sidecars) == 2
    assert {Path(f).stem for f in images} == {Path(f).stem for f in sidecars}
    prompts = sorted(json.loads((out_dir / s).read_text())["prompt"] for s in sidecars)
    assert prompts == ["a blue car", "a red car"]
    assert len(proc.stdout.splitlines()) == 2


@pytest.mark.parametrize("argv", [["-m", "twat_genai", "text"], ["-m", "twat_genai", "nope"]])
def test_subprocess_usage_errors_exit_2(tmp_path, argv):
    """A missing prompt or an unknown command exits 2 as a process, writing nothing."""
    proc = run(argv, tmp_path, clean_env(FAL_KEY="x"))
    assert proc.returncode == 2
    assert proc.stderr.strip()
    assert list(tmp_path.iterdir()) == []


def test_generate_passes_params_through_typed(run_cli, requests_log, fal_env):
    """``--param`` values reach the wire typed: ``raw=true`` is a JSON boolean."""
    code, out, err = run_cli(
        "generate",
        "a lighthouse",
        "--model",
        "fal-ai/flux-pro/v1.1-ultra",
        "--param",
        "aspect_ratio=21:9",
        "--param",
        "raw=true",
    )
    assert code == 0, err
    [path] = [Path(p) for p in out.split()]
    assert path.is_file() and path.with_suffix(".json").is_file()
    [args] = [
        e["args"]
        for e in requests_log()
        if e["method"] == "POST" and e["path"] == "/fal/queue/fal-ai/flux-pro/v1.1-ultra"
    ]
    assert args["aspect_ratio"] == "21:9" and args["raw"] is True
