"""Step 2: fill missed detections by minimum-velocity interpolation (paper section 2.3).

For one track over its span [a, b] the paper minimises the sum of squared velocities
subject to equality constraints at the frames with detections::

    min_x  sum_{t=a}^{b-1} |x_{t+1} - x_t|^2   s.t.  x_t = c_t  for detected t.

The problem separates into the stretches between consecutive anchors; on each the optimum
is the straight line between the two anchors at constant speed, and before the first /
after the last anchor it is the anchor held still (zero velocity). ``fill_gaps`` uses that
closed form; ``min_velocity_fill_kkt`` solves the same problem as a sparse KKT system and
is the reference the tests compare against.

Before that, ``hidden_in_merged`` anchors a missed cell that hides in a neighbour's merged
mask: two cells that overlap give one detection, larger than the neighbour's own, that the
neighbour's track takes. The missed track is placed at that detection's centroid (both cells
lie within about a cell radius of it) rather than on the straight line between its own
detections, which a darting effector leaves by 20-30 px (tuning chips 43/44).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve

from lftiming_ml.tracking.costs import motion_scale


def fill_gaps(observed: np.ndarray, span: np.ndarray) -> np.ndarray:
    """Closed-form step 2 for all tracks.

    observed (float[T, K, 2]): (y, x) px at detected frames, NaN elsewhere.
    span (bool[T, K]): frames where the track exists (it must include its detections).
    Returns float[T, K, 2]: detections kept, gaps inside the span filled on straight lines
    between anchors, held constant beyond the first/last anchor; NaN outside the span.
    """
    obs = np.asarray(observed, dtype=float)
    n_frames, k = obs.shape[:2]
    out = np.full_like(obs, np.nan)
    frames = np.arange(n_frames)
    for kk in range(k):
        have = np.isfinite(obs[:, kk, 0]) & span[:, kk]
        if not have.any():
            continue
        for d in range(2):
            out[:, kk, d] = np.interp(frames, frames[have], obs[have, kk, d])
        out[~span[:, kk], kk] = np.nan
    return out


def hidden_in_merged(observed: np.ndarray, areas: np.ndarray, span: np.ndarray, area_ratio: float,
                     reach_factor: float, min_step_px: float) -> np.ndarray:
    """Anchors for missed track-frames hidden in a merged mask: float[T, K, 2], NaN elsewhere.

    observed (float[T, K, 2]): detected (y, x) px, NaN where not detected; areas (float[T, K]):
    the linked detections' areas (px), NaN where not detected; span (bool[T, K]).
    Track k, inside its span without a detection at t, is put at the detection of another
    track m at t when that detection is at least ``area_ratio`` times m's median detected
    area (a merged mask) and lies within reach of k's nearest detection before or after t:
    ``reach_factor`` x k's typical step (``costs.motion_scale`` of its steps between consecutive
    detections, at least ``min_step_px``) per frame between them. Of several such masks, the nearest to
    k's straight-line fill. Everything else stays NaN (``fill_gaps`` fills it).
    """
    obs = np.asarray(observed, dtype=float)
    n_frames, k = obs.shape[:2]
    out = np.full_like(obs, np.nan)
    seen = np.isfinite(obs[..., 0])
    missing = span & ~seen
    if not missing.any() or k < 2:
        return out
    with np.errstate(all="ignore"):
        ref = np.nanmedian(np.where(seen, areas, np.nan), axis=0)
    merged = seen & (areas >= area_ratio * ref[None, :])
    if not merged.any():
        return out
    line = fill_gaps(obs, span)
    frames = np.arange(n_frames)
    for kk in np.flatnonzero(missing.any(axis=0)):
        det_t = frames[seen[:, kk]]
        if det_t.size == 0:
            continue
        pts = obs[det_t, kk]
        scale = motion_scale(np.linalg.norm(np.diff(pts, axis=0), axis=1) / np.maximum(np.diff(det_t), 1), min_step_px)
        for t in np.flatnonzero(missing[:, kk]):
            cands = [m for m in np.flatnonzero(merged[t]) if m != kk]
            if not cands:
                continue
            near = []
            for m in cands:
                for side in (det_t[det_t < t][-1:], det_t[det_t > t][:1]):
                    if side.size and np.linalg.norm(obs[t, m] - obs[side[0], kk]) <= reach_factor * scale * abs(t - side[0]):
                        near.append(m)
                        break
            if near:
                best = min(near, key=lambda m: float(np.linalg.norm(obs[t, m] - line[t, kk])))
                out[t, kk] = obs[t, best]
    return out


def min_velocity_fill_kkt(observed: np.ndarray) -> np.ndarray:
    """The step-2 problem for one track solved exactly as a sparse KKT system.

    observed (float[T, 2]): (y, x) px at anchor frames, NaN elsewhere (at least one
    anchor). Returns float[T, 2]. Stationarity D^T D x + A^T mu = 0 with D the first
    difference (T-1 x T) and A selecting the anchors, plus A x = c; x and y separate.
    """
    obs = np.asarray(observed, dtype=float)
    n_frames = obs.shape[0]
    anchors = np.nonzero(np.isfinite(obs[:, 0]))[0]
    if n_frames == 1:
        return obs.copy()
    diff = sp.diags([-np.ones(n_frames - 1), np.ones(n_frames - 1)], [0, 1], shape=(n_frames - 1, n_frames))
    sel = sp.csr_matrix((np.ones(anchors.size), (np.arange(anchors.size), anchors)), shape=(anchors.size, n_frames))
    kkt = sp.bmat([[diff.T @ diff, sel.T], [sel, None]], format="csc")
    out = np.empty((n_frames, 2))
    for d in range(2):
        rhs = np.concatenate([np.zeros(n_frames), obs[anchors, d]])
        out[:, d] = spsolve(kkt, rhs)[:n_frames]
    return out
