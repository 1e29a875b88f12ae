"""What ``bench/run.py`` is built from: the emulator as a subprocess, CPU pinning, a measured
CLI run, the standard-library yardstick, and the in-process parts (sequential loop, journal
operations, a run killed and run again)."""

from __future__ import annotations

import asyncio
import io
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
CLI = str(Path(sys.executable).parent / "twat-genai")
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

#: The yardstick: plain HTTP/1.1 keep-alive GETs with the standard library, its own CPU.
_REFERENCE = """
import http.client, json, resource, sys, urllib.parse
url, count = urllib.parse.urlsplit(sys.argv[1]), int(sys.argv[2])
conn = http.client.HTTPConnection(url.hostname, url.port)
conn.request("GET", url.path); conn.getresponse().read()
before = resource.getrusage(resource.RUSAGE_SELF)
for _ in range(count):
    conn.request("GET", url.path)
    conn.getresponse().read()
after = resource.getrusage(resource.RUSAGE_SELF)
cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
print(json.dumps({"cpu": cpu}))
"""


def read_exports(proc: subprocess.Popen[str]) -> dict[str, str]:
    """The ``export NAME=value`` lines an emulator prints on start, up to the blank line."""
    env: dict[str, str] = {}
    assert proc.stdout is not None
    for line in proc.stdout:
        if not line.strip():
            break
        name, _, value = line.removeprefix("export ").strip().partition("=")
        env[name] = shlex.split(value)[0]
    return env


@dataclass
class Pinning:
    """The client (and the yardstick) on the first CPU, the emulator on the last (``taskset``),
    so neither one's CPU time includes waiting for the other; off with fewer than two CPUs."""

    enabled: bool = True

    def _cpus(self) -> tuple[int, int] | None:
        cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        if not self.enabled or len(cpus) < 2 or not shutil.which("taskset"):
            return None
        return cpus[0], cpus[-1]

    def _prefix(self, which: int) -> list[str]:
        cpus = self._cpus()
        return [] if cpus is None else ["taskset", "-c", str(cpus[which])]

    def client(self) -> list[str]:
        return self._prefix(0)

    def emulator(self) -> list[str]:
        return self._prefix(1)

    def describe(self) -> str:
        cpus = self._cpus()
        if cpus is None:
            return "not pinned: the client and the emulator share every CPU."
        return (
            f"pinned with `taskset`: the CLI and the reference client on CPU {cpus[0]}, the "
            f"emulator on CPU {cpus[1]}; the in-process parts ((c), (f), (h)) unpinned."
        )


class Emulator:
    """``twat-genai emulator`` as a subprocess with plain pictures; its export lines give the
    URLs."""

    def __init__(self, latency: float, capacity: int, pin: Pinning) -> None:
        argv = [*pin.emulator(), CLI, "emulator", "--port", "0", "--latency", str(latency)]
        argv += ["--capacity", str(capacity)]
        env = dict(os.environ)
        if self.has_flag():
            argv.append("--plain-images")
        else:
            env["TWAT_GENAI_EMULATOR_PLAIN_IMAGES"] = "1"
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env)
        self.env = read_exports(self.proc)
        self.root = self.env["TWAT_GENAI_FAL_BASE_URL"].removesuffix("/fal")
        self.ps = psutil.Process(self.proc.pid)

    @staticmethod
    @cache
    def has_flag() -> bool:
        """Whether ``twat-genai emulator`` takes ``--plain-images`` (else the environment)."""
        out = subprocess.run(
            [CLI, "emulator", "--help"], check=False, capture_output=True, text=True
        )
        return "--plain-images" in out.stdout

    @classmethod
    def plain_how(cls) -> str:
        if cls.has_flag():
            return "`--plain-images`"
        return "`TWAT_GENAI_EMULATOR_PLAIN_IMAGES=1`: this CLI has no `--plain-images` flag"

    def cpu(self) -> float:
        t = self.ps.cpu_times()
        return float(t.user + t.system)

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

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def prompts(n: int) -> str:
    """A prompt template expanding to exactly ``n`` prompts."""
    return "bench {" + ",".join(str(i) for i in range(n)) + "}"


def cli_run(
    emu: Emulator,
    out: Path,
    n: int,
    concurrency: int,
    pin: Pinning,
    *extra: str,
    src: Path | None = None,
) -> dict[str, Any]:
    """The CLI (``src``: that source tree's) on ``n`` prompts: wall, CPU, peak RSS, the
    emulator's stats and CPU over the run."""
    emu.control("reset")
    cli = [*pin.client(), *([sys.executable, "-m", "twat_genai"] if src else [CLI])]
    argv = [*cli, *(extra or ("text",)), "--prompts", prompts(n)]
    argv += ["--concurrency", str(concurrency), "--expand_limit", str(max(n, 1000))]
    argv += ["--output_dir", str(out), "--quiet"]
    env = emu.child_env()
    if src:
        env["PYTHONPATH"] = str(src)
    before = emu.cpu()
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        subprocess.run(
            [sys.executable, "-c", _MEASURE, f.name, *argv],
            env=env,
            check=True,
        )
        result: dict[str, Any] = json.loads(Path(f.name).read_text())
    result["emu_cpu"] = emu.cpu() - before
    if result["code"] != 0:
        raise SystemExit(f"command failed ({result['code']}): {shlex.join(argv)}")
    result["stats"] = emu.stats()
    result["requests"] = result["stats"]["requests"]
    return result


