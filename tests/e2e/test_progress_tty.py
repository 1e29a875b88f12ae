"""On a terminal, the progress bar and the lines above it: an item's failure and a warning
each print on a line of their own above the bar, never inside it. Real pseudo-terminal, real
CLI subprocess against the emulator."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time

import pytest

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run_on_a_terminal(argv: list[str], timeout: float = 60) -> tuple[int, str]:
    """Run ``argv`` with stderr on a pseudo-terminal; (exit code, what the terminal showed)."""
    main, side = pty.openpty()
    env = {**os.environ, "COLUMNS": "100", "TERM": "xterm"}
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=side, env=env
    )
    os.close(side)
    shown = bytearray()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(main, 65536)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
        elif proc.poll() is not None:
            break
    proc.wait(timeout=10)
    os.close(main)
    assert proc.stdout is not None
    proc.stdout.read()
    return proc.returncode, shown.decode("utf-8", "replace")


@pytest.mark.usefixtures("fal_env")
def test_errors_and_warnings_print_above_the_bar_on_their_own_lines() -> None:
    prompt = "a {[emulate:slow=1] red,[emulate:error=422] blue,green,yellow} kite"
    argv = [sys.executable, "-m", "twat_genai", "text", prompt, "--negative_prompt", "fog"]
    code, shown = run_on_a_terminal(argv)
    assert code == 1
    lines = [ANSI.sub("", part).strip() for part in re.split(r"[\r\n]+", shown)]
    errors = [line for line in lines if "failed: a [emulate:error=422] blue kite" in line]
    warnings = [line for line in lines if "does not support negative prompt" in line]
    assert errors and all(
        line.startswith("twat-genai: error: failed: a [emulate:error=422] blue kite")
        for line in errors
    )
    assert warnings and all(line.startswith("twat-genai: warning:") for line in warnings)
    assert any("4/4" in line or "generating" in line for line in lines)  # the bar was drawn
