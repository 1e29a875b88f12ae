"""Batch benchmarks against the local fal emulator; writes ``bench/RESULTS.md``.

One command: ``.venv/bin/python bench/run.py``. Every figure and ratio comes from this one run:

(a) N=320 jobs through the real CLI at ``--concurrency 32`` on an emulator with 1 s jobs and
    capacity 32, against the ideal ceil(N/C) x L; (b) a plain sequential loop (the previous
    behaviour: FalProvider + jobs.generate, one job at a time) on fewer jobs, extrapolated;
    (c) status requests per job; (d) client CPU per job; (e) peak RSS of 100 vs 1,000 jobs;
    (f) uploads for 100 ``image`` items sharing one local input; (g) a 100-item run killed with
    SIGKILL and re-run: images and submissions.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CLI = str(BIN / "twat-genai")
N, C, LATENCY, SEQ_N = 320, 32, 1.0, 20
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))

#: Runs a command and reports its wall time and its own rusage (CPU, peak RSS) as JSON.
_MEASURE = """
import json, resource, subprocess, sys, time
t = time.monotonic()
code = subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL).returncode
wall = time.monotonic() - t
r = resource.getrusage(resource.RUSAGE_CHILDREN)
json.dump({"code": code, "wall": wall, "cpu": r.ru_utime + r.ru_stime, "maxrss_kb": r.ru_maxrss},
          open(sys.argv[1], "w"))
