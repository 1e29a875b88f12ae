"""The user's config file: defaults for the CLI and API keys, read when a command runs.

``config.toml`` in the user config folder (platformdirs), or the file ``TWAT_GENAI_CONFIG``
names (which must exist; ``/dev/null`` means none)::

    output_dir = "~/Pictures/twat-genai"
    concurrency = 4
    provider = "fal"            # generate only
    model = "fal-ai/flux/dev"   # generate only

    [keys]
    fal = "..."

Precedence: command-line flags > environment (then ``./.env``) > this file > built-in defaults.
Keys go into the process environment only where none is set, so every provider reads them the
usual way; each is registered with :mod:`twat_genai.core.redact` first.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twat_genai.core.errors import UsageError

ENV_VAR = "TWAT_GENAI_CONFIG"
FILE_NAME = "config.toml"
SETTINGS = ("output_dir", "concurrency", "provider", "model")


@dataclass(frozen=True)
class UserConfig:
    """What the file holds; ``None`` (and no keys) for anything it leaves out."""

    path: Path
    output_dir: str | None = None
    concurrency: int | None = None
    provider: str | None = None
    model: str | None = None
    keys: Mapping[str, str] = field(default_factory=dict, repr=False)  # never in a traceback


def config_path() -> Path:
    """The file read: ``TWAT_GENAI_CONFIG``, else ``config.toml`` in the user config folder."""
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser()
    from twat_genai.core.settings import user_config_dir

    return user_config_dir() / FILE_NAME


def load_user_config() -> UserConfig:
    """Read and check the file; none at the default place is an empty config. Every problem is
    one :class:`UsageError` naming the file."""
    path = config_path()
    if not path.exists() or path.is_dir():
        if os.environ.get(ENV_VAR, "").strip():
            raise UsageError(f"{ENV_VAR} points to {path}, which is not a file: fix or unset it")
        return UserConfig(path)
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        data = tomllib.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise UsageError(f"config file {path}: cannot read it ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise UsageError(f"config file {path}: not UTF-8 text; fix or remove it") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"config file {path}: invalid TOML ({exc}); fix or remove it") from None
    return _checked(path, data)


def _checked(path: Path, data: dict[str, Any]) -> UserConfig:
    def bad(what: str) -> UsageError:
        return UsageError(f"config file {path}: {what}")

    unknown = sorted(set(data) - {*SETTINGS, "keys"})
    if unknown:
        known = ", ".join(SETTINGS)
        raise bad(f"unknown setting {unknown[0]!r}; the settings are {known} and [keys]")
    values: dict[str, Any] = {}
    for name in ("output_dir", "provider", "model"):
        value = data.get(name)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise bad(f"{name} must be a non-empty string, got {value!r}")
        if value is not None:
            values[name] = value.strip()
    if "output_dir" in values:
        values["output_dir"] = str(Path(values["output_dir"]).expanduser())
    concurrency = data.get("concurrency")
    if concurrency is not None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise bad(f"concurrency must be a whole number of at least 1, got {concurrency!r}")
        values["concurrency"] = concurrency
    keys = data.get("keys", {})
    if not isinstance(keys, dict):
        raise bad('keys must be a table: [keys] then one provider = "key" line each')
    for provider, key in keys.items():
        if not isinstance(key, str) or not key.strip():
            # The value is never shown: it may be a key written the wrong way.
            raise bad(f"[keys] {provider} must be a non-empty string")
    return UserConfig(path, keys={p: k.strip() for p, k in keys.items()}, **values)


# --------------------------------------------------------------------------- keys

#: Names set in the environment before ``./.env`` was loaded (None: not recorded).
_env_before: frozenset[str] | None = None
#: Variable -> (value, config file) for each key this module put into the environment.
_from_config: dict[str, tuple[str, Path]] = {}


def remember_environment() -> None:
    """Note which variables the process started with, so a key's source can be told later
    (``./.env`` is loaded into the same ``os.environ``). Call before anything loads ``.env``."""
    global _env_before
    _env_before = frozenset(name for name, value in os.environ.items() if value)


def apply_keys(config: UserConfig, key_env: Mapping[str, Sequence[str]]) -> None:
    """Put each of the file's keys into its provider's first variable (``key_env``: provider ->
    variable names), unless the environment or ``./.env`` already holds one of them."""
    from twat_genai.core.redact import register_secret
    from twat_genai.core.settings import first_env, load_dotenv_once

    load_dotenv_once()  # ./.env outranks the file, so it goes in first
    for provider, key in config.keys.items():
        register_secret(key)
        names = key_env[provider]
        if names and first_env(names) is None:
            os.environ[names[0]] = key
            _from_config[names[0]] = (key, config.path)


def key_source(names: Sequence[str]) -> tuple[str, str, Path | None] | None:
    """``(variable, source, file)`` for the first of ``names`` holding a key, where source is
    ``environment``, ``.env`` or ``config`` (file: the ``.env`` or the config file), or None."""
    from twat_genai.core.settings import load_dotenv_once

    load_dotenv_once()
    for name in names:
        value = os.environ.get(name)
        if not value:
            continue
        recorded = _from_config.get(name)
        if recorded is not None and recorded[0] == value:
            return name, "config", recorded[1]
        if _env_before is None or name in _env_before:
            return name, "environment", None
        return name, ".env", Path.cwd() / ".env"
    return None


def mask_key(key: str) -> str:
    """``****`` plus the key's last 4 characters; a key of 4 characters or fewer shows none."""
    return "****" + (key[-4:] if len(key) > 4 else "")
