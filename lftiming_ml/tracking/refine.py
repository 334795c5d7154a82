"""Step 3: smoothness + fidelity refinement of whole trajectories (paper Eq. 8), with the
well walls as box constraints.

Eq. 8 (symbols lost in the paper's text; reconstructed) balances fidelity to the step-2
centroids x~ against smoothness, over the full sequence, for every track::

    min_x  sum_t w_t |x_t - x~_t|^2  +  lambda sum_t |x_{t+1} - 2 x_t + x_{t-1}|^2
    s.t.   y0 + margin <= y_t <= y1 - margin,  x0 + margin <= x_t <= x1 - margin

w_t = 1 at detected frames and ``interpolated_fidelity`` at filled frames; lambda is
``smoothness``; acceleration terms are only counted where the track exists at all three
frames. Coordinates and tracks separate, so the QP for a well is one problem with a
(T, 2K) variable. It is built once per shape with CVXPY parameters (DPP) and cached, and
solved with OSQP. When the unconstrained optimum (a sparse linear solve) already lies in
the well, it is the optimum of the constrained problem too (KKT with no active
constraint) and is returned directly: ``method="auto"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cvxpy as cp
import numpy as np
import osqp
import scipy.sparse as sp
from scipy.linalg import solveh_banded

from lftiming_ml.tracking.costs import Box

_FREE = 1e6  # box bound (px) for frames where a track does not exist
_OSQP_MAJOR = int(str(getattr(osqp, "__version__", "1")).split(".")[0])


@dataclass(frozen=True)
class RefinementProblem:
    """A parametrised Eq. 8 QP for one (T, M) shape: M = 2K columns (y then x per track)."""

    problem: cp.Problem
    x: cp.Variable
    sqrt_fidelity: cp.Parameter  # (T, M), sqrt(w_t)
    weighted_target: cp.Parameter  # (T, M), sqrt(w_t) * x~_t
    sqrt_smoothness: cp.Parameter  # (T-2, M), sqrt(lambda) or 0 across absent frames
    lower: cp.Parameter  # (T, M)
    upper: cp.Parameter  # (T, M)


def second_difference(n_frames: int) -> sp.csr_matrix:
    """D2 (float[T-2, T], sparse): rows x_{t-1} - 2 x_t + x_{t+1}."""
    ones = np.ones(n_frames - 2)
    return sp.diags([ones, -2 * ones, ones], [0, 1, 2], shape=(n_frames - 2, n_frames), format="csr")


def build_refinement_problem(n_frames: int, n_columns: int) -> RefinementProblem:
    """A fresh DPP problem for T = ``n_frames`` >= 3 and M = ``n_columns`` (not cached)."""
    x = cp.Variable((n_frames, n_columns))
    sw = cp.Parameter((n_frames, n_columns), nonneg=True)
    wt = cp.Parameter((n_frames, n_columns))
    ss = cp.Parameter((n_frames - 2, n_columns), nonneg=True)
    lo = cp.Parameter((n_frames, n_columns))
    hi = cp.Parameter((n_frames, n_columns))
    objective = cp.sum_squares(cp.multiply(sw, x) - wt) + cp.sum_squares(cp.multiply(ss, second_difference(n_frames) @ x))
    problem = cp.Problem(cp.Minimize(objective), [x >= lo, x <= hi])
    assert problem.is_dpp()
    return RefinementProblem(problem, x, sw, wt, ss, lo, hi)


@lru_cache(maxsize=64)
def cached_refinement_problem(n_frames: int, n_columns: int) -> RefinementProblem:
    """``build_refinement_problem`` once per shape; later calls only set parameter values."""
    return build_refinement_problem(n_frames, n_columns)


@dataclass(frozen=True)
class RefinementInputs:
    """Eq. 8 data as (T, M) columns: target, fidelity (w_t), smoothness (per acceleration
    row, float[T-2, M]), lower, upper. See ``refinement_inputs``."""

    target: np.ndarray
    fidelity: np.ndarray
    smoothness: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    present: np.ndarray


def refinement_inputs(
    positions: np.ndarray, fidelity: np.ndarray, well_box: Box, smoothness: float, margin: float
) -> RefinementInputs:
    """Arrange ``positions (float[T, K, 2], (y, x) px, NaN where absent)`` and ``fidelity
    (float[T, K])`` as the (T, 2K) columns of the QP (column 2k = y, 2k+1 = x of track k).

    Absent frames get a free box, no smoothness coupling and the track's nearest position
    as target, so they neither move nor constrain the present frames.
    """
    pos = np.asarray(positions, dtype=float)
    n_frames, k = pos.shape[:2]
    present = np.repeat(np.isfinite(pos[..., 0]), 2, axis=1)  # (T, 2K)
    target = pos.reshape(n_frames, 2 * k).copy()
    frames = np.arange(n_frames)
    for m in range(2 * k):
        have = present[:, m]
        target[:, m] = np.interp(frames, frames[have], target[have, m]) if have.any() else 0.0
    w = np.where(present, np.repeat(np.asarray(fidelity, dtype=float), 2, axis=1), 1.0)
    lo_box = np.tile([well_box[0] + margin, well_box[1] + margin], k)
    hi_box = np.tile([well_box[2] - margin, well_box[3] - margin], k)
    lower = np.where(present, lo_box[None, :], -_FREE)
    upper = np.where(present, hi_box[None, :], _FREE)
    if n_frames >= 3:
        rows_ok = present[:-2] & present[1:-1] & present[2:]
        smooth = np.where(rows_ok, smoothness, 0.0)
    else:
        smooth = np.zeros((0, 2 * k))
    return RefinementInputs(target, w, smooth, lower, upper, present)


def solve_direct(inputs: RefinementInputs) -> np.ndarray:
    """The unconstrained Eq. 8 optimum, float[T, M]: (W + D2^T L D2) x = W x~ per column.

    The matrix is symmetric positive definite and pentadiagonal (w_t > 0 at every frame),
    so each column is one banded Cholesky solve.
    """
    n_frames, m = inputs.target.shape
    if n_frames < 3:
        return inputs.target.copy()
    out = np.empty_like(inputs.target)
    for c in range(m):
        s = inputs.smoothness[:, c]  # weight of row r = (x_r - 2 x_{r+1} + x_{r+2})^2
        main = inputs.fidelity[:, c].copy()
        main[:-2] += s
        main[1:-1] += 4 * s
        main[2:] += s
        off1 = np.zeros(n_frames - 1)
        off1[:-1] -= 2 * s
        off1[1:] -= 2 * s
        bands = np.zeros((3, n_frames))
        bands[0, 2:], bands[1, 1:], bands[2] = s, off1, main
        out[:, c] = solveh_banded(bands, inputs.fidelity[:, c] * inputs.target[:, c])
    return out


def solve_qp(inputs: RefinementInputs, eps: float, problem: RefinementProblem | None = None) -> np.ndarray:
    """The constrained Eq. 8 optimum with OSQP, float[T, M] (cached problem unless given)."""
    n_frames, m = inputs.target.shape
    if n_frames < 3:  # no smoothness term: the optimum is the target clipped to the box
        return np.clip(inputs.target, inputs.lower, inputs.upper)
    prob = problem or cached_refinement_problem(n_frames, m)
    sw = np.sqrt(inputs.fidelity)
    prob.sqrt_fidelity.value = sw
    prob.weighted_target.value = sw * inputs.target
    prob.sqrt_smoothness.value = np.sqrt(inputs.smoothness)
    prob.lower.value = inputs.lower
    prob.upper.value = inputs.upper
    polish = {"polishing": True} if _OSQP_MAJOR >= 1 else {"polish": True}
    prob.problem.solve(solver=cp.OSQP, eps_abs=eps, eps_rel=eps, max_iter=200_000, warm_start=False, **polish)
    if prob.x.value is None:
        raise RuntimeError(f"OSQP returned no solution for the refinement QP: status {prob.problem.status}")
    return np.clip(prob.x.value, inputs.lower, inputs.upper)  # remove solver-tolerance overshoot


def refine_tracks(
    positions: np.ndarray,
    fidelity: np.ndarray,
    well_box: Box,
    *,
    smoothness: float,
    margin: float = 0.0,
    eps: float = 1e-9,
    method: str = "auto",
) -> tuple[np.ndarray, str]:
    """Step 3 for one well.

    positions (float[T, K, 2]): step-2 (y, x) px, NaN where a track is absent.
    fidelity (float[T, K]): w_t per frame (1 detected, less for interpolated).
    well_box: (y0, x0, y1, x1) px of the interior. method: "auto" (direct solve when no
    wall is active, else the QP), "qp" (always CVXPY/OSQP) or "direct" (unconstrained).
    Returns (float[T, K, 2] refined, NaN where absent; the method used).
    """
    pos = np.asarray(positions, dtype=float)
    n_frames, k = pos.shape[:2]
    if k == 0 or n_frames == 0:
        return pos.copy(), "none"
    inputs = refinement_inputs(pos, fidelity, well_box, smoothness, margin)
    used = method
    if method in ("auto", "direct"):
        sol = solve_direct(inputs)
        inside = np.all((sol >= inputs.lower - 1e-12) & (sol <= inputs.upper + 1e-12))
        if method == "auto":
            used = "direct" if inside else "qp"
    if used == "qp":
        sol = solve_qp(inputs, eps)
    out = sol.reshape(n_frames, k, 2)
    out[~inputs.present.reshape(n_frames, k, 2)] = np.nan
    return out, used
