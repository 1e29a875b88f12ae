"""Batch benchmarks against the local fal emulator; writes ``bench/RESULTS.md``.

One command: ``.venv/bin/python bench/run.py`` (``--baseline REV`` also runs the git revision
REV's CLI on (a) and (b) in the same run; ``--no-pin`` shares both CPUs). Every figure and
ratio comes from this one run:

(a) N=320 at ``--concurrency 32`` and (b) N=2,560 at ``--concurrency 256`` through the real
    CLI, on an emulator with 1 s jobs and the same capacity: wall against the ideal
    ceil(N/C) x L, client and emulator CPU per job, requests per job, and the CPU a minimal
    standard-library client spends per plain HTTP round-trip to the same emulator (a yardstick
    for this machine's speed); (c) a plain sequential loop (FalProvider + jobs.generate, one
    job at a time) on fewer jobs, extrapolated; (d) 320 jobs into an empty folder and into one
    holding 50,000 files; (e) peak RSS at 100, 1,000 and 10,000 items; (f) per-item journal
    operations with 100 and 10,000 entries; (g) uploads for 100 ``image`` items sharing one
    input; (h) a 100-item run killed with SIGKILL and re-run: images and submissions.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from parts import (
    ROOT,
    Emulator,
    Pinning,
    cli_run,
    compile_tree,
    export_tree,
    fill_folder,
    journal_per_item,
    killed_and_rerun,
    reference,
    sequential,
)

N, C, LATENCY, SEQ_N = 320, 32, 1.0, 20
#: Runs of (a) and (b) each; their medians are reported, with the range.
REPEATS = 3
BIG_N, BIG_C = 2560, 256
FOLDER_FILES = 50_000


def workload(
    pin: Pinning, n: int, c: int, tmp: Path, baseline: Path | None
) -> tuple[list[tuple[str, str]], dict[str, float]]:
    """Rows for n jobs at concurrency c on 1 s jobs, run REPEATS times (medians, with the
    range), the baseline CLI's once if any; and the current CLI's medians."""
    ideal = math.ceil(n / c) * LATENCY
    emu = Emulator(LATENCY, c, pin)
    try:
        runs = [("", [cli_run(emu, tmp / f"w{n}-{i}", n, c, pin) for i in range(REPEATS)])]
        if baseline is not None:
            runs.append((" [baseline]", [cli_run(emu, tmp / f"b{n}", n, c, pin, src=baseline)]))
        one = cli_run(emu, tmp / f"one{n}", 1, c, pin)
        per_request = reference(emu, runs[0][1][0]["requests"], pin)
    finally:
        emu.stop()
    tag = f"({'a' if n == N else 'b'}) N={n:,}, C={c}"
    rows: list[tuple[str, str]] = []
    medians: dict[str, float] = {}
    for label, results in runs:
        m = {k: statistics.median(r[k] for r in results) for k in ("wall", "cpu", "emu_cpu")}
        medians = medians or m
        cpu = 1000 * m["cpu"] / n
        r = results[0]
        rows += [
            (f"{tag}{label}: wall / ideal ({ideal:.0f} s)",
             f"{m['wall']:.2f} s{spread(results, 'wall')} / {ideal:.0f} s = **{m['wall'] / ideal:.3f}**"),
            (f"{tag}{label}: client CPU per job (user+sys of the CLI / N)",
             f"**{cpu:.2f} ms**{spread(results, 'cpu', 1000 / n)} = {cpu / per_request:.0f} reference "
             "round-trips"),
            (f"{tag}{label}: emulator CPU per job",
             f"{1000 * m['emu_cpu'] / n:.2f} ms{spread(results, 'emu_cpu', 1000 / n)}"),
            (f"{tag}{label}: requests per job (status: an SSE stream counts as one)",
             f"{r['requests'] / n:.2f} (status {r['stats']['polls'] / n:.2f})"),
        ]  # fmt: skip
    rows += [
        (f"{tag}: client CPU of the same command with 1 prompt (start-up and one job)",
         f"{one['cpu']:.2f} s, so {1000 * (medians['cpu'] - one['cpu']) / (n - 1):.2f} ms per "
         "further job"),
        (f"{tag}: stdlib reference CPU per plain HTTP round-trip", f"{per_request:.3f} ms"),
    ]  # fmt: skip
    return rows, medians


def spread(results: list[dict[str, Any]], key: str, scale: float = 1.0) -> str:
    """`` (min-max)`` of several runs' ``key``, scaled; nothing for one run."""
    if len(results) < 2:
        return ""
    values = [r[key] * scale for r in results]
    return f" ({min(values):.2f}-{max(values):.2f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", help="git revision whose CLI also runs (a) and (b)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin to CPUs")
    args = parser.parse_args()
    started, load0 = time.monotonic(), os.getloadavg()
    compile_tree(ROOT / "src")
    tmp = Path(tempfile.mkdtemp(prefix="twat-genai-bench-"))
    pin = Pinning(enabled=not args.no_pin)
    base = export_tree(args.baseline, tmp / "base") if args.baseline else None
    rows, a = workload(pin, N, C, tmp, base)
    rows += workload(pin, BIG_N, BIG_C, tmp, base)[0]

    emu = Emulator(LATENCY, C, pin)
    try:
        seq_per_job = sequential(emu, tmp / "seq", SEQ_N) / SEQ_N
    finally:
        emu.stop()
    rows += [
        (f"(c) sequential loop, {SEQ_N} jobs measured: per job", f"{seq_per_job:.3f} s"),
        (f"(c) speed-up of (a) over the loop ({N} jobs extrapolated)",
         f"{seq_per_job * N / a['wall']:.1f}x"),
    ]  # fmt: skip

    fast = Emulator(0.05, C, pin)
    try:
        empty = cli_run(fast, tmp / "empty", N, C, pin)
        fill_folder(tmp / "full", FOLDER_FILES)
        full = cli_run(fast, tmp / "full", N, C, pin)
        sizes = {n: cli_run(fast, tmp / f"r{n}", n, C, pin) for n in (100, 1_000, 10_000)}
        from PIL import Image

        image = tmp / "input.png"
        Image.new("RGB", (512, 512), (40, 90, 160)).save(image)
        up = cli_run(fast, tmp / "up", 100, C, pin, "image", "--input_image", str(image))
    finally:
        fast.stop()
    rss = {n: r["maxrss_kb"] / 1024 for n, r in sizes.items()}
    rows += [
        (f"(d) {N} jobs into an empty folder: wall, client CPU",
         f"{empty['wall']:.2f} s, {empty['cpu']:.2f} s"),
        (f"(d) {N} jobs into a folder holding {FOLDER_FILES:,} files: wall, client CPU",
         f"{full['wall']:.2f} s, {full['cpu']:.2f} s"),
        ("(d) full / empty: wall, client CPU",
         f"**{full['wall'] / empty['wall']:.2f}**, {full['cpu'] / empty['cpu']:.2f}"),
        *((f"(e) peak RSS, {n:,} items", f"{v:.1f} MiB") for n, v in rss.items()),
        ("(e) peak RSS 10,000 / 100 items", f"**{rss[10_000] / rss[100]:.2f}**"),
    ]  # fmt: skip
    small, large = journal_per_item(tmp / "journal", 100), journal_per_item(tmp / "j2", 10_000)
    rows += [
        ("(f) journal, one item's operations, 100 entries", f"{1e6 * small:.0f} us"),
        ("(f) journal, one item's operations, 10,000 entries", f"{1e6 * large:.0f} us"),
        ("(f) 10,000 / 100 entries", f"**{large / small:.2f}**"),
        ("(g) uploads for 100 image items sharing one input",
         f"{up['stats']['uploads']} ({up['stats']['submissions']} submissions)"),
    ]  # fmt: skip
    killable = Emulator(0.25, C, pin)
    try:
        quiet = killed_and_rerun(killable, tmp / "kill-quiet", 100, C, quiet_moment=True)
        anytime = killed_and_rerun(killable, tmp / "kill-any", 100, C, quiet_moment=False)
    finally:
        killable.stop()
    rows += [
        ("(h) 100 items, SIGKILL once jobs are recorded, same command again",
         f"{quiet['images']} images, {quiet['submissions']} submissions"),
        ("(h) 100 items, SIGKILL at once (submits in flight), same command again",
         f"{anytime['images']} images, {anytime['submissions']} submissions"),
    ]  # fmt: skip
    write_results(rows, args, pin, started, load0)
    return 0


