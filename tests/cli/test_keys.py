"""``twat-genai keys``: each provider's key masked to its last 4 characters, and its source."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from twat_genai.core.userconfig import mask_key

from .conftest import assert_masked, assert_no_leak, fake_key, write_config


def _rows(out: str) -> dict[str, dict[str, object]]:
    return {row["provider"]: row for row in map(json.loads, out.splitlines())}


def test_no_keys_anywhere_says_not_set(run_cli, isolated: Path) -> None:
    """With no key set, every provider is 'not set' and the hint names its variables and the
    config file."""
    code, out, err = run_cli("keys")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == ["fal", "chutes", "openai", "gemini"]
    assert all("not set" in line for line in lines)
    assert "CHUTES_API_KEY or CHUTES_API_TOKEN" in out
    assert str(isolated / "config.toml") in out
    code, out, _ = run_cli("keys", "--json")
    rows = _rows(out)
    assert rows["gemini"] == {
        "provider": "gemini",
        "env": None,
        "key": None,
        "source": None,
        "file": None,
        "env_names": ["GEMINI_API_KEY", "GOOGLE_API_KEY"],
    }


@pytest.mark.parametrize("length", [5, 12, 40, 400])
def test_a_long_key_shows_only_its_last_4_characters(
    run_cli, monkeypatch: pytest.MonkeyPatch, length: int
) -> None:
    """A key longer than 4 characters shows as ``****`` plus its last 4, in text and JSON."""
    key = fake_key(length)
    monkeypatch.setenv("OPENAI_API_KEY", key)
    code, text, _ = run_cli("keys")
    _, out, _ = run_cli("keys", "--json")
    row = _rows(out)["openai"]
    assert code == 0
    assert (row["env"], row["source"]) == ("OPENAI_API_KEY", "environment")
    assert_masked(row["key"], key)
    assert_no_leak(key, text + out)
    assert_masked(text.splitlines()[2].split()[2], key)


@pytest.mark.parametrize("length", [1, 3, 4])
def test_a_key_of_4_characters_or_fewer_shows_none(
    run_cli, monkeypatch: pytest.MonkeyPatch, length: int
) -> None:
    """A key of 4 or fewer characters shows as ``****`` alone: none of its characters."""
    key = fake_key(length)
    monkeypatch.setenv("FAL_KEY", key)
    _, out, _ = run_cli("keys", "--json")
    row = _rows(out)["fal"]
    assert (row["key"], row["source"]) == ("****", "environment")
    _, text, _ = run_cli("keys")
    [line] = [line for line in text.splitlines() if line.startswith("fal ")]
    assert line.split()[:3] == ["fal", "FAL_KEY", "****"]
    assert "environment" in line


def test_mask_key() -> None:
    """The mask never depends on the key's length and never holds more than 4 of it."""
    assert mask_key("") == "****"
    assert mask_key("ABCD") == "****"
    assert mask_key("ABCDE") == "****BCDE"
    assert mask_key("X" * 300 + "1234") == "****1234"


def test_second_variable_is_named(run_cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """A key found in a provider's second variable is shown under that variable's name."""
    key = fake_key()
    monkeypatch.setenv("GOOGLE_API_KEY", key)
    _, out, _ = run_cli("keys", "--json")
    row = _rows(out)["gemini"]
    assert row["env"] == "GOOGLE_API_KEY"
    assert_masked(row["key"], key)


def test_config_file_key_and_environment_precedence(
    run_cli, monkeypatch: pytest.MonkeyPatch, isolated: Path
) -> None:
    """A key in the config file is used (source 'config', the file named) where the environment
    has none; where it has one, the environment's wins and the file's is not shown."""
    from_file, from_env = fake_key(), fake_key()
    path = write_config(isolated, f'[keys]\nfal = "{from_file}"\nchutes = "{fake_key()}"\n')
    monkeypatch.setenv("CHUTES_API_TOKEN", from_env)
    code, out, err = run_cli("keys", "--json")
    assert (code, err) == (0, "")
    rows = _rows(out)
    assert rows["fal"]["source"] == "config"
    assert rows["fal"]["file"] == str(path)
    assert_masked(rows["fal"]["key"], from_file)
    assert rows["chutes"]["env"] == "CHUTES_API_TOKEN"
    assert rows["chutes"]["source"] == "environment"
    assert_masked(rows["chutes"]["key"], from_env)
    assert rows["openai"]["source"] is None
    _, text, _ = run_cli("keys")
    assert f"config {path}" in text
    assert_no_leak(from_file, out + text)


def test_dotenv_key_outranks_the_config_file(run_cli, read_dotenv: None, isolated: Path) -> None:
    """A key in ./.env is reported as '.env' (with its path) and wins over the config file."""
    in_dotenv = fake_key()
    Path(".env").write_text(f"OPENAI_API_KEY={in_dotenv}\n", encoding="utf-8")
    write_config(isolated, f'[keys]\nopenai = "{fake_key()}"\n')
    code, out, _ = run_cli("keys", "--json")
    row = _rows(out)["openai"]
    assert code == 0
    assert (row["source"], row["file"]) == (".env", str(Path.cwd() / ".env"))
    assert_masked(row["key"], in_dotenv)


def test_keys_in_a_fresh_process(isolated: Path, tmp_path: Path) -> None:
    """As a real process: the environment, ./.env and the config file each reported as the
    source of their own provider's key, with at most 4 characters of any key printed."""
    keys = {name: fake_key() for name in ("env", "dotenv", "file")}
    (tmp_path / "work" / ".env").write_text(f"CHUTES_API_KEY={keys['dotenv']}\n")
    config = write_config(tmp_path, f'[keys]\ngemini = "{keys["file"]}"\n')
    env = {k: v for k, v in os.environ.items()}
    env.update(FAL_KEY=keys["env"], TWAT_GENAI_CONFIG=str(config))
    proc = subprocess.run(
        [sys.executable, "-m", "twat_genai", "keys"],
        cwd=tmp_path / "work",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0
    lines = {line.split()[0]: line for line in proc.stdout.splitlines()}
    assert lines["fal"].endswith("environment")
    assert ".env" in lines["chutes"]
    assert f"config {config}" in lines["gemini"]
    assert "not set" in lines["openai"]
    for key in keys.values():
        assert_no_leak(key, proc.stdout + proc.stderr)
