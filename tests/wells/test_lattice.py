"""Lattice fit: robust to missing, spurious and neighbour-block boxes; clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from lftiming_ml.wells.config import WellGridParams
from lftiming_ml.wells.lattice import fit_lattice

PITCH, WELL, FIELD = 107.7, 76.9, (736, 736)
PARAMS = WellGridParams()


def true_grid(rot_deg: float = 1.0, origin=(95.3, 101.9), n: int = 6, pitch: float = PITCH) -> np.ndarray:
    """Centres float[n, n, 2] of a rotated lattice; row 0 on top."""
    th = np.radians(rot_deg)
    v_r = pitch * np.array([np.cos(th), -np.sin(th)])
    v_c = pitch * np.array([np.sin(th), np.cos(th)])
    r, c = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    return np.asarray(origin) + r[..., None] * v_r + c[..., None] * v_c


def detections(grid: np.ndarray, *, drop: float, n_spurious: int, noise: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    flat = grid.reshape(-1, 2)
    keep = rng.permutation(len(flat))[: int(round(len(flat) * (1 - drop)))]
    pts = flat[keep] + rng.normal(0, noise, (len(keep), 2))
    # spurious boxes (debris on the walls): between wells, far from every lattice node
    corners = (grid[:-1, :-1] + grid[1:, 1:]).reshape(-1, 2) / 2
    spurious = corners[rng.permutation(len(corners))[:n_spurious]] + rng.uniform(-15, 15, (n_spurious, 2))
    scores = np.r_[rng.uniform(0.6, 1.0, len(keep)), rng.uniform(0.4, 0.9, n_spurious)]
    return np.vstack([pts, spurious]), scores, keep


def fit(pts, scores, **kw):
    return fit_lattice(pts, scores, n_rows=6, n_cols=6, pitch_px_guess=PITCH, params=PARAMS, field_id="f007",
                       field_shape=FIELD, well_size_px=WELL, **kw)


def test_recovers_grid_with_missing_and_spurious_boxes():
    grid = true_grid()
    pts, scores, keep = detections(grid, drop=0.2, n_spurious=5, noise=0.3)
    lat = fit(pts, scores)
    err = np.linalg.norm(lat.centres() - grid, axis=-1)
    assert err.max() < 0.5
    assert lat.rotation_deg == pytest.approx(1.0, abs=0.05)
    assert lat.pitch_px == pytest.approx((PITCH, PITCH), abs=0.1)
    assert lat.inside.all() and len(lat.wells()) == 36
    # ids: row 0 on top, col 0 left; the dropped wells are assigned too, the spurious ones not
    rc = lat.assign(grid.reshape(-1, 2))
    assert (rc == np.argwhere(np.ones((6, 6)))).all()
    assert (lat.assign(pts[-5:]) == -1).all()
    assert set(lat.detection_index[lat.detection_index >= 0]) == set(range(len(keep)))


def test_well_size_from_boxes():
    pts, scores, _ = detections(true_grid(), drop=0.2, n_spurious=0, noise=0.3)
    sizes = np.full((len(pts), 2), WELL) + np.random.default_rng(1).normal(0, 0.5, (len(pts), 2))
    lat = fit_lattice(pts, scores, n_rows=6, n_cols=6, pitch_px_guess=PITCH, params=PARAMS, field_id="f0",
                      field_shape=FIELD, box_sizes=sizes)
    assert lat.well_size_px == pytest.approx(WELL, abs=0.5)


@pytest.mark.parametrize("gap_px", [46.2, 0.0])  # off-lattice (a wider gap) and on-lattice neighbour rims
def test_partial_neighbour_rims_do_not_move_the_block(gap_px):
    grid = true_grid(rot_deg=0.5, origin=(120.0, 118.0))
    pts, scores, _ = detections(grid, drop=0.1, n_spurious=0, noise=0.3, seed=2)
    rims = []
    for k in range(6):  # the neighbouring blocks' edge wells, cut by the field edge: box centre moves inward
        left = grid[k, 0] - (PITCH + gap_px) * np.array([0, 1])
        top = grid[0, k] - (PITCH + gap_px) * np.array([1, 0])
        for ctr, axis in ((left, 1), (top, 0)):
            lo = ctr[axis] - WELL / 2
            if lo < 0 < ctr[axis] + WELL / 2:  # partly visible: the box is clipped at 0
                ctr = ctr.copy()
                ctr[axis] = (0 + ctr[axis] + WELL / 2) / 2
                rims.append(ctr)
    assert len(rims) >= 6
    pts = np.vstack([pts, rims])
    scores = np.r_[scores, np.full(len(rims), 0.95)]
    lat = fit(pts, scores)
    assert np.linalg.norm(lat.centres() - grid, axis=-1).max() < 0.5
    assert lat.inside.all()


def test_wells_cut_by_the_field_edge_are_dropped():
    grid = true_grid(rot_deg=0.0, origin=(20.0, 95.0))  # row 0 interiors start at 20 - 38.5 < 0
    pts, scores, _ = detections(grid, drop=0.0, n_spurious=0, noise=0.2)
    rows = pts[:, 0] > 60  # the detector misses the cut row
    lat = fit(pts[rows], scores[rows])
    assert np.linalg.norm(lat.centres() - grid, axis=-1).max() < 0.5  # the block keeps its ids
    assert not lat.inside[0].any() and lat.inside[1:].all()
    assert (0, 0) not in lat.wells()


@pytest.mark.parametrize("n", [0, 3])
def test_too_few_detections_is_an_error_naming_the_field(n):
    pts, scores, _ = detections(true_grid(), drop=1 - n / 36, n_spurious=0, noise=0.3)
    with pytest.raises(ValueError, match="f007"):
        fit(pts[:n], scores[:n])


def test_scattered_boxes_without_a_lattice_are_an_error():
    rng = np.random.default_rng(5)
    with pytest.raises(ValueError, match="f007.*lattice"):
        fit(rng.uniform(0, 736, (10, 2)), np.full(10, 0.9))


def test_low_scores_are_ignored():
    pts, scores, _ = detections(true_grid(), drop=0.0, n_spurious=0, noise=0.3)
    with pytest.raises(ValueError, match="usable"):
        fit(pts, np.full(len(pts), 0.1))
