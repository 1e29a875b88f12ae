"""The user config file: where it is, what it may hold, one-line errors naming it, and keys
put into the environment only where none is set (and masked from then on). Keys are made up at
run time and compared into booleans first, so a failure never prints one."""

from __future__ import annotations

import os
import secrets
import string
import subprocess
import sys
from pathlib import Path

import platformdirs
import pytest

from twat_genai.core import settings, userconfig
from twat_genai.core.errors import UsageError
from twat_genai.core.redact import redact
from twat_genai.core.userconfig import (
    ENV_VAR,
    UserConfig,
    apply_keys,
    config_path,
    key_source,
    load_user_config,
)


@pytest.fixture(autouse=True)
def config_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty user config folder; no override; ``./.env`` not loaded; cwd in tmp."""
    folder = tmp_path / "config"
    folder.mkdir()
    monkeypatch.setattr(platformdirs, "user_config_dir", lambda *a, **k: str(folder))
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr(settings, "_dotenv_loaded", True)
    monkeypatch.setattr(userconfig, "_from_config", {})
    monkeypatch.setattr(userconfig, "_env_before", None)
    monkeypatch.chdir(tmp_path)
    return folder


class _Key(str):
    """A made-up key whose repr hides it (a failure report shows arguments' reprs)."""

    def __repr__(self) -> str:
        return "_Key(****)"


def _key() -> str:
    return _Key("".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(32)))


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_no_file_is_an_empty_config(config_dir: Path) -> None:
    """Without a file, every setting is unset and there are no keys."""
    assert config_path() == config_dir / "config.toml"
    assert load_user_config() == UserConfig(config_dir / "config.toml")


def test_every_setting_is_read(config_dir: Path) -> None:
    """output_dir (with ~ expanded), concurrency, provider, model and [keys] (trimmed) are read;
    the repr leaves keys out."""
    key = _key()
    _write(
        config_dir / "config.toml",
        'output_dir = "~/pictures"\nconcurrency = 3\nprovider = "fal"\n'
        'model = "fal-ai/flux/dev"\n[keys]\n'
        f'fal = " {key} "\n',
    )
    config = load_user_config()
    assert config.output_dir == str(Path("~/pictures").expanduser())
    assert (config.concurrency, config.provider, config.model) == (3, "fal", "fal-ai/flux/dev")
    read_back = dict(config.keys) == {"fal": key}
    hidden = key not in repr(config)
    assert read_back and hidden


def test_env_var_names_another_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """TWAT_GENAI_CONFIG points elsewhere; a missing file there is an error; /dev/null is none."""
    other = _write(tmp_path / "other.toml", "concurrency = 2\n")
    monkeypatch.setenv(ENV_VAR, str(other))
    assert load_user_config().concurrency == 2
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "missing.toml"))
    with pytest.raises(UsageError, match=r"TWAT_GENAI_CONFIG points to .*missing\.toml"):
        load_user_config()
    if Path(os.devnull).exists():
        monkeypatch.setenv(ENV_VAR, os.devnull)
        assert load_user_config().concurrency is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("concurrency = ", "invalid TOML"),
        ("outptu_dir = 'x'", "unknown setting 'outptu_dir'"),
        ("concurrency = 0", "concurrency must be a whole number of at least 1"),
        ("concurrency = '4'", "concurrency must be a whole number"),
        ("concurrency = true", "concurrency must be a whole number"),
        ("output_dir = 3", "output_dir must be a non-empty string"),
        ("model = ''", "model must be a non-empty string"),
        ("keys = 'abc'", "keys must be a table"),
        ("[keys]\nfal = 12345678", "[keys] fal must be a non-empty string"),
    ],
)
def test_a_bad_file_is_one_usage_error_naming_it(config_dir: Path, text: str, message: str) -> None:
    """Each kind of mistake is a one-line UsageError with the file's path and the fix."""
    path = _write(config_dir / "config.toml", text + "\n")
    with pytest.raises(UsageError) as info:
        load_user_config()
    assert str(path) in str(info.value)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert "12345678" not in str(info.value)  # a wrongly written key is never echoed


def test_not_utf8_is_a_usage_error(config_dir: Path) -> None:
    """A file that is not UTF-8 text is a one-line error, not a traceback."""
    (config_dir / "config.toml").write_bytes(b"model = '\xff'\n")
    with pytest.raises(UsageError, match="not UTF-8"):
        load_user_config()


def test_keys_fill_only_unset_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A file key is set into its provider's first variable where none of its variables is set;
    a key already in the environment stays, and the file's is still masked everywhere."""
    for name in ("FAL_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    env_key, fal_key, gemini_key = _key(), _key(), _key()
    monkeypatch.setenv("GOOGLE_API_KEY", env_key)
    config = UserConfig(tmp_path / "c.toml", keys={"fal": fal_key, "gemini": gemini_key})
    userconfig.remember_environment()
    apply_keys(config, {"fal": ("FAL_KEY",), "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY")})
    set_from_file = os.environ["FAL_KEY"] == fal_key
    env_kept = os.environ["GOOGLE_API_KEY"] == env_key
    assert set_from_file and env_kept
    assert "GEMINI_API_KEY" not in os.environ
    assert key_source(("FAL_KEY",)) == ("FAL_KEY", "config", tmp_path / "c.toml")
    assert key_source(("GEMINI_API_KEY", "GOOGLE_API_KEY")) == (
        "GOOGLE_API_KEY",
        "environment",
        None,
    )
    masked = redact(f"sent {gemini_key} and {fal_key}") == "sent *** and ***"
    assert masked


def test_a_plugin_providers_key_is_masked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A key for a variable redact does not know (a plugin provider's) is masked once applied."""
    monkeypatch.delenv("TWAT_TEST_PLUGIN_KEY", raising=False)
    key = _key()
    config = UserConfig(tmp_path / "c.toml", keys={"plugin": key})
    apply_keys(config, {"plugin": ("TWAT_TEST_PLUGIN_KEY",)})
    set_from_file = os.environ["TWAT_TEST_PLUGIN_KEY"] == key
    masked = redact(f"plain {key} text") == "plain *** text"  # no key shape: the value itself
    assert set_from_file and masked


def test_dotenv_outranks_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """./.env is loaded before the file's keys are applied, so its key wins; its source is .env."""
    monkeypatch.delenv("CHUTES_API_KEY", raising=False)
    monkeypatch.delenv("CHUTES_API_TOKEN", raising=False)
    monkeypatch.setattr(settings, "_dotenv_loaded", False)
    dotenv_key = _key()
    _write(tmp_path / ".env", f"CHUTES_API_KEY={dotenv_key}\n")
    userconfig.remember_environment()
    config = UserConfig(tmp_path / "c.toml", keys={"chutes": _key()})
    apply_keys(config, {"chutes": ("CHUTES_API_KEY", "CHUTES_API_TOKEN")})
    dotenv_kept = os.environ["CHUTES_API_KEY"] == dotenv_key
    assert dotenv_kept
    assert key_source(("CHUTES_API_KEY",)) == ("CHUTES_API_KEY", ".env", tmp_path / ".env")


def test_nothing_is_read_at_import(tmp_path: Path) -> None:
    """Importing the config module and the info commands reads no file and loads no TOML
    parser, even with a broken config file named."""
    bad = _write(tmp_path / "bad.toml", "this is not toml")
    code = (
        "import sys\n"
        "import twat_genai.core.userconfig, twat_genai.cli.info, twat_genai.cli.run\n"
        "print(sorted(m for m in sys.modules if m in ('tomllib', 'tomli')))\n"
    )
    env = {**os.environ, ENV_VAR: str(bad)}
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
