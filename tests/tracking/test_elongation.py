"""The polarized-elongation term of Eq. 7: two runners of one size keep their identities by
their own elongation, where position and velocity say 'swap'."""

from __future__ import annotations

import numpy as np
import pytest

from lftiming_ml.metrics import mota
from lftiming_ml.tracking import TrackerParams, WellFrameDetections, track_well
from lftiming_ml.tracking.costs import elongation_dissimilarity, mask_elongation

from synthetic_wells import CROSSING_BOX as BOX, crossing_runners

SIZE = 86


def ellipse_mask(centre: np.ndarray, radius: float, elongation: float, angle: float, size: int = SIZE) -> np.ndarray:
    """bool[size, size]: an ellipse of the area of a disc of ``radius`` px, axes ratio
    ``elongation``, major axis at ``angle`` rad from +x."""
    yy, xx = np.mgrid[0:size, 0:size].astype(float)
    dy, dx = yy - centre[0], xx - centre[1]
    u = dx * np.cos(angle) + dy * np.sin(angle)
    v = dy * np.cos(angle) - dx * np.sin(angle)
    a, b = radius * np.sqrt(elongation), radius / np.sqrt(elongation)
    return (u / a) ** 2 + (v / b) ** 2 <= 1.0


def test_mask_elongation_is_the_axes_ratio_whatever_the_orientation() -> None:
    rng = np.random.default_rng(0)
    for e in (1.0, 1.3, 1.6):
        got = [mask_elongation(ellipse_mask(np.array([40.0, 40.0]), 8.0, e, rng.uniform(0, np.pi))[None])[0]
               for _ in range(5)]
        assert np.allclose(got, e, atol=0.08), (e, got)  # pixelation: a few % at this size
    assert mask_elongation(np.zeros((1, 9, 9), bool))[0] == 1.0  # empty mask: no evidence


def test_elongation_term_compares_polarized_cells_only() -> None:
    refs = [np.array([1.3, 1.32, 1.28]), np.array([1.6, 1.58, 1.62]), np.array([1.5, 1.5])]
    d = elongation_dissimilarity(refs, np.array([1.3, 1.6, 1.05]), split=1.2)
    assert d[0, 0] == pytest.approx(0.0) and d[1, 1] == pytest.approx(0.0)
    assert d[0, 1] == pytest.approx(np.log(1.6 / 1.3)) and d[1, 0] == pytest.approx(np.log(1.6 / 1.3))
    assert np.all(d[:, 2] == 0.0)  # a round (resting) detection says nothing
    assert np.all(d[2] == 0.0)  # a track with fewer than 3 polarized references says nothing yet


def polarized_runners(seed: int = 0) -> tuple[list[WellFrameDetections], np.ndarray]:
    """``crossing_runners`` after 3 frames of rest at their first positions, with elliptical
    masks: cell a elongated 1.3, cell b 1.6, both of one area, each at a random orientation
    in every frame (so the orientation-bound IoU term of Eq. 7 cannot tell them apart)."""
    dets, truth = crossing_runners(with_embeddings=False)
    dets, truth = [dets[0]] * 3 + dets, np.concatenate([truth[:1]] * 3 + [truth])
    rng = np.random.default_rng(seed)
    out = []
    for t, d in enumerate(dets):
        cells = [int(np.argmin(np.linalg.norm(truth[t] - c, axis=1))) for c in d.centroids]
        masks = np.stack([ellipse_mask(c, 6.0, (1.3, 1.6)[cell], rng.uniform(0, np.pi))
                          for c, cell in zip(d.centroids, cells)])
        out.append(WellFrameDetections(centroids=d.centroids, areas=masks.sum((1, 2)).astype(float), masks=masks))
    return out, truth


@pytest.mark.parametrize("steps", ["linker", "all"])
def test_elongation_keeps_identities_where_motion_swaps_them(steps: str) -> None:
    params = TrackerParams(reconcile=False, refine=False) if steps == "linker" else TrackerParams()
    dets, truth = polarized_runners()
    assert mota(truth, track_well(dets, BOX, params).positions, 3.0).n_id_switches == 0
    off = params.model_copy(update={"w_elongation": 0.0})
    assert mota(truth, track_well(dets, BOX, off).positions, 3.0).n_id_switches > 0  # the test bites
