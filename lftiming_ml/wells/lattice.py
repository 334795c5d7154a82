"""Robust fit of a field's well lattice to first-frame detections.

A field shows one block of ``n_rows x n_cols`` wells on a near-square lattice (small
rotation, pitch ~ ``pitch_um / pixel_size_um``), plus possibly partial wells of the
neighbouring blocks at the edges (beyond a wider gap). From detection centres after NMS
``fit_lattice``:

1. estimates rotation and pitch from nearest-neighbour vectors (angles folded mod 90 deg);
2. finds the lattice phase as the mode of the fractional lattice coordinates, so spurious
   boxes and off-lattice neighbour blocks do not pull it;
3. rounds every detection to an integer node, keeps those close to it (one per node) and
   solves origin + two lattice vectors by weighted least squares, re-gating on the residual;
4. picks the ``n_rows x n_cols`` window of nodes that the detections support best, so row 0
   is the block's top row and column 0 its left column, and flags wells cut by the field edge.

Coordinates are field px, (y, x), pixel (i, j) centred at (i, j).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from lftiming_ml.wells.config import WellGridParams


@dataclass(frozen=True)
class WellLattice:
    """The fitted well grid of one field at the reference frame (drift 0).

    Well (r, c) has its centre at ``origin + r * row_vector + c * col_vector`` (field px).
    """

    field_id: str
    origin: np.ndarray  # float[2], (y, x) field px: centre of well (0, 0)
    row_vector: np.ndarray  # float[2], (dy, dx) px from well (r, c) to (r + 1, c)
    col_vector: np.ndarray  # float[2], (dy, dx) px from well (r, c) to (r, c + 1)
    n_rows: int
    n_cols: int
    well_size_px: float  # side of a well interior (field px)
    inside: np.ndarray  # bool[R, C]: interior lies inside the field (else the well is dropped)
    detection_index: np.ndarray  # int[R, C]: input detection that supports the well, -1 if none
    residual_px: float  # rms distance of supporting detections to their nodes (px)
    assign_tol_px: float  # ``assign`` accepts a detection this close to a node (px)

    @property
    def pitch_px(self) -> tuple[float, float]:
        """(row pitch, column pitch) in field px."""
        return float(np.linalg.norm(self.row_vector)), float(np.linalg.norm(self.col_vector))

    @property
    def rotation_deg(self) -> float:
        """Angle of the column vector from the x axis (degrees, positive = clockwise on screen)."""
        return float(np.degrees(np.arctan2(self.col_vector[0], self.col_vector[1])))

    def centres(self) -> np.ndarray:
        """Centres of all R x C wells, ``float[R, C, 2]``, (y, x) field px (dropped ones included)."""
        r = np.arange(self.n_rows, dtype=np.float64)[:, None, None]
        c = np.arange(self.n_cols, dtype=np.float64)[None, :, None]
        return self.origin + r * self.row_vector + c * self.col_vector

    def boxes(self) -> np.ndarray:
        """Axis-aligned interior boxes ``float[R, C, 4]`` (y0, x0, y1, x1) field px (edge positions)."""
        half = self.well_size_px / 2.0
        ctr = self.centres()
        return np.concatenate([ctr - half, ctr + half], axis=-1)

    def wells(self) -> list[tuple[int, int]]:
        """(row, col) of the kept wells (inside the field), row-major."""
        return [(int(r), int(c)) for r, c in np.argwhere(self.inside)]

    def centres_over_time(self, drift_px: np.ndarray) -> np.ndarray:
        """Well centres per frame: ``drift_px (float[T, 2], (dy, dx) px)`` -> ``float[T, R, C, 2]``."""
        drift = np.asarray(drift_px, dtype=np.float64)
        return self.centres()[None] + drift[:, None, None, :]

    def assign(self, centres: np.ndarray) -> np.ndarray:
        """Well of each detection: ``centres (float[m, 2], (y, x) px)`` -> ``int[m, 2]`` (row, col).

        Rows are (-1, -1) for detections farther than ``assign_tol_px`` from every node of the
        block (spurious boxes, neighbouring blocks). Drift must already be removed.
        """
        pts = np.asarray(centres, dtype=np.float64).reshape(-1, 2)
        basis = np.column_stack([self.row_vector, self.col_vector])
        k = np.rint(np.linalg.solve(basis, (pts - self.origin).T).T)
        resid = np.linalg.norm(pts - self.origin - k @ basis.T, axis=1)
        ok = (resid <= self.assign_tol_px) & (k[:, 0] >= 0) & (k[:, 0] < self.n_rows) & (k[:, 1] >= 0) \
            & (k[:, 1] < self.n_cols) & np.isfinite(resid)
        out = np.full((len(pts), 2), -1, dtype=np.int64)
        out[ok] = k[ok].astype(np.int64)
        return out


def _fail(field_id: str, problem: str) -> ValueError:
    return ValueError(f"field {field_id!r}: {problem}; cannot fit the well lattice")


def _rotation_and_pitch(pts: np.ndarray, w: np.ndarray, pitch_guess: float, params: WellGridParams,
                        field_id: str) -> tuple[float, float]:
    """Rotation (rad, of the column vector from +x) and pitch (px) from neighbour vectors."""
    k = min(5, len(pts))
    _, idx = cKDTree(pts).query(pts, k=k)
    vec = (pts[idx[:, 1:]] - pts[:, None, :]).reshape(-1, 2)
    wv = np.repeat(w, k - 1)
    length = np.linalg.norm(vec, axis=1)
    ok = np.abs(length - pitch_guess) <= params.pitch_tolerance * pitch_guess
    if ok.sum() < 2:
        raise _fail(field_id, f"no two detections lie one pitch (~{pitch_guess:.1f} px) apart")
    vec, wv, length = vec[ok], wv[ok], length[ok]
    four = 4.0 * np.arctan2(vec[:, 0], vec[:, 1])  # folds the 4 lattice directions onto one
    theta = np.angle(np.sum(wv * np.exp(1j * four))) / 4.0
    dev = np.abs(np.angle(np.exp(1j * (four - 4 * theta)))) / 4.0
    near = dev <= np.radians(5.0)
    if near.sum() >= 2:  # second pass on the consistent vectors only
        theta = np.angle(np.sum(wv[near] * np.exp(1j * four[near]))) / 4.0
    return float(theta), float(np.median(length[near] if near.sum() >= 2 else length))


def _circular_mode(frac: np.ndarray, w: np.ndarray, tol: float) -> float:
    """Mode of values on the unit circle [0, 1) (kernel density), refined by a local mean."""
    grid = np.linspace(0.0, 1.0, 200, endpoint=False)
    kappa = 1.0 / (2 * np.pi * 0.05) ** 2
    density = (w[:, None] * np.exp(kappa * (np.cos(2 * np.pi * (frac[:, None] - grid[None])) - 1))).sum(0)
    g = grid[np.argmax(density)]
    d = (frac - g + 0.5) % 1.0 - 0.5
    near = np.abs(d) <= tol
    return float(g + np.average(d[near], weights=w[near])) if near.any() else float(g)


def _least_squares(pts: np.ndarray, k: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted fit of ``p = o + kr * v_r + kc * v_c``.

    Returns origin float[2] and basis float[2, 2] (columns v_r, v_c), (y, x) px.
    """
    a = np.column_stack([np.ones(len(k)), k.astype(np.float64)])
    sw = np.sqrt(w)[:, None]
    sol, *_ = np.linalg.lstsq(a * sw, pts * sw, rcond=None)
    return sol[0], sol[1:].T


