"""The per-well area-noise measurement and the w_area scaling it drives (``costs.area_change_noise``,
``tracker.area_weighted_params``)."""

from __future__ import annotations

import numpy as np
import pytest

from lftiming_ml.tracking.config import TrackerParams
from lftiming_ml.tracking.costs import area_change_noise, equivalent_radius
from lftiming_ml.tracking.linking import FrameData
from lftiming_ml.tracking.tracker import area_weighted_params


def two_far_cells(n_frames: int, log_noise: float, seed: int = 0) -> list[FrameData]:
    """Two cells 40 px apart that move 1 px per frame; areas jitter by ``log_noise`` (|d log A| ~ that scale)."""
    rng = np.random.default_rng(seed)
    frames = []
    for t in range(n_frames):
        c = np.array([[20.0 + t % 3, 20.0], [20.0, 60.0 + t % 3]])
        a = np.array([100.0, 200.0]) * np.exp(log_noise * rng.standard_normal(2))
        frames.append(FrameData(c, a, equivalent_radius(a), None))
    return frames


def noise_of(frames: list[FrameData]) -> float:
    return area_change_noise([f.centroids for f in frames], [f.areas for f in frames], [f.radii for f in frames])


def test_area_noise_grows_with_mask_jitter() -> None:
    quiet, noisy = noise_of(two_far_cells(30, 0.01)), noise_of(two_far_cells(30, 0.08))
    assert quiet < 0.02 < 0.05 < noisy


def test_area_noise_ignores_ambiguous_links() -> None:
    # two cells 8 px apart (radius ~6-8 px): every link is ambiguous, so no evidence
    frames = [FrameData(np.array([[20.0, 20.0], [20.0, 28.0]]), np.array([100.0, 200.0]) * (1 + 0.3 * (t % 2)),
                        equivalent_radius(np.array([100.0, 200.0])), None) for t in range(30)]
    assert np.isnan(noise_of(frames))


def test_area_noise_needs_enough_links() -> None:
    assert np.isnan(noise_of(two_far_cells(3, 0.05)))  # 4 links < 10
    assert np.isnan(area_change_noise([], [], []))


@pytest.mark.parametrize("log_noise, scaled", [(0.005, False), (0.1, True)])
def test_w_area_is_scaled_only_for_noisy_masks(log_noise: float, scaled: bool) -> None:
    params = TrackerParams()
    frames = two_far_cells(40, log_noise)
    out = area_weighted_params(frames, params)
    if scaled:
        factor = params.area_noise_reference / noise_of(frames)
        assert out.w_area == pytest.approx(params.w_area * factor)
        assert out.w_elongation == pytest.approx(params.w_elongation * factor)  # shape is as noisy as size
        assert out.w_area < params.w_area
    else:
        assert out.w_area == params.w_area and out.w_elongation == params.w_elongation
    assert area_weighted_params(frames, params.model_copy(update={"area_noise_reference": None})).w_area == params.w_area
