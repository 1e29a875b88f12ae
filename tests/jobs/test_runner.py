"""The batch runner: bounded concurrency, outcomes, journal resume (no second submission after
SIGKILL), ``--fresh``, Ctrl-C, and one upload for a shared input. No timed assertions."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from twat_genai.core.errors import BlockedError, ModelError
from twat_genai.jobs.journal import Journal
from twat_genai.jobs.runner import Item, run_batch
from twat_genai.providers.base import CallContext
from twat_genai.testing import EmulatorServer, running_emulator

# ----------------------------------------------------------------------------- in-process


def test_never_more_than_concurrency_at_once() -> None:
    active = peak = 0

    async def work() -> int:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        for _ in range(3):
            await asyncio.sleep(0)
        active -= 1
        return 1

    items = [Item(label=str(i), run=work) for i in range(40)]
    summary = asyncio.run(run_batch(items, concurrency=3))
    assert peak == 3
    assert summary.counts["ok"] == 40 and summary.exit_code == 0


def test_outcomes_and_summary() -> None:
    async def ok() -> str:
        return "fine"

    async def blocked() -> None:
        raise BlockedError("nsfw", provider="fal")

    async def failed() -> None:
        raise ModelError("no file", provider="fal")

    seen: list[str] = []
    events: list[str] = []
    items = [Item("a", ok), Item("b", blocked), Item("c", failed)]
    summary = asyncio.run(
        run_batch(
            items,
            concurrency=2,
            on_outcome=lambda o: seen.append(o.item.label),
            on_event=lambda name, data: events.append(name),
        )
    )
    by_label = {o.item.label: o for o in summary.outcomes}
    assert by_label["a"].status == "ok" and by_label["a"].result == "fine"
    assert by_label["b"].status == "blocked" and by_label["c"].status == "failed"
    assert sorted(seen) == ["a", "b", "c"]
    assert summary.exit_code != 0 and "1 ok" in summary.line()
    assert events[0] == "batch_started" and events[-1] == "batch_finished"
    assert events.count("item_finished") == 3


def test_journal_skips_ok_and_resumes_submitted(tmp_path: Path) -> None:
    saved = tmp_path / "done.png"
    saved.write_bytes(b"x")
    handle = {"endpoint": "e", "request_id": "r-2"}
    with Journal.for_output(tmp_path) as journal:
        journal.start("k1", "one")
        journal.finish("k1", "ok", paths=[saved], request_id="r-1")
        journal.start("k2", "two")
        journal.submitted("k2", handle)
        calls: dict[str, CallContext] = {}

        def runner(label: str) -> Callable[[CallContext], Any]:
            async def run(ctx: CallContext) -> str:
                calls[label] = ctx
                if ctx.resume is None:
                    await ctx.submitted({"endpoint": "e", "request_id": f"new-{label}"})
                return label

            return run

        items = [
            Item(label, runner(label), key=key, takes_context=True, restore=lambda e: e.paths)
            for label, key in (("one", "k1"), ("two", "k2"), ("three", "k3"))
        ]
        summary = asyncio.run(run_batch(items, concurrency=2, journal=journal))
        assert "one" not in calls  # done: not run again
        assert calls["two"].resume == handle  # re-attached, no new submission
        assert calls["three"].resume is None
        skipped = [o for o in summary.outcomes if o.skipped]
        assert [o.result for o in skipped] == [[str(saved)]]
        assert all(o.status == "ok" for o in summary.outcomes)
        assert journal.get("k3").handles == [{"endpoint": "e", "request_id": "new-three"}]  # type: ignore[union-attr]


# ----------------------------------------------------------------------------- the real CLI

N = 12
PROMPTS = "cat {" + ",".join(str(i) for i in range(1, N + 1)) + "}"


@pytest.fixture(scope="module")
def slow_emulator() -> Iterator[EmulatorServer]:
    """Jobs take 0.6 s, four at a time: a run can be killed while jobs are in flight."""
    with running_emulator(port=0, latency=0.6, capacity=4) as server:
        yield server


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(url: str) -> bytes:
    with _DIRECT.open(url, timeout=30) as resp:
        return bytes(resp.read())


def _reset(server: EmulatorServer) -> None:
    req = urllib.request.Request(f"{server.root}/_emulator/reset", data=b"", method="POST")
    _DIRECT.open(req, timeout=30).read()


def _log(server: EmulatorServer) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads(http_get(f"{server.root}/_emulator/requests"))
    return entries


def _submissions(server: EmulatorServer) -> int:
    return sum(
        1
        for e in _log(server)
        if e["method"] == "POST" and e["path"].startswith("/fal/queue/") and e["status"] == 200
    )


def _env(server: EmulatorServer) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        FAL_KEY="fal-secret-key-0123456789",
        TWAT_GENAI_FAL_BASE_URL=f"{server.root}/fal",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    return env


def _cli(out: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "twat_genai", "text", "--prompts", PROMPTS,
        "--concurrency", "4", "--output_dir", str(out), "--quiet", *extra,
    ]  # fmt: skip


def _images(out: Path) -> list[Path]:
    return [p for p in out.iterdir() if p.suffix in (".jpg", ".jpeg", ".png", ".webp")]


def _start_and_wait_for(
    server: EmulatorServer, out: Path, submissions: int
) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        _cli(out), env=_env(server), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    while _submissions(server) < submissions:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.02)
    return proc


def test_sigkill_then_rerun_submits_each_item_once(
    slow_emulator: EmulatorServer, tmp_path: Path
) -> None:
    _reset(slow_emulator)
    out = tmp_path / "out"
    proc = _start_and_wait_for(slow_emulator, out, 3)
    time.sleep(0.05)  # let the journal record the handles of what was just submitted
    proc.kill()
    proc.wait()
    with Journal.for_output(out) as journal:
        states = [e.state for e in journal.entries()]
    assert "submitted" in states  # jobs were in flight when the process died

    done = subprocess.run(
        _cli(out), check=False, env=_env(slow_emulator), capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert len(_images(out)) == N
    assert _submissions(slow_emulator) == N  # re-attached, never submitted twice

    again = subprocess.run(
        _cli(out), check=False, env=_env(slow_emulator), capture_output=True, timeout=120
    )
    assert again.returncode == 0 and _submissions(slow_emulator) == N  # all skipped
    assert len(_images(out)) == N

    fresh = subprocess.run(
        _cli(out, "--fresh"), check=False, env=_env(slow_emulator), capture_output=True, timeout=120
    )
    assert fresh.returncode == 0, fresh.stderr
    assert _submissions(slow_emulator) == 2 * N and len(_images(out)) == 2 * N


def test_ctrl_c_cancels_remote_jobs_and_exits_130(
    slow_emulator: EmulatorServer, tmp_path: Path
) -> None:
    _reset(slow_emulator)
    out = tmp_path / "out"
    proc = _start_and_wait_for(slow_emulator, out, 2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert b"interrupted" in err and b"cancelled" in err
    cancels = [e for e in _log(slow_emulator) if e["method"] == "PUT"]
    assert cancels  # the queued/running jobs were cancelled remotely
    with Journal.for_output(out) as journal:
        assert any(e.state == "cancelled" for e in journal.entries())


@pytest.mark.usefixtures("fal_env")
def test_shared_input_is_uploaded_once(
    emulator: EmulatorServer,
    run_cli: Callable[..., tuple[int, str, str]],
    make_image: Callable[..., Path],
    tmp_path: Path,
) -> None:
    image = make_image(tmp_path / "in.png", (256, 256))
    code, out, err = run_cli(
        "image", "--input_image", str(image), "--prompts", PROMPTS,
        "--output_dir", str(tmp_path / "out"), "--concurrency", "6",
    )  # fmt: skip
    assert code == 0, err
    assert len(out.splitlines()) == N
    stats = json.loads(http_get(f"{emulator.root}/_emulator/stats"))
    assert stats["submissions"] == N and stats["uploads"] == 1