BEGIN, END = "<!-- bench/run.py: begin -->", "<!-- bench/run.py: end -->"


def replace_section(path: Path, figures: str) -> None:
    """Put ``figures`` between this script's markers in ``path`` (at the top the first time),
    keeping the hand-written profile summary there (from ``## Profile`` on) and every other
    script's section."""
    text = path.read_text() if path.exists() else ""
    start, end = text.find(BEGIN), text.find(END)
    kept = ""
    if start >= 0 and end > start:
        old = text[start:end]
        kept = old[old.index("\n## Profile") :].rstrip("\n") if "\n## Profile" in old else ""
        before, after = text[:start], text[end + len(END) :].lstrip("\n")
    else:
        before, after = "", text
    block = f"{BEGIN}\n{figures}{kept}\n{END}\n"
    path.write_text(before + block + ("\n" + after if after else ""))


def write_results(
    rows: list[tuple[str, str]], args: Any, pin: Pinning, started: float, load0: Any
) -> None:
    elapsed, load1 = time.monotonic() - started, os.getloadavg()
    table = "| measure | value |\n|---|---|\n" + "".join(f"| {k} | {v} |\n" for k, v in rows)
    print(table)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    machine = (
        f"{platform.system()} {platform.machine()}, nproc {os.cpu_count()}, "
        f"Python {platform.python_version()}"
    )
    command = ".venv/bin/python bench/run.py" + (
        f" --baseline {args.baseline}" if args.baseline else ""
    )
    baseline = ""
    if args.baseline:
        rev = subprocess.run(
            ["git", "-C", str(ROOT), "log", "-1", "--format=%h %s", args.baseline],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        baseline = f"Baseline: {rev[:100]}  \n"
    notes = (
        f"- Load average (1, 5, 15 min) at the start: {', '.join(f'{x:.2f}' for x in load0)}; "
        f"at the end: {', '.join(f'{x:.2f}' for x in load1)} (other work shares this machine).\n"
        f"- CPUs: {pin.describe()}\n"
        f"- Emulator: `twat-genai emulator --port 0 --latency {LATENCY:g} --capacity C` for (a) "
        "and (b) (C as the client's `--concurrency`; the client keeps C/8 more jobs waiting in "
        "the emulated fal queue, as it does on fal), `--latency 0.05 --capacity 32` for (d), (e) "
        "and (g), `--latency 0.25` for (h); every one with one plain picture per size "
        f"({Emulator.plain_how()}), so image drawing is not in its CPU.\n"
        f"- (a) and (b) run {REPEATS} times each: medians, with (min-max); a baseline runs "
        "once. Client CPU and peak RSS are the CLI process's own rusage (a wrapper process per "
        "run), start-up included; emulator CPU is the emulator process's user+sys over the run "
        "(psutil). The reference is a `http.client` keep-alive loop making as many GETs of "
        "`/_emulator` as the run made requests, on the same emulator: its own user+sys per "
        "round-trip.\n"
        f"- (c) runs {SEQ_N} jobs one at a time in-process and extrapolates to {N}.\n"
        f"- (d) uses `--latency 0.05`; the folder holds {FOLDER_FILES:,} empty files named as "
        "outputs are (half `.jpg`, half `.json`).\n"
        "- (f) times `get`, `submitted`, `saving` and `finish` of new items in a journal "
        "already holding that many entries (in-process, wall time): the median of 5 rounds of 100.\n"
        "- (h) kills once 40 jobs were submitted. The first row holds job completion and waits "
        "until the journal has every submitted job; the second kills at once: a submission "
        "fal accepted whose answer had not arrived cannot be re-attached (fal has no "
        "idempotency key), so it is submitted again.\n"
        "- The project's source is byte-compiled first, as an installed CLI is.\n"
        f"- Whole benchmark: {elapsed:.0f} s.\n"
    )
    figures = (
        "# Batch benchmark results\n\n"
        f"Command: `{command}`  \n{baseline}Date: {when}  \nMachine: {machine}\n\n"
        f"{table}\nNotes:\n\n{notes}"
    )
    replace_section(ROOT / "bench" / "RESULTS.md", figures)
    print(f"wrote bench/RESULTS.md in {elapsed:.0f} s")


if __name__ == "__main__":
    raise SystemExit(main())
