"""Step 2: fill missed detections by minimum-velocity interpolation (paper section 2.3).

For one track over its span [a, b] the paper minimises the sum of squared velocities
subject to equality constraints at the frames with detections::

    min_x  sum_{t=a}^{b-1} |x_{t+1} - x_t|^2   s.t.  x_t = c_t  for detected t.

The problem separates into the stretches between consecutive anchors; on each the optimum
is the straight line between the two anchors at constant speed, and before the first /
after the last anchor it is the anchor held still (zero velocity). ``fill_gaps`` uses that
closed form; ``min_velocity_fill_kkt`` solves the same problem as a sparse KKT system and
is the reference the tests compare against.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve


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
