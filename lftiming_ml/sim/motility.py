"""Cell movement inside one nanowell: pure array functions for one integration substep.

``biology.simulate_well`` calls these for every substep: effector steering (persistent
random walk biased toward the nearest live target), footprint separation with a soft
repulsion and a hard overlap limit, confinement to the well interior, and the per-frame
depth (stacking) order.

Every array is indexed by cell: ``float[N]`` or ``bool[N]``; positions are (y, x) in um
inside the well interior (origin top-left); angles are rad from +x towards +y, so a
heading ``h`` moves a cell by ``(sin h, cos h)`` in (y, x).
"""

from __future__ import annotations

import numpy as np

WALL_MARGIN_UM = 0.25
"""Gap kept between a footprint's extent (radius * elongation) and the well wall (um)."""


def wrap_angle(angle_rad: np.ndarray) -> np.ndarray:
    """Angles folded into [-pi, pi)."""
    return (angle_rad + np.pi) % (2.0 * np.pi) - np.pi


def pair_offsets(y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Offsets from cell j to cell i and their length: ``dy, dx, dist`` (float[N, N], um)."""
    dy = y[:, None] - y[None, :]
    dx = x[:, None] - x[None, :]
    return dy, dx, np.hypot(dy, dx)


def nearest_goal(
    y: np.ndarray,
    x: np.ndarray,
    radius: np.ndarray,
    seeker: np.ndarray,
    seekable: np.ndarray,
    seek_range_um: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For every seeker, the nearest seekable cell by surface gap within ``seek_range_um``.

    Returns ``goal (int[N], -1 when none), gap_um (float[N]), to_y, to_x (float[N])``: the
    goal index, the surface-to-surface gap and the centre offset from seeker to goal.
    """
    dy, dx, dist = pair_offsets(y, x)
    gap = dist - radius[:, None] - radius[None, :]
    gap = np.where(seeker[:, None] & seekable[None, :], gap, np.inf)
    np.fill_diagonal(gap, np.inf)
    rows = np.arange(y.size)
    goal = np.argmin(gap, axis=1) if y.size else np.zeros(0, dtype=int)
    best = gap[rows, goal]
    goal = np.where(best <= seek_range_um, goal, -1)
    return goal, best, -dy[rows, goal], -dx[rows, goal]


def steer(
    heading: np.ndarray,
    turn_rad: np.ndarray,
    to_y: np.ndarray,
    to_x: np.ndarray,
    has_goal: np.ndarray,
    bias: float,
) -> np.ndarray:
    """Persistent random walk: turn by ``turn_rad``, then blend toward the goal direction.

    The new heading is the direction of ``(1 - bias) * u(heading + turn) + bias * u(goal)``
    for cells with ``has_goal``; the others only turn.
    """
    turned = heading + turn_rad
    hy, hx = np.sin(turned), np.cos(turned)
    norm = np.hypot(to_y, to_x) + 1e-9
    hy = np.where(has_goal, (1.0 - bias) * hy + bias * to_y / norm, hy)
    hx = np.where(has_goal, (1.0 - bias) * hx + bias * to_x / norm, hx)
    return np.arctan2(hy, hx)


def confine(y: np.ndarray, x: np.ndarray, extent_um: np.ndarray, well_size_um: float) -> None:
    """Clip centres in place so that ``centre +- extent_um`` (+ margin) stays inside the well."""
    reach = np.minimum(extent_um + WALL_MARGIN_UM, well_size_um / 2.0)
    far = well_size_um - reach
    for v in (y, x):
        np.maximum(v, reach, out=v)
        np.minimum(v, far, out=v)


def turn_at_walls(
    y: np.ndarray,
    x: np.ndarray,
    heading: np.ndarray,
    extent_um: np.ndarray,
    well_size_um: float,
    turning: np.ndarray,
) -> np.ndarray:
    """Headings of ``turning`` cells that touch a wall and point into it, mirrored off it.

    A cell pressed against a wall (its centre at the confinement limit) would otherwise
    keep pushing into it; crawling cells turn away and glide along the wall instead.
    """
    reach = np.minimum(extent_um + WALL_MARGIN_UM, well_size_um / 2.0) + 1e-6
    far = well_size_um - reach
    low_y, high_y, low_x, high_x = y <= reach, y >= far, x <= reach, x >= far
    if not (turning & (low_y | high_y | low_x | high_x)).any():
        return heading
    hy, hx = np.sin(heading), np.cos(heading)
    flip_y = turning & ((low_y & (hy < 0)) | (high_y & (hy > 0)))
    flip_x = turning & ((low_x & (hx < 0)) | (high_x & (hx > 0)))
    return np.arctan2(np.where(flip_y, -hy, hy), np.where(flip_x, -hx, hx))


def separate(
    y: np.ndarray,
    x: np.ndarray,
    radius: np.ndarray,
    mobility: np.ndarray,
    active: np.ndarray,
    soft: np.ndarray | None,
    *,
    extent_um: np.ndarray,
    well_size_um: float,
    max_overlap: float,
    soft_gain: float = 0.5,
    n_iter: int = 12,
) -> None:
    """Confine footprints to the well and push overlapping ones apart, in place.

    active (bool[N]): cells that take part (present in the well).
    soft (bool[N, N] or None for all pairs): pairs that feel the soft repulsion, which
        removes ``soft_gain`` of their overlap per call (so transient overlaps happen).
        Every active pair obeys the hard limit, centre distance >= r_i + r_j - max_overlap *
        min(r_i, r_j), by up to ``n_iter`` Jacobi sweeps.
    mobility (float[N]): cell i takes m_i / (m_i + m_j) of a pair's correction (dead cells:
        0). A cell pressed against a wall cannot yield into it, so its partner takes the
        push; where neither yields (a live cell wedged between a wall and a dead one), the
        live cell stays partly on top of the dead one.
    extent_um (float[N]): reach of each footprint from its centre, kept inside the well.
    """
    confine(y, x, extent_um, well_size_um)
    if np.count_nonzero(active) < 2:
        return
    pair = active[:, None] & active[None, :]
    np.fill_diagonal(pair, False)
    touch = radius[:, None] + radius[None, :]
    dy, dx, dist = pair_offsets(y, x)
    if not (pair & (dist < touch)).any():
        return
    hard = touch - max_overlap * np.minimum(radius[:, None], radius[None, :])
    soft_pair = pair if soft is None else pair & soft
    reach = np.minimum(extent_um + WALL_MARGIN_UM, well_size_um / 2.0) + 1e-6
    for it in range(n_iter):
        if it:
            dy, dx, dist = pair_offsets(y, x)
        need = np.where(pair, np.maximum(hard - dist, 0.0), 0.0)
        if it == 0:
            need = np.maximum(need, np.where(soft_pair, soft_gain * (touch - dist), 0.0))
        if not need.any():
            break
        coincident = dist < 1e-6
        if coincident.any():  # a fixed antisymmetric direction per pair
            idx = np.arange(y.size)
            angle = 2.39996 * np.minimum(idx[:, None], idx[None, :]) + 1.1 * np.maximum(idx[:, None], idx[None, :])
            sign = np.where(idx[:, None] < idx[None, :], 1.0, -1.0)
            dy = np.where(coincident, sign * np.sin(angle), dy)
            dx = np.where(coincident, sign * np.cos(angle), dx)
            dist = np.where(coincident, 1.0, dist)
        uy, ux = dy / dist, dx / dist  # push direction of i, away from j
        low_y, high_y = y <= reach, y >= well_size_um - reach
        low_x, high_x = x <= reach, x >= well_size_um - reach
        stuck = ((low_y[:, None] & (uy < -0.7)) | (high_y[:, None] & (uy > 0.7))
                 | (low_x[:, None] & (ux < -0.7)) | (high_x[:, None] & (ux > 0.7)))
        m_i = np.where(stuck, 0.0, mobility[:, None])
        m_j = np.where(stuck.T, 0.0, mobility[None, :])
        total = m_i + m_j
        move = need * np.where(total > 0, m_i / np.where(total > 0, total, 1.0), 0.0)
        y += (move * uy).sum(axis=1)
        x += (move * ux).sum(axis=1)
        confine(y, x, extent_um, well_size_um)


def depth_order(
    y: np.ndarray,
    x: np.ndarray,
    reach_um: np.ndarray,
    present: np.ndarray,
    alive: np.ndarray,
    is_effector: np.ndarray,
    tiebreak: np.ndarray,
) -> np.ndarray:
    """Stacking layer of every cell (int[N]): 0 on the floor, 1 + the highest layer below.

    Cells are stacked in one total order: live above dead, then effector above target,
    then a fixed per-cell ``tiebreak``; a cell's layer counts only the cells below it whose
    discs of radius ``reach_um`` (a bound on the footprint) overlap its own. Absent cells
    get 0.
    """
    depth = np.zeros(y.size, dtype=np.int64)
    cells = np.flatnonzero(present)
    if cells.size < 2:
        return depth
    order = cells[np.lexsort((tiebreak[cells], is_effector[cells], alive[cells]))]
    _, _, dist = pair_offsets(y, x)
    near = dist < reach_um[:, None] + reach_um[None, :]
    for k in range(1, order.size):
        i = order[k]
        below = order[:k][near[i, order[:k]]]
        if below.size:
            depth[i] = depth[below].max() + 1
    return depth
