"""The PDMS well lattice: interiors, wall phase step, ringing rims."""

from __future__ import annotations

import numpy as np

from lftiming_ml.sim.config import ChipLayout, OpticsParams
from lftiming_ml.sim.optics import phase_contrast_image
from lftiming_ml.sim.walls import wall_opd_um, well_interiors_um

LAYOUT = ChipLayout()
OPTICS = OpticsParams()
STEP = LAYOUT.well_depth_um * (OPTICS.n_pdms - OPTICS.n_medium)


def test_well_interiors_grid() -> None:
    centre = (250.0, 260.0)
    corners = well_interiors_um(LAYOUT, centre)
    assert corners.shape == (6, 6, 2) and corners.dtype == np.float64
    np.testing.assert_allclose(np.diff(corners[:, :, 0], axis=0), LAYOUT.pitch_um)
    np.testing.assert_allclose(np.diff(corners[:, :, 1], axis=1), LAYOUT.pitch_um)
    np.testing.assert_allclose(np.diff(corners[:, :, 0], axis=1), 0.0)
    block_mid = (corners[0, 0] + corners[-1, -1] + LAYOUT.well_size_um) / 2
    np.testing.assert_allclose(block_mid, centre)


def _opd_at(opd: np.ndarray, y_um: float, x_um: float, px: float) -> float:
    return float(opd[int(y_um / px), int(x_um / px)])


def test_wall_opd_interiors_walls_and_neighbouring_blocks() -> None:
    px = 0.65
    shape = (1000, 1000)  # 650 um: more than one block (400 um) wide
    centre = (325.0, 325.0)
    opd = wall_opd_um(shape, pixel_um=px, layout=LAYOUT, optics=OPTICS, block_centre_um=centre)
    assert opd.shape == shape and opd.dtype == np.float32
    assert np.isclose(opd.max(), STEP, rtol=1e-5) and opd.min() == 0.0
    corners = well_interiors_um(LAYOUT, centre)
    w = LAYOUT.well_size_um
    for y, x in corners.reshape(-1, 2):
        rows = slice(int(np.ceil(y / px)), int(np.floor((y + w) / px)) - 1)
        cols = slice(int(np.ceil(x / px)), int(np.floor((x + w) / px)) - 1)
        assert np.all(opd[rows, cols] == 0.0)
        wall_mid = x + w + LAYOUT.wall_um / 2  # between this well and the next one
        assert _opd_at(opd, y + w / 2, wall_mid, px) == np.float32(STEP)
    # Neighbouring block: its first well starts block_gap + wall after the last well.
    y_last, x_last = corners[-1, -1]
    next_x = x_last + w + LAYOUT.wall_um + LAYOUT.block_gap_um
    assert _opd_at(opd, y_last + w / 2, next_x + w / 2, px) == 0.0
    assert _opd_at(opd, y_last + w / 2, x_last + w + (LAYOUT.wall_um + LAYOUT.block_gap_um) / 2, px) \
        == np.float32(STEP)


def test_wall_ramp_is_linear_over_slope_width() -> None:
    px = 0.1
    centre = (100.0, 100.0)
    corners = well_interiors_um(LAYOUT, centre)
    opd = wall_opd_um((2000, 2000), pixel_um=px, layout=LAYOUT, optics=OPTICS, block_centre_um=centre)
    y = corners[2, 2, 0] + LAYOUT.well_size_um / 2
    x_rim = corners[2, 2, 1] + LAYOUT.well_size_um  # right edge of the interior
    for frac in (0.25, 0.5, 0.75):
        x = x_rim + frac * LAYOUT.wall_slope_um
        col = int(x / px)
        expected = STEP * ((col + 0.5) * px - x_rim) / LAYOUT.wall_slope_um
        assert abs(_opd_at(opd, y, x, px) - expected) < 1e-4


def test_rim_rings_in_phase_contrast() -> None:
    """Along a line crossing a rim, the intensity oscillates (several local extrema)."""
    px = 0.325
    shape = (256, 256)
    span = LAYOUT.wells_per_block * LAYOUT.pitch_um - LAYOUT.wall_um
    centre = (20.0 + span / 2, 20.0 + span / 2)  # well (0, 0) interior starts at (20, 20) um
    assert np.allclose(well_interiors_um(LAYOUT, centre)[0, 0], (20.0, 20.0))
    opd = wall_opd_um(shape, pixel_um=px, layout=LAYOUT, optics=OPTICS, block_centre_um=centre)
    im = phase_contrast_image(opd, pixel_um=px, optics=OPTICS)
    row = int(45.0 / px)  # halfway down the well
    line = im[row, int(14.0 / px):int(26.0 / px)]  # across the rim at x = 20 um
    interior = line[1:-1]
    is_max = (interior > line[:-2]) & (interior > line[2:])
    is_min = (interior < line[:-2]) & (interior < line[2:])
    assert is_max.sum() + is_min.sum() >= 3
    assert line.max() - line.min() > 0.5
    well_centre = im[int(40.0 / px):int(50.0 / px), int(40.0 / px):int(50.0 / px)]
    assert abs(well_centre.mean() - 1.0) < 0.1  # flat interior far from the rim
