"""Local provider benchmark: output megapixels per second of each upscaler, and peak memory.

One command: ``.venv/bin/python bench/local.py``. Each figure comes from its own child process,
so a peak RSS is that run's alone and no net loaded for one figure helps another:

* output MP/s (output pixels / wall seconds of one call, net already loaded) for
  realesr-animevideov3 x2, x3, x4 (512×512 input), x2 on one thread, realesrgan-x4plus
  (128×128 input; the estimate printed before it is compared with the run), Lanczos x2 and x4;
* peak RSS of a whole process upscaling a 2048×2048 input with the default model at x2
  (target: under 1.5 GB), and its output MP/s (target: at least 0.5);
* seconds for Canny on 2048×2048 and a classical outpaint of 1024×1024 to 2048×2048.

The machine may be shared, and ncnn's threads slow down sharply when another process holds a
core. So each figure also reports the share of the machine's CPU time that other processes used
while it ran (from ``/proc/stat`` less the child's own rusage), and a figure run while others
took more than 10 % is run again (at most three times; the least disturbed run is kept). Each
run first waits, up to two minutes, for a quiet moment. The section it writes is put between
markers in ``bench/RESULTS.md`` and replaced on the next run.
"""

from __future__ import annotations

import json
import os
import platform
import re
import resource
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
BEGIN, END = "<!-- bench/local.py: begin -->", "<!-- bench/local.py: end -->"
RSS_TARGET_MB, RATE_TARGET = 1536, 0.5
QUIET, TRIES = 0.10, 3


