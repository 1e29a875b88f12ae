"""Keys and base URLs from arguments, the environment, or ``./.env``.

Nothing here runs at import: the CLI and engine construction call :func:`load_dotenv_once`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_dotenv_loaded = False


def load_dotenv_once(path: Path | None = None) -> None:
    """Load ``./.env`` (without overriding variables already set) the first time it is asked."""
    global _dotenv_loaded
    if _dotenv_loaded:
        return
    _dotenv_loaded = True
    env_file = path or Path.cwd() / ".env"
    if env_file.is_file():
        from dotenv import load_dotenv

        load_dotenv(env_file, override=False)


def first_env(names: Sequence[str]) -> str | None:
    """The value of the first of ``names`` that is set and non-empty."""
    for name in names:
        value = os.environ.get(name)
        if value:
            return value.strip()
    return None


def resolve_base_url(explicit: str | None, env_names: Sequence[str], default: str) -> str:
    """Constructor argument, else the first set environment variable, else the default."""
    return (explicit or first_env(env_names) or default).rstrip("/")


#: What platformdirs reads to place the config folder (Linux, macOS, Windows).
_CONFIG_ENV = ("XDG_CONFIG_HOME", "HOME", "APPDATA", "USERPROFILE")
_config_dir: tuple[Any, Path] | None = None


def user_config_dir() -> Path:
    """The user's config folder for twat-genai (platformdirs); not created here. Remembered
    while the environment platformdirs reads stays the same: every model lookup asks for it."""
    global _config_dir
    import platformdirs

    key = (platformdirs.user_config_dir, *(os.environ.get(n) for n in _CONFIG_ENV))
    if _config_dir is None or _config_dir[0] != key:
        _config_dir = (key, Path(platformdirs.user_config_dir("twat-genai")))
    return _config_dir[1]