"""


class Emulator:
    """``twat-genai emulator`` as a subprocess; its printed export lines give the URLs."""

    def __init__(self, latency: float, capacity: int) -> None:
        self.proc = subprocess.Popen(
            [
                CLI,
                "emulator",
                "--port",
                "0",
                "--latency",
                str(latency),
                "--capacity",
                str(capacity),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.env: dict[str, str] = {}
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if not line.strip():
                break
            name, _, value = line.removeprefix("export ").strip().partition("=")
            self.env[name] = shlex.split(value)[0]
        self.root = self.env["TWAT_GENAI_FAL_BASE_URL"].removesuffix("/fal")

    def child_env(self) -> dict[str, str]:
        return {
            **os.environ,
            **self.env,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }

    def stats(self) -> dict[str, Any]:
        with _DIRECT.open(f"{self.root}/_emulator/stats", timeout=30) as r:
            data: dict[str, Any] = json.load(r)["providers"].get("fal", {})
        return data

    def control(self, action: str) -> None:
        """``reset``, ``hold`` or ``release`` (job completion) through the control API."""
        req = urllib.request.Request(f"{self.root}/_emulator/{action}", data=b"", method="POST")
        _DIRECT.open(req, timeout=30).read()

    def reset(self) -> None:
        self.control("reset")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def prompts(n: int) -> str:
    """A prompt template expanding to exactly ``n`` prompts."""
    return "bench {" + ",".join(str(i) for i in range(n)) + "}"


def measure(emu: Emulator, argv: list[str]) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        subprocess.run(
            [sys.executable, "-c", _MEASURE, f.name, *argv], env=emu.child_env(), check=True
        )
        result: dict[str, Any] = json.loads(Path(f.name).read_text())
    if result["code"] != 0:
        raise SystemExit(f"command failed ({result['code']}): {shlex.join(argv)}")
    return result


def cli_run(emu: Emulator, out: Path, n: int, concurrency: int, *extra: str) -> dict[str, Any]:
    emu.reset()
    argv = [CLI, *extra] if extra else [CLI, "text", "--prompts", prompts(n)]
    argv += ["--concurrency", str(concurrency), "--output_dir", str(out), "--quiet"]
    result = measure(emu, argv)
    result["stats"] = emu.stats()
    return result


def sequential(emu: Emulator, out: Path, n: int) -> float:
    """The previous behaviour: one job at a time through FalProvider + jobs.generate."""
    os.environ.update(emu.child_env())
    from twat_genai.core.models import ImageGenerationRequest
    from twat_genai.core.writer import OutputWriter
    from twat_genai.jobs.generate import generate
    from twat_genai.providers.fal import FalProvider

    async def loop() -> float:
        async with FalProvider() as provider:
            writer = OutputWriter(out)
            start = time.monotonic()
            for i in range(n):
                request = ImageGenerationRequest(prompt=f"seq {i}", model="fal-ai/flux-lora")
                await generate(provider, request, writer)
            return time.monotonic() - start

    emu.reset()
    return asyncio.run(loop())


def compile_source() -> None:
    """Measure the CLI as an installed one runs: with bytecode. ``uv sync`` compiles the
    dependencies (``compile-bytecode``) and pip compiles everything, but an editable checkout's
    own source is left to compile on each start when PYTHONDONTWRITEBYTECODE is set."""
    import compileall

    compileall.compile_dir(ROOT / "src", quiet=1)


def killed_and_rerun(emu: Emulator, out: Path, n: int, *, quiet_moment: bool) -> dict[str, int]:
    """SIGKILL an ``n``-item run once 40% of its jobs were submitted, re-run the same command,
    count images and submissions. ``quiet_moment``: hold job completion until all ``C`` jobs in
    flight are held and the journal has every submitted job, then kill; otherwise kill at once,
    with submits in flight (fal has no idempotency key, so a submit accepted but not yet
    answered is lost)."""
    from twat_genai.jobs.journal import Journal

    emu.reset()
    argv = [CLI, "text", "--prompts", prompts(n), "--concurrency", str(C)]
    argv += ["--output_dir", str(out), "--quiet"]
    env = emu.child_env()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120

    def waiting() -> None:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"(g): the run ended or stalled before the kill ({emu.stats()})")
        time.sleep(0.01)

    while emu.stats().get("submissions", 0) < n * 2 // 5:
        waiting()
    if quiet_moment:
        # Held jobs never complete, so once C of them are in flight the client can submit
        # nothing more; then wait for the journal to have every one.
        emu.control("hold")
        while True:
            st = emu.stats()
            with Journal.for_output(out) as journal:
                recorded = sum(len(e.handles) for e in journal.entries())
            submitted = st.get("submissions", 0)
            if submitted - st.get("completed", 0) >= C and recorded >= submitted:
                break
            waiting()
    proc.kill()
    proc.wait()
    emu.control("release")
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    images = sum(1 for p in out.iterdir() if p.suffix in (".png", ".jpg", ".jpeg", ".webp"))
    return {"images": images, "submissions": int(emu.stats()["submissions"])}


def main() -> int:
    started = time.monotonic()
    compile_source()
    tmp = Path(tempfile.mkdtemp(prefix="twat-genai-bench-"))
    rows: list[tuple[str, str]] = []
    slow = Emulator(LATENCY, C)
    try:
        a = cli_run(slow, tmp / "a", N, C)
        seq_wall = sequential(slow, tmp / "seq", SEQ_N)
    finally:
        slow.stop()
    ideal = math.ceil(N / C) * LATENCY
    seq_per_job = seq_wall / SEQ_N
    seq_total = seq_per_job * N
    st = a["stats"]
    rows += [
        (f"(a) {N} jobs, CLI --concurrency {C}, 1 s jobs: wall", f"{a['wall']:.2f} s"),
        ("(a) ideal ceil(N/C) x L", f"{ideal:.2f} s"),
        ("(a) wall / ideal (target <= 1.15)", f"{a['wall'] / ideal:.3f}"),
        (f"(b) sequential loop, {SEQ_N} jobs measured: per job", f"{seq_per_job:.3f} s"),
        (f"(b) sequential, extrapolated to {N} jobs", f"{seq_total:.1f} s"),
        ("(b) speed-up of the batch over the sequential loop", f"{seq_total / a['wall']:.1f}x"),
        ("(c) status requests per job (an SSE stream counts as one)",
         f"{st['polls'] / st['submissions']:.2f} ({st['polls']} / {st['submissions']})"),
        ("(d) client CPU per job (user+sys of the CLI process)",
         f"{1000 * a['cpu'] / N:.1f} ms ({a['cpu']:.2f} s total)"),
    ]  # fmt: skip

    fast = Emulator(0.05, 200)
    try:
        r100 = cli_run(fast, tmp / "r100", 100, C)
        r1000 = cli_run(fast, tmp / "r1000", 1000, C)
        from PIL import Image

        image = tmp / "input.png"
        Image.new("RGB", (512, 512), (40, 90, 160)).save(image)
        up = cli_run(
            fast, tmp / "up", 100, C,
            "image", "--input_image", str(image), "--prompts", prompts(100),
        )  # fmt: skip
    finally:
        fast.stop()
    killable = Emulator(0.25, C)
    try:
        quiet = killed_and_rerun(killable, tmp / "kill-quiet", 100, quiet_moment=True)
        anytime = killed_and_rerun(killable, tmp / "kill-any", 100, quiet_moment=False)
    finally:
        killable.stop()
    rss100, rss1000 = r100["maxrss_kb"] / 1024, r1000["maxrss_kb"] / 1024
    rows += [
        ("(e) peak RSS, 100 jobs", f"{rss100:.1f} MiB"),
        ("(e) peak RSS, 1,000 jobs", f"{rss1000:.1f} MiB"),
        ("(e) RSS ratio 1,000 / 100 (target <= 1.3)", f"{rss1000 / rss100:.2f}"),
        ("(f) uploads for 100 image items sharing one input",
         f"{up['stats']['uploads']} ({up['stats']['submissions']} submissions)"),
        ("(g) 100 items, SIGKILL once jobs are recorded, same command again",
         f"{quiet['images']} images, {quiet['submissions']} submissions"),
        ("(g) 100 items, SIGKILL at once (submits in flight), same command again",
         f"{anytime['images']} images, {anytime['submissions']} submissions"),
    ]  # fmt: skip
    elapsed = time.monotonic() - started

    table = "| measure | value |\n|---|---|\n" + "".join(f"| {k} | {v} |\n" for k, v in rows)
    print(table)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{platform.system()} {platform.machine()}, nproc {os.cpu_count()}, Python {platform.python_version()}"
    notes = (
        f"- Emulator: `twat-genai emulator --port 0 --latency {LATENCY:g} --capacity {C}` for "
        "(a)-(d), `--latency 0.05 --capacity 200` for (e)-(f); it runs on the same machine and "
        "shares its CPUs with the client.\n"
        f"- (b) runs {SEQ_N} jobs one at a time in-process and extrapolates the per-job time to "
        f"{N} jobs (running all {N} would take over five minutes).\n"
        "- (d) and (e) are the CLI process's own rusage (a wrapper process per run).\n"
        "- The project's source is byte-compiled first, as an installed CLI is.\n"
        f"- (g) uses `--latency 0.25 --capacity {C}` and kills once 40 jobs were submitted. The "
        "first row holds job completion and waits until the journal has every submitted job; "
        "the second kills at once: a submission fal accepted whose answer had not arrived "
        "cannot be re-attached (fal has no idempotency key), so it is submitted again.\n"
        f"- Whole benchmark: {elapsed:.0f} s.\n"
    )
    text = (
        "# Batch benchmark results\n\n"
        f"Command: `.venv/bin/python bench/run.py`  \nDate: {when}  \nMachine: {machine}\n\n"
        f"{table}\nNotes:\n\n{notes}"
    )
    (ROOT / "bench" / "RESULTS.md").write_text(text)
    print(f"wrote bench/RESULTS.md in {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
