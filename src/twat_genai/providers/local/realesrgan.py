"""Real-ESRGAN upscaling on the CPU with ncnn: x2, x3 and x4, tiled so memory stays bounded.

Why tiles: the networks keep 64 feature channels at the input's resolution, so a whole 2048×2048
input would need gigabytes, and throughput falls once a tile outgrows the CPU caches. Each tile
is run with ``pad`` pixels of real image around it (see :class:`ModelSpec`) and only its centre
is kept, so tiled and whole-image runs differ by under a grey level and no seam shows. At the
image's edges no context is invented: a border tile sees exactly what a whole-image run sees.

Alpha is not fed to the network (it was trained on RGB); it is resized with Lanczos and put back.

The ncnn ``Net`` of each (model, scale, threads) is loaded once per process (weights verified by
hash, see :mod:`.weights`) and shared; every call makes its own extractor, so concurrent calls are
safe. The thread count is part of the key because ncnn fixes it when the net is loaded: its
Winograd convolutions keep the load-time value and only print a warning if it is changed later.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twat_genai.core.errors import ModelError, UsageError
from twat_genai.providers.local._deps import require_ncnn, require_numpy
from twat_genai.providers.local._images import check_output_size, load_image, merge, split
from twat_genai.providers.local.weights import DEFAULT_MODEL, locate_weights, model_spec

if TYPE_CHECKING:
    from PIL import Image as PILImage

__all__ = ["ProgressCallback", "default_threads", "estimate_realesrgan_seconds", "realesrgan"]

#: ``on_progress(done_tiles, total_tiles)``: called with 0 before the first tile, then per tile.
ProgressCallback = Callable[[int, int], None]

_nets: dict[tuple[str, int, int], Any] = {}
_nets_lock = threading.Lock()


def default_threads() -> int:
    """Threads for ncnn: the CPUs this process may use, but no more than physical cores.

    ncnn's convolutions are compute-bound, so hyper-threads add contention, not speed; and a
    container limited by affinity should not be oversubscribed.
    """
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on every platform (macOS, Windows)
        usable = os.cpu_count() or 1
    try:
        physical = int(require_ncnn().get_physical_big_cpu_count())
    except (UsageError, AttributeError):
        physical = usable
    return max(1, min(usable, physical or usable))


def _net(model: str, scale: int, threads: int) -> Any:
    """The shared ncnn ``Net`` for (model, scale, threads), loaded on first use."""
    key = (model, scale, threads)
    with _nets_lock:
        net = _nets.get(key)
        if net is None:
            ncnn = require_ncnn()
            weights = locate_weights(model, scale)
            net = ncnn.Net()
            net.opt.use_vulkan_compute = False  # CPU only: the wheels' Vulkan needs drivers
            net.opt.num_threads = threads
            if net.load_param(str(weights.param)) != 0 or net.load_model(str(weights.bin)) != 0:
                raise ModelError(f"ncnn could not load {weights.param}", provider="local")
            _nets[key] = net
        return net


def _spans(length: int, core: int) -> list[tuple[int, int]]:
    """``length`` cut into equal spans of at most ``core`` (no thin leftover span at the end)."""
    n = max(1, math.ceil(length / core))
    cuts = [round(i * length / n) for i in range(n + 1)]
    return [(a, b) for a, b in itertools.pairwise(cuts) if b > a]


def _tiles(
    size: tuple[int, int], core: int, pad: int
) -> list[tuple[tuple[int, int, int, int], tuple[int, int, int, int]]]:
    """``(kept box, context box)`` pairs as (left, top, right, bottom) in input pixels."""
    w, h = size
    out = []
    for top, bottom in _spans(h, core):
        for left, right in _spans(w, core):
            ctx = (max(0, left - pad), max(0, top - pad), min(w, right + pad), min(h, bottom + pad))
            out.append(((left, top, right, bottom), ctx))
    return out


def _check_args(scale: int, model: str, tile: int | None, threads: int | None) -> tuple[int, int]:
    spec = model_spec(model, scale)
    core = spec.tile if tile is None else tile
    if core < 16:
        raise UsageError(f"local: tile must be at least 16 pixels, got {core}")
    n = default_threads() if threads is None else threads
    if n < 1:
        raise UsageError(f"local: threads must be at least 1, got {n}")
    return core, n


def estimate_realesrgan_seconds(
    size: tuple[int, int],
    *,
    scale: int = 2,
    model: str = DEFAULT_MODEL,
    tile: int | None = None,
    threads: int | None = None,
) -> float:
    """Rough wall time of :func:`realesrgan` on an input of ``size`` (width, height), in seconds.

    Meant to be printed before a slow run (realesrgan-x4plus takes minutes for a 512×512 input).
    It counts the pixels the tiles really feed to the network, context included, and divides by
    a per-thread rate measured on a 2-core Xeon (bench/local.py); it assumes the threads scale
    linearly and the machine is otherwise idle, so a busy or slower machine takes longer.
    """
    spec = model_spec(model, scale)
    core, n = _check_args(scale, model, tile, threads)
    boxes = _tiles(size, core, spec.pad)
    fed = sum((right - left) * (bottom - top) for _, (left, top, right, bottom) in boxes)
    return fed / (spec.pixels_per_thread_second * n)


def _run_tile(net: Any, ncnn: Any, np: Any, rgb: Any, scale: int) -> Any:
    """One tile (H×W×3 uint8) through the network: (H·s)×(W·s)×3 uint8."""
    x = np.ascontiguousarray(rgb.transpose(2, 0, 1), dtype=np.float32)
    x *= 1.0 / 255.0
    mat = ncnn.Mat(x)  # wraps x without copying: x must outlive the extraction
    ex = net.create_extractor()
    ex.input(net.input_names()[0], mat)
    ret, out = ex.extract(net.output_names()[0])
    if ret != 0:
        raise ModelError(f"ncnn inference failed (code {ret})", provider="local")
    y = np.array(out, dtype=np.float32, copy=True)
    want = (3, rgb.shape[0] * scale, rgb.shape[1] * scale)
    if y.shape != want:
        raise ModelError(f"ncnn returned {y.shape}, expected {want}", provider="local")
    y *= 255.0
    y += 0.5
    np.clip(y, 0.0, 255.0, out=y)
    return y.astype(np.uint8).transpose(1, 2, 0)


def realesrgan(
    image: PILImage.Image | bytes,
    *,
    scale: int = 2,
    model: str = DEFAULT_MODEL,
    tile: int | None = None,
    threads: int | None = None,
    on_progress: ProgressCallback | None = None,
) -> PILImage.Image:
    """Upscale ``image`` by ``scale`` with a Real-ESRGAN network, offline on the CPU.

    ``model`` is ``"realesr-animevideov3"`` (default; x2, x3, x4; ~0.6 output MP/s at x2 on two
    idle cores) or ``"realesrgan-x4plus"`` (x4 only; sharper on photographs but far slower and
    up to ~1.5 GB at its default tile, see :func:`estimate_realesrgan_seconds`). ``tile`` is the side
    of each tile's kept centre in input pixels (default per model; smaller saves memory, costs
    time); ``threads`` defaults to :func:`default_threads`. ``on_progress`` is called as tiles
    finish; an exception raised in it stops the run, which is how a caller cancels.

    Returns a new image in the input's mode (RGB, RGBA, L or LA; others become RGB or RGBA),
    its alpha resized with Lanczos. Raises :class:`UsageError` for a missing extra, an unknown
    model or scale, or an output above the size limit.
    """
    from PIL import Image

    core, n = _check_args(scale, model, tile, threads)
    img = load_image(image)
    w, h = img.size
    check_output_size(w * scale, h * scale, f"realesrgan x{scale}")
    ncnn = require_ncnn()
    np = require_numpy()
    net = _net(model, scale, n)
    rgb_img, alpha, mode = split(img)
    rgb = np.asarray(rgb_img, dtype=np.uint8)
    out = np.empty((h * scale, w * scale, 3), dtype=np.uint8)
    tiles = _tiles((w, h), core, model_spec(model, scale).pad)
    if on_progress is not None:
        on_progress(0, len(tiles))
    for done, ((left, top, right, bottom), (cl, ct, cr, cb)) in enumerate(tiles, 1):
        up = _run_tile(net, ncnn, np, rgb[ct:cb, cl:cr], scale)
        oy, ox = (top - ct) * scale, (left - cl) * scale
        out[top * scale : bottom * scale, left * scale : right * scale] = up[
            oy : oy + (bottom - top) * scale, ox : ox + (right - left) * scale
        ]
        if on_progress is not None:
            on_progress(done, len(tiles))
    result = Image.fromarray(out)
    if alpha is not None:
        alpha = alpha.resize(result.size, Image.Resampling.LANCZOS)
    return merge(result, alpha, mode)
