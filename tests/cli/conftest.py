"""Isolation for the info-command and config-file tests: the user config folder is an empty
temporary one, no provider key or override variable is set, ``./.env`` is not loaded unless a
test asks, and keys are made up at run time (no test source holds one)."""

from __future__ import annotations

import secrets
import string
from pathlib import Path

import platformdirs
import pytest

from twat_genai.core import settings, userconfig
from twat_genai.core.redact import SECRET_ENV_VARS

#: Every variable a built-in provider reads a key from, and the overrides of user files.
KEY_VARS = (*SECRET_ENV_VARS, "FAL_KEY_ID")
OVERRIDES = ("TWAT_GENAI_CONFIG", "TWAT_GENAI_LORA_LIB", "TWAT_GENAI_MODELS")


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Run in ``tmp_path/work`` with ``tmp_path/config`` as the user config folder; returns it."""
    config = tmp_path / "config"
    config.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setattr(platformdirs, "user_config_dir", lambda *a, **k: str(config))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))  # for subprocesses
    for name in (*KEY_VARS, *OVERRIDES):
        # Recorded as absent: whatever a run sets (from .env or the config file) is removed.
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(settings, "_dotenv_loaded", True)  # a test opts in with read_dotenv
    monkeypatch.setattr(userconfig, "_from_config", {})
    monkeypatch.chdir(work)
    return config


@pytest.fixture
def read_dotenv(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let the next CLI run load ``./.env`` (once per process in real use)."""
    monkeypatch.setattr(settings, "_dotenv_loaded", False)


class FakeKey(str):
    """A made-up key whose repr hides it, so a failing test's report never shows it."""

    def __repr__(self) -> str:
        return "FakeKey(****)"


def fake_key(length: int = 40) -> FakeKey:
    """A made-up key of capitals and digits (unlike any word or path the CLI prints)."""
    alphabet = string.ascii_uppercase + string.digits
    return FakeKey("".join(secrets.choice(alphabet) for _ in range(length)))


def shows_at_most_4(key: str, text: str) -> bool:
    """True when no 5 consecutive characters of ``key`` (nor a short key whole) are in ``text``."""
    if len(key) <= 4:
        return key not in text
    return all(key[i : i + 5] not in text for i in range(len(key) - 4))


def write_config(folder: Path, text: str) -> Path:
    """Write ``config.toml`` in ``folder`` and return its path."""
    path = folder / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def assert_no_leak(key: str, text: str) -> None:
    """Fail, without printing either, when ``text`` holds more than 4 characters of ``key``."""
    __tracebackhide__ = True  # the frame's arguments (the output) would be printed
    leaked = not shows_at_most_4(key, text)
    assert not leaked, "more than 4 characters of a key were printed"


def assert_masked(shown: object, key: str) -> None:
    """Fail, without printing ``shown``, unless it is ``****`` plus the key's last 4."""
    __tracebackhide__ = True
    right = shown == "****" + key[-4:]
    assert right, "the key is not shown as **** plus its last 4 characters"