def _scene(side: int) -> Any:
    """A picture with gradients, shapes and noise (speed does not depend on content)."""
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:side, 0:side]
    base = np.stack([40 + 160 * xx / side, 60 + 120 * yy / side, 150 + 0 * xx], -1)
    base = base + rng.normal(0, 8, base.shape)
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(side // 16):
        x, y, r = (int(v) for v in rng.integers(0, side, 3) // (1, 1, 8))
        draw.ellipse(
            [x - r, y - r, x + r, y + r], fill=tuple(int(c) for c in rng.integers(0, 256, 3))
        )
    return img


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one measurement in this process and return its figures."""
    from twat_genai.providers import local

    op, side, reps = spec["op"], spec["side"], spec.get("reps", 1)
    img = _scene(side)
    kw = spec.get("kw", {})
    estimate = None
    if op == "realesrgan":
        estimate = local.estimate_realesrgan_seconds(img.size, **kw)
        local.realesrgan(_scene(16), **kw)  # load (and verify) the net outside the timing
    call = {
        "realesrgan": lambda: local.realesrgan(img, **kw),
        "lanczos": lambda: local.lanczos(img, kw["scale"]),
        "canny": lambda: local.canny(img),
        "outpaint": lambda: local.outpaint_classical(img, (2 * side, 2 * side)),
    }[op]
    times, out = [], None
    for _ in range(reps):
        t = time.perf_counter()
        out = call()
        times.append(time.perf_counter() - t)
    assert out is not None
    best = min(times)
    return {
        "seconds": best,
        "output_mp": out.width * out.height / 1e6,
        "mp_per_s": out.width * out.height / 1e6 / best,
        "estimate": estimate,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _busy_seconds() -> float:
    """CPU seconds spent busy so far, summed over all CPUs (Linux ``/proc/stat``)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _wait_quiet(limit: float = 120.0) -> None:
    """Wait (up to ``limit`` s) until other processes leave the CPUs at least 90 % idle for 2 s."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        busy0, t0 = _busy_seconds(), time.monotonic()
        time.sleep(2.0)
        if _busy_seconds() - busy0 <= 0.1 * (time.monotonic() - t0) * (os.cpu_count() or 1):
            return


def _run_child(spec: dict[str, Any]) -> dict[str, Any]:
    _wait_quiet()
    busy0, own0, t0 = _busy_seconds(), resource.getrusage(resource.RUSAGE_CHILDREN), time.time()
    proc = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)],
        capture_output=True,
        text=True,
        check=True,
    )
    busy1, own1, t1 = _busy_seconds(), resource.getrusage(resource.RUSAGE_CHILDREN), time.time()
    own = (own1.ru_utime + own1.ru_stime) - (own0.ru_utime + own0.ru_stime)
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["others"] = max(0.0, (busy1 - busy0) - own) / ((t1 - t0) * (os.cpu_count() or 1))
    return result


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """One child process per figure; again while other processes took over 10 % of the CPU."""
    runs = []
    for _ in range(TRIES):
        runs.append(_run_child(spec))
        if runs[-1]["others"] <= QUIET:
            break
    best = min(runs, key=lambda r: r["others"])
    best["tries"] = len(runs)
    return best


FIGURES: list[tuple[str, dict[str, Any]]] = [
    (
        "realesr-animevideov3 x2, 512² input",
        {"op": "realesrgan", "side": 512, "reps": 3, "kw": {"scale": 2}},
    ),
    (
        "realesr-animevideov3 x3, 512² input",
        {"op": "realesrgan", "side": 512, "reps": 2, "kw": {"scale": 3}},
    ),
    (
        "realesr-animevideov3 x4, 512² input",
        {"op": "realesrgan", "side": 512, "reps": 2, "kw": {"scale": 4}},
    ),
    (
        "realesr-animevideov3 x2, 512² input, 1 thread",
        {"op": "realesrgan", "side": 512, "reps": 2, "kw": {"scale": 2, "threads": 1}},
    ),
    (
        "realesrgan-x4plus x4, 128² input",
        {"op": "realesrgan", "side": 128, "kw": {"scale": 4, "model": "realesrgan-x4plus"}},
    ),
    ("lanczos x2, 2048² input", {"op": "lanczos", "side": 2048, "reps": 3, "kw": {"scale": 2}}),
    ("lanczos x4, 1024² input", {"op": "lanczos", "side": 1024, "reps": 3, "kw": {"scale": 4}}),
    ("canny, 2048² input", {"op": "canny", "side": 2048, "reps": 3}),
    ("outpaint_classical 1024² to 2048²", {"op": "outpaint", "side": 1024, "reps": 3}),
]
PEAK = {"op": "realesrgan", "side": 2048, "kw": {"scale": 2}}


def _write(section: str) -> None:
    text = RESULTS.read_text() if RESULTS.exists() else ""
    block = f"{BEGIN}\n{section}\n{END}\n"
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END) + r"\n?", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip("\n") + "\n\n" + block
    RESULTS.write_text(text)


def main() -> int:
    start = time.monotonic()
    peak = measure(PEAK)  # first: the figure with a target, before other work warms anything
    print(
        f"2048² x2 default model: peak RSS {peak['peak_rss_mb']:.0f} MB, "
        f"{peak['mp_per_s']:.3f} output MP/s ({peak['seconds']:.1f} s, "
        f"estimate {peak['estimate']:.1f} s), others {peak['others']:.0%}"
    )
    rows = []
    for label, spec in FIGURES:
        r = measure(spec)
        rows.append((label, r))
        est = f", estimate {r['estimate']:.1f} s" if r["estimate"] is not None else ""
        print(
            f"{label}: {r['mp_per_s']:.3f} output MP/s ({r['seconds']:.2f} s{est}), "
            f"others {r['others']:.0%}"
        )
    ok_rss, ok_rate = peak["peak_rss_mb"] < RSS_TARGET_MB, peak["mp_per_s"] >= RATE_TARGET
    lines = [
        "## Local provider (bench/local.py)",
        "",
        "Command: `.venv/bin/python bench/local.py`  ",
        f"Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC  ",
        f"Machine: {platform.system()} {platform.machine()}, nproc {os.cpu_count()}, "
        f"Python {platform.python_version()}",
        "",
        "| measure | output MP/s | seconds | CPU used by others (runs) |",
        "|---|---|---|---|",
    ]
    for label, r in rows:
        est = f" (estimate {r['estimate']:.1f})" if r["estimate"] is not None else ""
        lines.append(
            f"| {label} | {r['mp_per_s']:.3f} | {r['seconds']:.2f}{est} | "
            f"{r['others']:.0%} ({r['tries']}) |"
        )
    lines += [
        f"| realesr-animevideov3 x2, 2048² input (target >= {RATE_TARGET}) | {peak['mp_per_s']:.3f} | "
        f"{peak['seconds']:.1f} (estimate {peak['estimate']:.1f}) | "
        f"{peak['others']:.0%} ({peak['tries']}) |",
        "",
        f"Peak RSS of the whole process for the 2048² x2 run: {peak['peak_rss_mb']:.0f} MB "
        f"(target < {RSS_TARGET_MB} MB: {'met' if ok_rss else 'MISSED'}); "
        f"output rate target >= {RATE_TARGET} MP/s: {'met' if ok_rate else 'MISSED'}.",
        "",
        "Notes:",
        "",
        "- Output MP/s = output pixels / wall seconds of one call (best of the repetitions); each "
        "figure runs in its own process with the net loaded and verified before timing.",
        "- x2 and x3 run the x4 network and reduce inside the graph, so per *input* pixel all three "
        "scales cost the same; x4 yields 4x the output pixels of x2 for that cost.",
        "- ncnn uses one thread per physical core (2 here) unless told otherwise. The machine is "
        "shared with other work: the last column is the share of all CPU time that other "
        "processes took during the figure, and the number of runs (a figure is run again while "
        "that share is above 10 %, three runs at most, and the least disturbed run is kept). "
        "Two-thread ncnn figures fall well below the one-thread one when another process holds "
        "a core.",
        "- The estimate is `estimate_realesrgan_seconds` for that input, printed before the run.",
        f"- Whole benchmark: {time.monotonic() - start:.0f} s.",
    ]
    _write("\n".join(lines))
    print(f"appended the local section to {RESULTS.relative_to(ROOT)}")
    return 0 if ok_rss and ok_rate else 1


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(child(json.loads(sys.argv[2]))))
        raise SystemExit(0)
    raise SystemExit(main())
