"""``twat-genai emulator``: its flags reach the server it runs, and the OpenAI app declares
itself a stand-in for OpenAI's own host."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import httpx2


@contextmanager
def cli_emulator(*flags: str) -> Iterator[dict[str, str]]:
    """Run ``twat-genai emulator --port 0 FLAGS`` and yield its exported environment."""
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost"}
    for name in (
        "TWAT_GENAI_EMULATOR_PLAIN_IMAGES",
        "TWAT_GENAI_EMULATOR_FETCH_REMOTE",
        "TWAT_GENAI_EMULATOR_FAULTS",
    ):
        env.pop(name, None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "twat_genai", "emulator", "--port", "0", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        lines = []
        while (line := proc.stdout.readline()) not in {"\n", ""}:
            lines.append(line.rstrip("\n"))
        yield dict(line.removeprefix("export ").split("=", 1) for line in lines)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0


def _options(exports: dict[str, str]) -> dict[str, object]:
    root = exports["TWAT_GENAI_FAL_BASE_URL"].removesuffix("/fal")
    options: dict[str, object] = httpx2.get(root + "/_emulator", trust_env=False).json()["options"]
    return options


def test_flags_reach_the_server() -> None:
    """``--plain-images`` and ``--fetch-remote`` set the server's options; without them both
    are off."""
    with cli_emulator("--plain-images", "--fetch-remote") as exports:
        options = _options(exports)
    assert options["plain_images"] is True and options["fetch_remote"] is True
    with cli_emulator() as exports:
        options = _options(exports)
    assert options["plain_images"] is False and options["fetch_remote"] is False


def test_faults_flag_sets_the_plan_and_a_bad_plan_is_refused() -> None:
    with cli_emulator("--faults", "fal:429=0.5;5xx=1%,seed=3") as exports:
        assert _options(exports)["faults"] == "5xx=0.01;fal:429=0.5;seed=3"
    proc = subprocess.run(
        [sys.executable, "-m", "twat_genai", "emulator", "--port", "0", "--faults", "429=2"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 2 and "--faults: 429: rate '2' is outside 0..1" in proc.stderr


def test_openai_environment_declares_an_official_stand_in() -> None:
    """The exports point at the OpenAI app and declare it a stand-in for OpenAI's own host."""
    with cli_emulator() as exports:
        assert exports["TWAT_GENAI_OPENAI_OFFICIAL"] == "1"
        assert exports["OPENAI_BASE_URL"].endswith("/openai/v1")
