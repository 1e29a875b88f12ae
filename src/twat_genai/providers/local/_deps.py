"""Imports of the ``local`` extra, turned into one-line :class:`UsageError` s when it is missing.

numpy, OpenCV and ncnn are imported here, inside functions, and nowhere at module level: the
extra is optional and ``import twat_genai`` must stay light (the CLI's ``--help`` budget).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from twat_genai.core.errors import UsageError

__all__ = ["INSTALL_HINT", "NO_NCNN_NEEDED", "require_cv2", "require_ncnn", "require_numpy"]

#: How to get the extra, as every message here says it.
INSTALL_HINT = "install the extra: pip install 'twat-genai[local]' (or: uv sync --extra local)"
#: What still works when Real-ESRGAN cannot run.
NO_NCNN_NEEDED = "lanczos, canny and outpaint_classical do not need ncnn or the weights"


def _missing(what: str, exc: ImportError, *, still_works: str = "") -> UsageError:
    # The import's own reason is kept: "libGL.so.1: cannot open shared object file" differs
    # from "No module named 'cv2'", and only the first needs more than the extra.
    reason = " ".join(str(exc).split()) or type(exc).__name__
    tail = f"; {still_works}" if still_works else ""
    return UsageError(f"local: {what} is not available ({reason}) - {INSTALL_HINT}{tail}")


def require_numpy() -> ModuleType:
    """numpy, or a :class:`UsageError` naming the extra."""
    try:
        return importlib.import_module("numpy")
    except ImportError as exc:
        raise _missing("numpy", exc) from None


def require_cv2() -> ModuleType:
    """OpenCV (``cv2``), or a :class:`UsageError` naming the extra."""
    try:
        return importlib.import_module("cv2")
    except ImportError as exc:
        raise _missing("OpenCV (opencv-python-headless)", exc) from None


def require_ncnn() -> ModuleType:
    """The ncnn runtime that runs Real-ESRGAN, or a :class:`UsageError` naming the extra.

    The message says that lanczos, canny and outpaint_classical do not need ncnn, so a caller
    on a platform without an ncnn wheel knows what still works. (A missing numpy surfaces here
    too, as ncnn's own import error, so the message still names Real-ESRGAN.)
    """
    try:
        return importlib.import_module("ncnn")
    except ImportError as exc:
        raise _missing(
            "Real-ESRGAN's runtime (ncnn)",
            exc,
            still_works=NO_NCNN_NEEDED,
        ) from None
