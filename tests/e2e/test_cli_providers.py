"""The README's provider commands through the real CLI against the emulator."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from twat_genai.testing import EmulatorServer

SECRETS = {
    "CHUTES_API_KEY": "cpk_" + "a" * 32 + "." + "b" * 32 + "." + "SecretChutesKey0123456789abcdefX",
    "OPENAI_API_KEY": "sk-openai-secret-0123456789",
    "GEMINI_API_KEY": "gemini-secret-0123456789",
}


@pytest.fixture
def providers_env(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> dict[str, str]:
    """Every provider pointed at the emulator with recognisable secret keys; cwd = tmp_path."""
    env = {k: v for k, v in emulator.env().items() if not k.endswith("_KEY")}
    env.update(SECRETS)
    env["NO_PROXY"] = "127.0.0.1,localhost"
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    return env


def _files(folder: Path, suffix: str) -> list[Path]:
    return sorted(p for p in folder.glob(f"*{suffix}"))


def _no_secret_anywhere(folder: Path, *texts: str) -> None:
    blobs = [p.read_bytes() for p in folder.rglob("*") if p.is_file()]
    for secret in SECRETS.values():
        assert all(secret.encode() not in b for b in blobs)
        assert all(secret not in t for t in texts)


def test_chutes_image_saves_jpeg_with_sidecar(
    providers_env: dict[str, str],
    run_cli: Callable[..., tuple[int, str, str]],
    requests_log: Callable[[], list[dict[str, Any]]],
) -> None:
    """``chutes_image "a quiet forest" --model FLUX.1-dev`` saves a .jpg and its sidecar."""
    code, out, err = run_cli("chutes_image", "a quiet forest", "--model", "FLUX.1-dev")
    assert code == 0, err
    out_dir = Path("generated_images")
    [jpg] = _files(out_dir, ".jpg")
    assert out.strip() == str(jpg)
    meta = json.loads(jpg.with_suffix(".json").read_text())
    assert meta["provider"] == "chutes"
    [call] = [e for e in requests_log() if e["provider"] == "chutes"]
    assert call["args"]["model"] == "FLUX.1-dev"
    assert call["args"]["prompt"] == "a quiet forest"
    _no_secret_anywhere(out_dir, out, err, json.dumps(requests_log()))


def test_chutes_video_saves_mp4(
    providers_env: dict[str, str], run_cli: Callable[..., tuple[int, str, str]]
) -> None:
    """``chutes_video ... --resolution 540P`` saves an MP4 (ftyp box first)."""
    code, _, err = run_cli("chutes-video", "waves rolling onto shore", "--resolution", "540P")
    assert code == 0, err
    [mp4] = _files(Path("generated_images"), ".mp4")
    assert mp4.read_bytes()[4:8] == b"ftyp"


def test_chutes_first_last_frame_video_default_size_needs_no_warning(
    providers_env: dict[str, str],
    run_cli: Callable[..., tuple[int, str, str]],
    make_image: Callable[..., Path],
    requests_log: Callable[[], list[dict[str, Any]]],
) -> None:
    frame = make_image(Path("frame.png"), (832, 480))
    code, _, err = run_cli(
        "chutes_video", "a wave", "--first_frame", str(frame), "--last_frame", str(frame)
    )
    assert code == 0 and "warning" not in err, err
    [call] = [e for e in requests_log() if e["provider"] == "chutes" and e["method"] == "POST"]
    assert call["args"]["resolution"] == "832*480"


def test_openai_image_request_and_result(
    providers_env: dict[str, str],
    run_cli: Callable[..., tuple[int, str, str]],
    requests_log: Callable[[], list[dict[str, Any]]],
) -> None:
    """``openai_image --model gpt --width 1024 --height 1024`` sends gpt-image-2 at 1024x1024."""
    code, out, err = run_cli(
        "openai_image", "a quote poster", "--model", "gpt", "--width", "1024", "--height", "1024"
    )
    assert code == 0, err
    [call] = [e for e in requests_log() if e["provider"] == "openai"]
    assert call["args"]["model"] == "gpt-image-2"
    assert call["args"]["size"] == "1024x1024"
    [png] = _files(Path("generated_images"), ".png")
    assert json.loads(png.with_suffix(".json").read_text())["usage"]
    _no_secret_anywhere(Path("generated_images"), out, err)


def test_gemini_transform_sends_two_inline_images_and_header_key(
    providers_env: dict[str, str],
    run_cli: Callable[..., tuple[int, str, str]],
    requests_log: Callable[[], list[dict[str, Any]]],
    make_image: Callable[..., Path],
) -> None:
    """``gemini_transform subject.png lighting.png PROMPT``: two inlineData parts, key in header."""
    make_image(Path("subject.png"), (800, 600))
    make_image(Path("lighting.png"), (640, 480))
    code, _, err = run_cli(
        "gemini_transform",
        "subject.png",
        "lighting.png",
        "match lighting while preserving identity",
    )
    assert code == 0, err
    [call] = [e for e in requests_log() if e["provider"] == "gemini"]
    parts = call["args"]["contents"][0]["parts"]
    assert sum(1 for p in parts if "inlineData" in p or "inline_data" in p) == 2
    assert "x-goog-api-key" in [h.lower() for h in call["headers"]]
    assert "key=" not in call["path"] and "key" not in call.get("query", {})
    assert len(_files(Path("generated_images"), ".png")) == 1


@pytest.mark.parametrize("command", ["openai_image", "gemini_transform"])
def test_blocked_exits_1_with_reason_and_saves_nothing(
    command: str,
    providers_env: dict[str, str],
    run_cli: Callable[..., tuple[int, str, str]],
    make_image: Callable[..., Path],
) -> None:
    """A blocked result exits 1 with the provider's reason on one line and writes no image."""
    args = [command]
    if command == "gemini_transform":
        make_image(Path("s.png"))
        make_image(Path("r.png"))
        args += ["s.png", "r.png"]
    code, out, err = run_cli(*args, "a thing [emulate:blocked]")
    assert out == ""
    assert code == 1
    lines = [line for line in err.splitlines() if line]
    assert len(lines) == 1 and "blocked" in lines[0]
    assert not any(
        p.suffix in (".png", ".jpg", ".webp") for p in Path().rglob("generated_images/*")
    )


def test_batch_with_one_blocked_item_saves_the_others(
    providers_env: dict[str, str], run_cli: Callable[..., tuple[int, str, str]]
) -> None:
    """``{ok,[emulate:blocked] no}`` saves the ok image and still exits 1."""
    code, out, _ = run_cli("openai_image", "{fine,[emulate:blocked] no}")
    assert code == 1
    assert len(out.split()) == 1 and Path(out.strip()).is_file()


def test_list_providers_names_keys_and_state(
    providers_env: dict[str, str],
    run_cli: Callable[..., tuple[int, str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``list-providers --json`` lists the providers (the local one needs no key), their keys,
    and whether each is set."""
    monkeypatch.delenv("FAL_KEY", raising=False)
    code, out, _ = run_cli("list-providers", "--json")
    assert code == 0
    rows = {r["name"]: r for r in map(json.loads, out.splitlines())}
    assert list(rows) == ["fal", "chutes", "openai", "gemini", "local"]
    assert rows["fal"]["keys"] == ["FAL_KEY"] and rows["fal"]["key_set"] is False
    assert rows["gemini"]["key_set"] is True
    assert rows["local"]["keys"] == [] and rows["local"]["key_set"] is True