def _nodes(pts: np.ndarray, origin: np.ndarray, basis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest integer node (int[n, 2]) of each point and the distance to it (px)."""
    k = np.rint(np.linalg.solve(basis, (pts - origin).T).T)
    return k.astype(np.int64), np.linalg.norm(pts - origin - k @ basis.T, axis=1)


def _one_per_node(k: np.ndarray, resid: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Among kept points, keep only the closest one per node."""
    out = np.zeros_like(keep)
    best: dict[tuple[int, int], int] = {}
    for i in np.flatnonzero(keep):
        key = (int(k[i, 0]), int(k[i, 1]))
        if key not in best or resid[i] < resid[best[key]]:
            best[key] = i
    out[list(best.values())] = True
    return out


def _inside(centres: np.ndarray, well_size_px: float, field_shape: tuple[int, int] | None,
            margin: float) -> np.ndarray:
    if field_shape is None:
        return np.ones(centres.shape[:2], dtype=bool)
    half = well_size_px / 2.0 + margin
    lo = -0.5 + half
    hi = np.asarray(field_shape, dtype=np.float64) - 0.5 - half
    return np.all((centres >= lo) & (centres <= hi), axis=-1)


def _grid(origin: np.ndarray, basis: np.ndarray, n_rows: int, n_cols: int) -> np.ndarray:
    """Node positions ``float[R, C, 2]`` of ``origin + basis @ (r, c)``."""
    rc = np.stack(np.meshgrid(np.arange(n_rows), np.arange(n_cols), indexing="ij"), -1).astype(np.float64)
    return origin + rc @ basis.T


def _best_window(k: np.ndarray, w: np.ndarray, origin: np.ndarray, basis: np.ndarray, n_rows: int,
                 n_cols: int, ref: np.ndarray,
                 inside: Callable[[np.ndarray], np.ndarray]) -> tuple[int, int]:
    """Top-left node (r0, c0) of the n_rows x n_cols window holding the most detection weight.

    Ties go to the window with fewer wells that lie inside the field yet have no detection (a
    detector misses cut wells, rarely whole ones), then to the one centred nearest ``ref``.
    """
    lo, hi = k.min(axis=0), k.max(axis=0)
    found = np.zeros((hi[0] - lo[0] + 1, hi[1] - lo[1] + 1), dtype=bool)
    found[k[:, 0] - lo[0], k[:, 1] - lo[1]] = True
    best: tuple | None = None
    for r0 in range(lo[0] - n_rows + 1, hi[0] + 1):
        for c0 in range(lo[1] - n_cols + 1, hi[1] + 1):
            inwin = (k[:, 0] >= r0) & (k[:, 0] < r0 + n_rows) & (k[:, 1] >= c0) & (k[:, 1] < c0 + n_cols)
            ctr = _grid(origin + basis @ np.array([r0, c0], np.float64), basis, n_rows, n_cols)
            rr, cc = np.meshgrid(np.arange(r0, r0 + n_rows) - lo[0], np.arange(c0, c0 + n_cols) - lo[1], indexing="ij")
            ok = (rr >= 0) & (rr < found.shape[0]) & (cc >= 0) & (cc < found.shape[1])
            seen = np.zeros(ok.shape, dtype=bool)
            seen[ok] = found[rr[ok], cc[ok]]
            key = (-round(float(w[inwin].sum()), 6), int((inside(ctr) & ~seen).sum()),
                   float(np.linalg.norm(ctr.reshape(-1, 2).mean(0) - ref)), r0, c0)
            best = key if best is None or key < best else best
    return best[3], best[4]


def fit_lattice(
    centres: np.ndarray,
    scores: np.ndarray,
    *,
    n_rows: int,
    n_cols: int,
    pitch_px_guess: float,
    params: WellGridParams,
    field_id: str = "?",
    field_shape: tuple[int, int] | None = None,
    well_size_px: float | None = None,
    box_sizes: np.ndarray | None = None,
) -> WellLattice:
    """Fit the block's well lattice to detections of the reference frame.

    centres (float[n, 2]): detection box centres, (y, x) field px, after NMS.
    scores (float[n]): detection scores in [0, 1]; used as weights, below ``params.min_score`` ignored.
    n_rows, n_cols: wells per block (the chip manifest's ``layout.wells_per_block``).
    pitch_px_guess: nominal centre-to-centre spacing (px) = ``pitch_um / pixel_size_um``.
    field_shape: (H, W) px; wells whose interior leaves the field (``params.edge_margin_px``) are
        flagged ``inside = False``. None: keep all.
    well_size_px: interior side (px); if None, the median size of the supporting boxes
        ``box_sizes (float[n, 2], (h, w) px)`` is used (one of the two is required).

    Raises ValueError naming the field when the detections cannot support a lattice: too few
    usable detections, no neighbour pairs at the nominal pitch, fitted pitch or rotation out
    of tolerance, too few wells supported, or no well inside the field.
    """
    pts_all = np.asarray(centres, dtype=np.float64).reshape(-1, 2)
    w_all = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(w_all) != len(pts_all):
        raise ValueError(f"field {field_id!r}: {len(pts_all)} centres but {len(w_all)} scores")
    if well_size_px is None and box_sizes is None:
        raise ValueError(f"field {field_id!r}: pass well_size_px or box_sizes")
    usable = np.flatnonzero(np.isfinite(pts_all).all(axis=1) & np.isfinite(w_all) & (w_all >= params.min_score))
    if len(usable) < params.min_detections:
        raise _fail(field_id, f"only {len(usable)} usable well detections (score >= {params.min_score}),"
                              f" at least {params.min_detections} needed")
    pts, w = pts_all[usable], np.clip(w_all[usable], 1e-3, None)

    theta, pitch = _rotation_and_pitch(pts, w, pitch_px_guess, params, field_id)
    basis = pitch * np.array([[np.cos(theta), np.sin(theta)], [-np.sin(theta), np.cos(theta)]])  # cols v_r, v_c
    u = np.linalg.solve(basis, pts.T).T
    phase = np.array([_circular_mode(u[:, a] % 1.0, w, params.inlier_tol) for a in (0, 1)])
    origin = basis @ phase
    gate = params.inlier_tol * pitch
    for _ in range(4):
        k, resid = _nodes(pts, origin, basis)
        keep = _one_per_node(k, resid, resid <= gate)
        if len(np.unique(k[keep, 0])) < 2 or len(np.unique(k[keep, 1])) < 2:
            raise _fail(field_id, f"the {int(keep.sum())} detections on the lattice do not span two rows"
                                  " and two columns")
        origin, basis = _least_squares(pts[keep], k[keep], w[keep])
        gate = params.residual_tol_px
    k, resid = _nodes(pts, origin, basis)
    keep = _one_per_node(k, resid, resid <= params.residual_tol_px)

    pitches = np.linalg.norm(basis, axis=0)
    if np.any(np.abs(pitches - pitch_px_guess) > params.pitch_tolerance * pitch_px_guess):
        raise _fail(field_id, f"fitted pitch {pitches.round(2).tolist()} px is not within"
                              f" {params.pitch_tolerance:.0%} of {pitch_px_guess:.2f} px")
    rot = np.degrees(np.arctan2(basis[0, 1], basis[1, 1]))
    if abs(rot) > params.max_rotation_deg:
        raise _fail(field_id, f"fitted rotation {rot:.1f} deg exceeds {params.max_rotation_deg} deg")

    if well_size_px is None:
        sizes = np.asarray(box_sizes, dtype=np.float64).reshape(-1, 2)[usable][keep]
        well_size_px = float(np.median(sizes))

    # choose the n_rows x n_cols window of nodes with the most support; row 0 = top
    ref = (np.asarray(field_shape, np.float64) - 1) / 2 if field_shape is not None else pts.mean(0)
    r0, c0 = _best_window(k[keep], w[keep], origin, basis, n_rows, n_cols, ref,
                          lambda ctr: _inside(ctr, well_size_px, field_shape, params.edge_margin_px))
    origin = origin + basis @ np.array([r0, c0], dtype=np.float64)
    rc = k - np.array([r0, c0])
    in_block = keep & np.all((rc >= 0) & (rc < np.array([n_rows, n_cols])), axis=1)
    needed = max(params.min_detections, int(np.ceil(params.min_inlier_fraction * n_rows * n_cols)))
    if in_block.sum() < needed:
        raise _fail(field_id, f"only {int(in_block.sum())} detections fall on one {n_rows}x{n_cols} block,"
                              f" at least {needed} needed")
    det = np.full((n_rows, n_cols), -1, dtype=np.int64)
    det[rc[in_block, 0], rc[in_block, 1]] = usable[in_block]
    centres_rc = _grid(origin, basis, n_rows, n_cols)
    inside = _inside(centres_rc, well_size_px, field_shape, params.edge_margin_px)
    if not inside.any():
        raise _fail(field_id, "no well of the fitted block lies inside the field")
    return WellLattice(
        field_id=field_id, origin=origin, row_vector=basis[:, 0].copy(), col_vector=basis[:, 1].copy(),
        n_rows=n_rows, n_cols=n_cols, well_size_px=float(well_size_px), inside=inside, detection_index=det,
        residual_px=float(np.sqrt(np.mean(resid[in_block] ** 2))),
        assign_tol_px=float(params.inlier_tol * np.min(pitches)),
    )
