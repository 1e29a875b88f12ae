"""Lanczos, Canny and the classical outpaint on small images."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from twat_genai.core.errors import UsageError
from twat_genai.providers.local import canny, lanczos, outpaint_classical

Scene = Callable[..., Image.Image]


@pytest.mark.parametrize(("scale", "size"), [(2, (128, 96)), (1.5, (96, 72)), (0.5, (32, 24))])
def test_lanczos_any_factor(scene: Scene, scale: float, size: tuple[int, int]) -> None:
    """Any positive factor: the size is the input's times the factor, rounded."""
    assert lanczos(scene((64, 48)), scale).size == size


def test_lanczos_to_size_keeps_mode(scene: Scene) -> None:
    """An explicit size is honoured and RGBA stays RGBA; palette images become RGB."""
    out = lanczos(scene((64, 48), mode="RGBA"), size=(100, 30))
    assert (out.size, out.mode) == ((100, 30), "RGBA")
    assert lanczos(scene((64, 48), mode="P"), 2).mode == "RGB"


@pytest.mark.parametrize("bad", [{}, {"scale": 2, "size": (4, 4)}, {"scale": 0}, {"scale": -1}])
def test_lanczos_refuses_bad_arguments(scene: Scene, bad: dict[str, object]) -> None:
    """Exactly one of scale and size, and a positive scale."""
    with pytest.raises(UsageError):
        lanczos(scene(), **bad)


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_canny_binary_edge_map(scene: Scene, mode: str) -> None:
    """The map has the input's size, only 0 and 255, and edges along the drawn shapes."""
    img = scene((96, 72))
    edges = canny(img, mode=mode)
    assert (edges.size, edges.mode) == ((96, 72), mode)
    values = np.asarray(edges)
    assert set(np.unique(values)) <= {0, 255}
    share = (values > 0).mean()
    assert 0.01 < share < 0.4, f"edge share {share:.3f}"
    if mode == "RGB":
        assert (values[..., 0] == values[..., 1]).all()


def test_canny_flat_image_has_no_edges() -> None:
    """A uniform image has no edges, whatever the automatic thresholds make of its median."""
    assert not np.asarray(canny(Image.new("RGB", (40, 30), (90, 90, 90)), mode="L")).any()


def test_canny_thresholds_matter(scene: Scene) -> None:
    """Explicit low thresholds find at least as many edges as high ones."""
    img = scene((96, 72), seed=1)
    many = (np.asarray(canny(img, low=5, high=20, mode="L")) > 0).sum()
    few = (np.asarray(canny(img, low=200, high=400, mode="L")) > 0).sum()
    assert many > few


@pytest.mark.parametrize(
    ("canvas", "location"), [((120, 100), None), ((200, 64), (0, 8)), ((64, 48), None)]
)
def test_outpaint_keeps_the_input_in_place(
    scene: Scene, canvas: tuple[int, int], location: tuple[int, int] | None
) -> None:
    """The input's pixels come back unchanged where they were placed (centred by default)."""
    img = scene((64, 48))
    out = outpaint_classical(img, canvas, location=location)
    assert (out.size, out.mode) == (canvas, "RGB")
    x, y = location or ((canvas[0] - 64) // 2, (canvas[1] - 48) // 2)
    kept = np.asarray(out)[y : y + 48, x : x + 64]
    assert np.array_equal(kept, np.asarray(img))


@pytest.mark.parametrize("method", ["ns", "telea"])
def test_outpaint_fills_without_black(scene: Scene, method: str) -> None:
    """The new area is filled from the input's colours: nothing near black, nothing left empty."""
    img = scene((64, 48))
    out = np.asarray(outpaint_classical(img, (256, 160), method=method))
    new = np.ones(out.shape[:2], dtype=bool)
    new[56:104, 96:160] = False
    assert out[new].min() >= 30, "a near-black pixel in the fill"
    lo = np.asarray(img).reshape(-1, 3).min(axis=0)
    hi = np.asarray(img).reshape(-1, 3).max(axis=0)
    assert (out[new] >= lo - 8).all() and (out[new] <= hi + 8).all(), "colours not from the input"


def test_outpaint_uniform_border_stays_uniform() -> None:
    """A uniform input extends to the same colour (the default method does not drift)."""
    out = np.asarray(outpaint_classical(Image.new("RGB", (40, 30), (40, 90, 160)), (400, 300)))
    assert np.abs(out.astype(int) - (40, 90, 160)).max() <= 1


def test_outpaint_rgba_fills_alpha_too(scene: Scene) -> None:
    """RGBA stays RGBA; the input's alpha is kept and the new area's alpha is filled."""
    img = scene((64, 48), mode="RGBA")
    out = outpaint_classical(img, (128, 96))
    assert out.mode == "RGBA"
    alpha = np.asarray(out.getchannel("A"))
    assert np.array_equal(alpha[24:72, 32:96], np.asarray(img.getchannel("A")))


def test_outpaint_tiny_input_on_a_big_canvas() -> None:
    """An input smaller than one working pixel still seeds the fill with its colour."""
    out = np.asarray(outpaint_classical(Image.new("RGB", (2, 2), (200, 100, 50)), (1200, 900)))
    assert np.abs(out.astype(int) - (200, 100, 50)).max() <= 2


@pytest.mark.parametrize(
    ("canvas", "kwargs", "message"),
    [
        ((32, 100), {}, "smaller than the input"),
        ((100, 100), {"location": (50, 0)}, "does not fit"),
        ((100, 100), {"method": "magic"}, "method must be"),
    ],
)
def test_outpaint_refuses_bad_geometry(
    scene: Scene, canvas: tuple[int, int], kwargs: dict[str, object], message: str
) -> None:
    """A canvas smaller than the input, or a placement outside it, is refused in one line."""
    with pytest.raises(UsageError, match=message):
        outpaint_classical(scene((64, 48)), canvas, **kwargs)
