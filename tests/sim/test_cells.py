"""Cells and debris as OPD patches: footprint, apoptosis, determinism, orientation."""

from __future__ import annotations

import numpy as np
import pytest

from lftiming_ml.sim.cells import CellPatch, render_cell, render_debris
from lftiming_ml.sim.config import OpticsParams
from lftiming_ml.sim.state import EFFECTOR, TARGET, CellPose

PX = 0.325
OPTICS = OpticsParams()


def _pose(**kw: object) -> CellPose:
    base = dict(centre_um=(30.0, 40.0), radius_um=5.0, elongation=1.0, angle_rad=0.0,
                cell_type=TARGET, death_progress=0.0, shape_seed=7)
    base.update(kw)
    return CellPose(**base)  # type: ignore[arg-type]


def _check_patch(p: CellPatch) -> None:
    assert p.opd_um.dtype == np.float32 and p.amplitude.dtype == np.float32 and p.mask.dtype == bool
    assert p.opd_um.shape == p.amplitude.shape == p.mask.shape
    assert np.all(p.opd_um[~p.mask] == 0.0) and np.all(p.amplitude[~p.mask] == 1.0)
    assert np.all(p.amplitude <= 1.0) and np.all(p.amplitude > 0.0)


def test_round_cell_area_and_position() -> None:
    pose = _pose()
    p = render_cell(pose, pixel_um=PX, optics=OPTICS)
    _check_patch(p)
    area = p.mask.sum() * PX**2
    assert area == pytest.approx(np.pi * pose.radius_um**2, rel=0.15)
    ys, xs = np.nonzero(p.mask)  # pixel (i, j) is centred at ((i + 0.5) px, (j + 0.5) px)
    assert (ys.mean() + p.y0 + 0.5) * PX == pytest.approx(pose.centre_um[0], abs=0.4)
    assert (xs.mean() + p.x0 + 0.5) * PX == pytest.approx(pose.centre_um[1], abs=0.4)
    assert p.opd_um.max() > 0.2  # about as thick as wide: several radians of phase


def test_apoptotic_cell_shrinks_and_condenses() -> None:
    alive = render_cell(_pose(), pixel_um=PX, optics=OPTICS)
    dead = render_cell(_pose(death_progress=1.0), pixel_um=PX, optics=OPTICS)
    _check_patch(dead)
    assert dead.mask.sum() < 0.8 * alive.mask.sum()
    assert dead.opd_um[dead.mask].mean() > 1.1 * alive.opd_um[alive.mask].mean()
    assert dead.amplitude[dead.mask].mean() < alive.amplitude[alive.mask].mean()
    assert alive.amplitude.min() > 0.95  # weak absorption


def test_blebs_grow_outside_the_shrunken_body() -> None:
    pose = _pose(radius_um=5.0, death_progress=1.0)
    p = render_cell(pose, pixel_um=PX, optics=OPTICS)
    ys, xs = np.nonzero(p.mask)
    r = np.hypot((ys + p.y0 + 0.5) * PX - pose.centre_um[0], (xs + p.x0 + 0.5) * PX - pose.centre_um[1])
    shrunken_radius = 0.75 * pose.radius_um
    assert r.max() > 1.1 * shrunken_radius  # the amodal mask includes the blebs


def test_render_is_deterministic() -> None:
    pose = _pose(cell_type=EFFECTOR, elongation=1.4, angle_rad=0.7, death_progress=0.3)
    a, b = render_cell(pose, pixel_um=PX, optics=OPTICS), render_cell(pose, pixel_um=PX, optics=OPTICS)
    assert (a.y0, a.x0) == (b.y0, b.x0)
    np.testing.assert_array_equal(a.opd_um, b.opd_um)
    np.testing.assert_array_equal(a.amplitude, b.amplitude)
    np.testing.assert_array_equal(a.mask, b.mask)
    other = render_cell(_pose(cell_type=EFFECTOR, elongation=1.4, angle_rad=0.7, death_progress=0.3,
                              shape_seed=8), pixel_um=PX, optics=OPTICS)
    assert not np.array_equal(other.opd_um, a.opd_um)


@pytest.mark.parametrize("angle", [0.0, 0.6, 2.0])
def test_elongated_effector_is_longer_along_its_angle(angle: float) -> None:
    p = render_cell(_pose(cell_type=EFFECTOR, radius_um=4.0, elongation=1.8, angle_rad=angle),
                    pixel_um=PX, optics=OPTICS)
    _check_patch(p)
    ys, xs = np.nonzero(p.mask)
    cov = np.cov(np.stack([xs, ys]).astype(float))  # (x, y): angle from +x towards +y
    evals, evecs = np.linalg.eigh(cov)
    major = evecs[:, -1]
    assert np.sqrt(evals[-1] / evals[0]) > 1.5
    assert abs(np.cos(np.arctan2(major[1], major[0]) - angle)) > np.cos(0.1)


def test_debris_patches() -> None:
    shape = (400, 300)
    patches = render_debris(np.random.default_rng(3), canvas_shape_px=shape, pixel_um=PX, n=12,
                            optics=OPTICS)
    again = render_debris(np.random.default_rng(3), canvas_shape_px=shape, pixel_um=PX, n=12,
                          optics=OPTICS)
    assert len(patches) == 12
    for p, q in zip(patches, again):
        _check_patch(p)
        np.testing.assert_array_equal(p.opd_um, q.opd_um)
        extent_um = max(np.ptp(np.nonzero(p.mask)[0]), np.ptp(np.nonzero(p.mask)[1])) * PX
        assert 0.3 < extent_um < 6.0
        cy = (p.y0 + p.mask.shape[0] / 2) * PX
        cx = (p.x0 + p.mask.shape[1] / 2) * PX
        assert -3 < cy < shape[0] * PX + 3 and -3 < cx < shape[1] * PX + 3
        assert p.amplitude[p.mask].min() < 0.99  # absorbs more than cells
    assert render_debris(np.random.default_rng(0), canvas_shape_px=shape, pixel_um=PX, n=0,
                         optics=OPTICS) == []
