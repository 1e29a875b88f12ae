"""Offline image work: no API key, no network, everything on this machine's CPU.

The operations take a Pillow image or encoded bytes and return a new Pillow image in the input's
mode (RGBA keeps its alpha):

* :func:`realesrgan` — Real-ESRGAN super-resolution (ncnn), x2/x3/x4; tiled, with progress.
  :func:`estimate_realesrgan_seconds` tells how long it will take before it starts.
* :func:`lanczos` — classical resizing, any factor (Pillow only).
* :func:`canny` — an edge map for Canny ControlNets (OpenCV).
* :func:`outpaint_classical` — a larger canvas filled by OpenCV inpainting: a classical fill
  that continues colours, not generation.

Everything but :func:`lanczos` needs the ``local`` extra (``pip install 'twat-genai[local]'``
or ``uv sync --extra local``); without it they raise :class:`~twat_genai.core.errors.UsageError`
naming that command. numpy, OpenCV and ncnn are imported on first use, never at import time.
"""

from __future__ import annotations

from twat_genai.providers.local.canny import canny
from twat_genai.providers.local.lanczos import lanczos
from twat_genai.providers.local.outpaint import outpaint_classical
from twat_genai.providers.local.realesrgan import (
    ProgressCallback,
    default_threads,
    estimate_realesrgan_seconds,
    realesrgan,
)
from twat_genai.providers.local.weights import DEFAULT_MODEL, MODELS

__all__ = [
    "DEFAULT_MODEL",
    "MODELS",
    "ProgressCallback",
    "canny",
    "default_threads",
    "estimate_realesrgan_seconds",
    "lanczos",
    "outpaint_classical",
    "realesrgan",
]
