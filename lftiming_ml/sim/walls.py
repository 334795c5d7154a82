"""The PDMS nanowell lattice as an optical-path-difference map.

Wells are square depressions of depth ``well_depth_um`` in PDMS, filled with medium; light
through a wall crosses ``well_depth_um`` more PDMS and less medium than light through a
well, so walls carry a phase step ``well_depth_um * (n_pdms - n_medium)`` (several waves).
The step rises over ``wall_slope_um`` (a linear ramp outside each interior); the ramp is so
steep that its light leaves the objective (see ``optics._escape_factor``), so rims print as
dark lines that ring, flanked by halos, while flat wall tops shade off.

Coordinates are canvas um, (y, x), origin at the top-left corner of the canvas; pixel
``(i, j)`` is sampled at its centre ``((i + 0.5) * pixel_um, (j + 0.5) * pixel_um)``.
Blocks of ``wells_per_block`` x ``wells_per_block`` wells repeat with period
``wells_per_block * pitch_um + block_gap_um`` in both axes.
"""

from __future__ import annotations

import numpy as np

from lftiming_ml.sim.config import ChipLayout, OpticsParams


def _block_origin_um(layout: ChipLayout, block_centre_um: tuple[float, float]) -> np.ndarray:
    """Top-left corner (y, x) of the block's first well interior (float64[2], um)."""
    span = layout.wells_per_block * layout.pitch_um - layout.wall_um
    return np.asarray(block_centre_um, dtype=np.float64) - span / 2.0


def well_interiors_um(layout: ChipLayout, block_centre_um: tuple[float, float]) -> np.ndarray:
    """Top-left corners of the well interiors of one block.

    block_centre_um: (y, x) centre of the block (canvas um).
    Returns float64[R, C, 2] with R = C = ``wells_per_block``: ``[r, c]`` is the (y, x)
    corner (um) of the interior of well row r, column c; each interior is a
    ``well_size_um`` square, neighbours are ``pitch_um`` apart.
    """
    origin = _block_origin_um(layout, block_centre_um)
    k = np.arange(layout.wells_per_block, dtype=np.float64) * layout.pitch_um
    corners = np.empty((layout.wells_per_block, layout.wells_per_block, 2), dtype=np.float64)
    corners[..., 0] = origin[0] + k[:, None]
    corners[..., 1] = origin[1] + k[None, :]
    return corners


def _distance_outside_1d(coord_um: np.ndarray, origin_um: float, layout: ChipLayout) -> np.ndarray:
    """Distance (um) from each coordinate to the nearest well interval along one axis.

    coord_um (float64[N]) -> float64[N]; 0 inside an interval. Intervals are
    ``[origin + k * pitch, origin + k * pitch + well]`` for k in one block, repeated with
    the block period in both directions.
    """
    n, pitch, well = layout.wells_per_block, layout.pitch_um, layout.well_size_um
    period = n * pitch + layout.block_gap_um
    s = np.mod(coord_um - origin_um, period)  # position inside a block period, [0, period)
    k = np.clip(np.floor(s / pitch), 0, n - 1)
    start = k * pitch
    d = np.maximum(np.maximum(s - (start + well), start - s), 0.0)
    d_next_well = np.where(k + 1 < n, (k + 1) * pitch - s, np.inf)  # next well in block
    d_next_block = period - s  # first well of the next block
    return np.minimum(d, np.minimum(d_next_well, d_next_block))


def wall_opd_um(
    shape_px: tuple[int, int],
    *,
    pixel_um: float,
    layout: ChipLayout,
    optics: OpticsParams,
    block_centre_um: tuple[float, float],
) -> np.ndarray:
    """OPD of the PDMS lattice relative to medium, float32[H, W] (um), (y, x) order.

    0 inside well interiors, ``well_depth_um * (n_pdms - n_medium)`` on wall tops, a linear
    ramp over ``wall_slope_um`` (Euclidean distance from the interior, so outer corners of
    the ramp are rounded). The lattice (with neighbouring blocks) fills the whole canvas.
    """
    h, w = shape_px
    origin = _block_origin_um(layout, block_centre_um)
    y = (np.arange(h, dtype=np.float64) + 0.5) * pixel_um
    x = (np.arange(w, dtype=np.float64) + 0.5) * pixel_um
    slope = layout.wall_slope_um
    dy = (_distance_outside_1d(y, origin[0], layout) / slope).astype(np.float32)
    dx = (_distance_outside_1d(x, origin[1], layout) / slope).astype(np.float32)
    # Clip per axis first (a point >= one ramp width out in either axis is on the wall top).
    np.minimum(dy, 1.0, out=dy)
    np.minimum(dx, 1.0, out=dx)
    r2 = np.square(dy)[:, None] + np.square(dx)[None, :]
    np.minimum(r2, 1.0, out=r2)
    np.sqrt(r2, out=r2)
    r2 *= np.float32(layout.well_depth_um * (optics.n_pdms - optics.n_medium))
    return r2
