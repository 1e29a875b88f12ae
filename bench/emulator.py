"""The emulator's own CPU per job, measured from outside while the real CLI drives a batch.

One command: ``.venv/bin/python bench/emulator.py [--baseline REV] [--profile DIR]``.

The emulator runs as a subprocess (``--latency 1 --capacity 32``, uncaptioned pictures so image
drawing is not measured) and ``twat-genai text`` sends it 320 prompts at ``--concurrency 32``.
The figure is the emulator process's user+sys CPU over the batch divided by the jobs. With
``--baseline REV`` the emulator of git revision ``REV`` (its ``src/`` exported to a temporary
folder) runs the same batch in the same run, its pictures likewise reduced to one cached plain
image per size, so both figures measure the server and the protocol only. ``--profile DIR``
runs each emulator under cProfile and writes ``DIR/<label>.prof`` plus its top functions;
``--drawn`` keeps the default pictures (one drawn and encoded per job) on both sides.
"""

from __future__ import annotations

import argparse
import io
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from parts import export_tree, read_exports

ROOT = Path(__file__).resolve().parent.parent
CLI = str(Path(sys.executable).parent / "twat-genai")
N, C, LATENCY = 320, 32, 1.0

#: Runs the emulator of a given source tree; old trees get plain pictures by patching ``render``.
_LAUNCH = """
import functools, sys
src, latency, capacity, profile = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
drawn = sys.argv[5] == "1"
sys.path.insert(0, src)
import inspect
from twat_genai.testing import server as s
kwargs = dict(port=0, latency=latency, capacity=capacity)
if drawn:
    pass
elif "plain_images" in inspect.signature(s.serve).parameters:
    kwargs["plain_images"] = True
else:
    from PIL import Image
    from twat_genai.testing import media
    @functools.lru_cache(maxsize=64)
    def plain(key, width, height, fmt="jpeg", blocked=False):
        return media.encode(Image.new("RGB", (width, height), (128, 128, 128)), fmt)
    media.render = lambda key, w, h, fmt="jpeg", blocked=False: plain("", w, h, fmt, blocked)
if profile:
    import cProfile
    cProfile.run("s.serve(**kwargs)", profile)
else:
    s.serve(**kwargs)
"""


class Emulator:
    """An emulator subprocess for one source tree; its export lines give the URLs."""

    def __init__(self, src: Path, profile: str = "", drawn: bool = False) -> None:
        argv = [sys.executable, "-c", _LAUNCH, str(src), str(LATENCY), str(C), profile]
        argv.append("1" if drawn else "0")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        self.env = read_exports(self.proc)
        self.ps = psutil.Process(self.proc.pid)

    def cpu(self) -> tuple[float, float]:
        t = self.ps.cpu_times()
        return float(t.user), float(t.system)

    def stop(self) -> None:
        self.proc.send_signal(2)  # SIGINT: lets cProfile write its file
        self.proc.wait(timeout=60)


def batch(emu: Emulator, out: Path) -> dict[str, Any]:
    """Run the CLI batch; the emulator's CPU and the wall time over it."""
    env = {**os.environ, **emu.env, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1"}
    prompts = "bench {" + ",".join(str(i) for i in range(N)) + "}"
    argv = [CLI, "text", "--prompts", prompts, "--concurrency", str(C)]
    argv += ["--output_dir", str(out), "--quiet"]
    (user0, sys0), started = emu.cpu(), time.monotonic()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.monotonic() - started
    user1, sys1 = emu.cpu()
    return {"cpu": user1 - user0 + sys1 - sys0, "sys": sys1 - sys0, "wall": wall}


def top(profile: Path, n: int = 15) -> str:
    """The ``n`` most expensive functions (own time) of a cProfile file."""
    buf = io.StringIO()
    pstats.Stats(str(profile), stream=buf).sort_stats("tottime").print_stats(n)
    return buf.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", help="git revision whose emulator runs the same batch")
    parser.add_argument("--profile", type=Path, help="write cProfile files to this folder")
    parser.add_argument(
        "--drawn", action="store_true", help="draw a picture per job (the default emulator)"
    )
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="twat-genai-emubench-"))
    trees = [("current", ROOT / "src")]
    if args.baseline:
        trees.insert(0, (f"baseline {args.baseline}", export_tree(args.baseline, tmp / "base")))
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    for i, (label, src) in enumerate(trees):
        prof = args.profile / f"{label.split()[0]}.prof" if args.profile else None
        emu = Emulator(src, str(prof or ""), drawn=args.drawn)
        try:
            result = batch(emu, tmp / f"out{i}")
        finally:
            emu.stop()
        per_job = 1000 * result["cpu"] / N
        print(
            f"{label}: emulator CPU {per_job:.2f} ms/job ({result['cpu']:.2f} s for {N} jobs, "
            f"{result['sys']:.2f} s of it in the kernel), "
            f"batch wall {result['wall']:.2f} s"
        )
        if prof is not None:
            print(top(prof))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
