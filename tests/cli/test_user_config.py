"""The user config file through the real CLI: defaults every command sees, below flags and
the environment; keys that make a provider usable; a bad file is one line and exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from twat_genai.cli.info import apply_user_config
from twat_genai.cli.parser import build_parser, hoist_command

from .conftest import assert_no_leak, fake_key, write_config


def _args(*argv: str):  # type: ignore[no-untyped-def]
    parser = build_parser()
    return parser.parse_args(hoist_command(list(argv), parser))


def _sidecars(folder: Path) -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def test_defaults_fill_only_what_the_flags_leave_unset(isolated: Path) -> None:
    """output_dir and concurrency from the file apply to every generating command; a flag wins."""
    write_config(isolated, 'output_dir = "from-config"\nconcurrency = 3\n')
    args = _args("text", "a cat")
    apply_user_config(args)
    assert (args.output_dir, args.concurrency) == ("from-config", 3)
    args = _args("chutes_image", "a cat", "--output_dir", "mine", "--concurrency", "5")
    apply_user_config(args)
    assert (args.output_dir, args.concurrency) == ("mine", 5)
    args = _args("gallery", "somewhere")
    apply_user_config(args)  # a command without those flags is left alone
    assert not hasattr(args, "output_dir")


def test_generate_takes_provider_and_model_only_when_the_flags_name_neither(
    isolated: Path,
) -> None:
    """The file's provider and model go to ``generate`` as a pair, never beside a --model or
    --provider flag (or --batch), and never to the ``models`` listing's --provider filter."""
    write_config(isolated, 'provider = "fal"\nmodel = "fal-ai/flux/dev"\n')
    args = _args("generate", "a cat")
    apply_user_config(args)
    assert (args.provider, args.model) == ("fal", "fal-ai/flux/dev")
    args = _args("generate", "a cat", "--model", "gpt-image-2")
    apply_user_config(args)
    assert (args.provider, args.model) == (None, "gpt-image-2")
    args = _args("generate", "a cat", "--provider", "openai")
    apply_user_config(args)
    assert (args.provider, args.model) == ("openai", None)
    args = _args("generate", "--batch", "jobs.jsonl")
    apply_user_config(args)
    assert (args.provider, args.model) == (None, None)
    args = _args("models")
    apply_user_config(args)
    assert args.provider is None


def test_output_dir_from_the_file_and_the_flag_over_it(run_cli, isolated: Path) -> None:
    """A sandbox run saves into the file's output_dir; --output_dir on the command line wins."""
    write_config(isolated, 'output_dir = "from-config"\n')
    code, out, err = run_cli("text", "a lamp", "--sandbox")
    assert code == 0, err
    assert Path(out.strip()).parent == Path("from-config")
    code, out, err = run_cli("text", "a lamp", "--sandbox", "--output_dir", "flagged")
    assert code == 0, err
    assert Path(out.strip()).parent == Path("flagged")


def test_generate_uses_the_files_provider_and_model(run_cli, isolated: Path) -> None:
    """``generate PROMPT`` with no --model runs the file's model; with only a provider in the
    file, that provider's default model; a --model flag ignores both."""
    write_config(isolated, 'model = "fal-ai/flux/dev"\n')
    code, _, err = run_cli("generate", "a cat", "--sandbox", "--output_dir", "a")
    assert code == 0, err
    [meta] = _sidecars(Path("a"))
    assert (meta["provider"], meta["model"]) == ("fal", "fal-ai/flux/dev")
    write_config(isolated, 'provider = "openai"\n')
    code, _, err = run_cli("generate", "a cat", "--sandbox", "--output_dir", "b")
    assert code == 0, err
    [meta] = _sidecars(Path("b"))
    assert meta["provider"] == "openai"
    code, _, err = run_cli(
        "generate", "a cat", "--model", "fal-ai/flux/dev", "--sandbox", "--output_dir", "c"
    )
    assert code == 0, err
    [meta] = _sidecars(Path("c"))
    assert meta["provider"] == "fal"


def test_a_key_from_the_file_runs_a_provider_and_never_shows(
    run_cli, isolated: Path, emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no FAL_KEY anywhere, fal is a missing key (exit 2); with [keys] fal in the file the
    same command runs, and no output, log line or sidecar holds more than 4 of its characters."""
    monkeypatch.setenv("TWAT_GENAI_FAL_BASE_URL", f"{emulator.root}/fal")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    code, _, err = run_cli("text", "a lamp")
    assert code == 2 and "FAL_KEY" in err
    key = fake_key()
    write_config(isolated, f'[keys]\nfal = "{key}"\n')
    code, out, err = run_cli("text", "a lamp", "--verbose")
    assert code == 0, err
    saved = "".join(p.read_text() for p in Path("generated_images").glob("*.json"))
    assert_no_leak(key, out + err + saved)


@pytest.mark.parametrize("command", [["sizes"], ["version"], ["text", "x", "--dry-run"]])
def test_a_bad_file_stops_every_command_with_one_line(
    run_cli, isolated: Path, command: list[str]
) -> None:
    """A broken config file is one error line naming it, exit 2, whatever the command."""
    path = write_config(isolated, "concurrency = [\n")
    code, out, err = run_cli(*command)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert str(path) in err and "invalid TOML" in err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[keys]\nfall = "k"\n', "[keys] fall: 'fall' is not one of fal, chutes, openai, gemini"),
        ('provider = "nope"\n', "provider: 'nope' is not one of"),
    ],
)
def test_unknown_providers_in_the_file_are_named(
    run_cli, isolated: Path, text: str, message: str
) -> None:
    """A provider name the registry does not know, in [keys] or as the default, is exit 2."""
    path = write_config(isolated, text)
    code, _, err = run_cli("generate", "a cat", "--dry-run")
    assert code == 2
    assert str(path) in err and message in err


def test_help_never_reads_the_file(tmp_path: Path) -> None:
    """``--help`` works even when the config file is broken: it is read when a command runs."""
    bad = write_config(tmp_path, "not toml at all")
    env = {**os.environ, "TWAT_GENAI_CONFIG": str(bad)}
    proc = subprocess.run(
        [sys.executable, "-m", "twat_genai", "--help"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "metadata" in proc.stdout and "keys" in proc.stdout


def test_readme_example_is_accepted(run_cli, isolated: Path) -> None:
    """The README's config.toml, as written (its "..." keys included), is a valid file."""
    readme = Path(__file__).resolve().parents[2].joinpath("README.md").read_text()
    example = readme.split("```toml\n", 1)[1].split("```", 1)[0]
    assert "[keys]" in example and "output_dir" in example
    write_config(isolated, example)
    code, _, err = run_cli("sizes")
    assert (code, err) == (0, "")
    args = _args("generate", "a cat")
    apply_user_config(args)
    assert (args.provider, args.model, args.concurrency) == ("fal", "fal-ai/flux/dev", 4)


def test_commands_without_providers_leave_keys_out_of_the_environment(
    run_cli, isolated: Path
) -> None:
    """``sizes`` builds no provider, so the file's keys stay out of the environment (and the
    providers unimported), yet they are masked from then on."""
    from twat_genai.core.redact import redact

    key = fake_key()
    write_config(isolated, f'[keys]\nfal = "{key}"\n')
    code, _, _ = run_cli("sizes")
    assert code == 0
    assert "FAL_KEY" not in os.environ
    masked = redact(f"plain {key} text") == "plain *** text"
    assert masked
    code, _, _ = run_cli("list-providers")
    assert code == 0
    set_from_file = os.environ.get("FAL_KEY") == key
    assert set_from_file