def reference(emu: Emulator, count: int, pin: Pinning) -> float:
    """Milliseconds of CPU a standard-library client spends per plain round-trip."""
    out = subprocess.run(
        [*pin.client(), sys.executable, "-c", _REFERENCE, f"{emu.root}/_emulator", str(count)],
        env=emu.child_env(),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return 1000 * float(json.loads(out)["cpu"]) / count


def sequential(emu: Emulator, out: Path, n: int) -> float:
    """The plain loop: one job at a time through FalProvider + jobs.generate; seconds."""
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

    emu.control("reset")
    return asyncio.run(loop())


def journal_per_item(folder: Path, entries: int, measured: int = 100, rounds: int = 5) -> float:
    """Seconds (wall) for one item's journal operations (get, submitted, saving, finish) in a
    journal already holding ``entries`` items: the median of ``rounds`` runs of ``measured``
    new items (each commit waits for the disk, so a burst of other I/O must not decide it)."""
    from twat_genai.jobs.journal import Journal, item_key

    def item(j: Journal, i: int, tag: str) -> None:
        key = item_key(n=i, tag=tag)
        url = f"http://127.0.0.1/fal/queue/requests/r-{i}"
        j.get(key)
        handle = {"endpoint": "fal-ai/flux-lora", "request_id": f"r-{i}", "status_url": url}
        j.submitted(key, handle, restart=f"bench {i}")
        j.saving(key, f"r-{i}#0", folder / f"bench-{i}.jpg")
        j.finish(key, "ok", paths=[folder / f"bench-{i}.jpg"], request_id=f"r-{i}")

    times = []
    with Journal.for_output(folder) as journal:
        for i in range(entries):
            item(journal, i, "old")
        for r in range(rounds):
            started = time.perf_counter()
            for i in range(measured):
                item(journal, i, f"new{r}")
            times.append((time.perf_counter() - started) / measured)
    return statistics.median(times)


def fill_folder(folder: Path, count: int) -> None:
    """``count`` empty files named as outputs are, half media and half sidecars."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count // 2):
        for ext in ("jpg", "json"):
            (folder / f"old-prompt-{i:06d}-{i * 2654435761 % 2**32:08x}.{ext}").touch()


def compile_tree(src: Path) -> None:
    """Measure the CLI as an installed one runs: with bytecode. ``uv sync`` compiles the
    dependencies (``compile-bytecode``) and pip compiles everything, but an editable checkout's
    own source is left to compile on each start when PYTHONDONTWRITEBYTECODE is set."""
    import compileall

    compileall.compile_dir(src, quiet=1)


def export_tree(rev: str, into: Path) -> Path:
    """``src/`` of git revision ``rev`` unpacked into ``into`` and byte-compiled."""
    data = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "src"], check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    compile_tree(into / "src")
    return into / "src"


def killed_and_rerun(
    emu: Emulator, out: Path, n: int, concurrency: int, *, quiet_moment: bool
) -> dict[str, int]:
    """SIGKILL an ``n``-item run once 40% of its jobs were submitted, re-run the same command,
    count images and submissions. ``quiet_moment``: hold job completion until all jobs in
    flight are held and the journal has every submitted job, then kill; otherwise kill at once,
    with submits in flight (fal has no idempotency key, so a submit accepted but not yet
    answered is lost)."""
    from twat_genai.jobs.journal import Journal
    from twat_genai.jobs.runner import queued_ahead

    in_flight = concurrency + queued_ahead(concurrency)  # fal's queue holds a few more
    emu.control("reset")
    argv = [CLI, "text", "--prompts", prompts(n), "--concurrency", str(concurrency)]
    argv += ["--output_dir", str(out), "--quiet"]
    env = emu.child_env()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120

    def waiting() -> None:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"(h): the run ended or stalled before the kill ({emu.stats()})")
        time.sleep(0.01)

    while emu.stats().get("submissions", 0) < n * 2 // 5:
        waiting()
    if quiet_moment:
        # Held jobs never complete, so once the in-flight jobs are held the client can submit
        # nothing more; then wait for the journal to have every one.
        emu.control("hold")
        while True:
            st = emu.stats()
            with Journal.for_output(out) as journal:
                recorded = sum(len(e.handles) for e in journal.entries())
            submitted = st.get("submissions", 0)
            if submitted - st.get("completed", 0) >= in_flight and recorded >= submitted:
                break
            waiting()
    proc.kill()
    proc.wait()
    emu.control("release")
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    images = sum(1 for p in out.iterdir() if p.suffix in (".png", ".jpg", ".jpeg", ".webp"))
    return {"images": images, "submissions": int(emu.stats()["submissions"])}
