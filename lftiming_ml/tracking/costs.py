"""The paper's Eq. 7 link cost and its ingredients, as pure functions.

Eq. 7 (symbols partly lost in the paper's text; reconstructed) scores linking cell i at
frame t to cell j at frame t+1::

    C_ij = a |c_j - c_i| + b |d_ij - v_i| + g (1 - S(m_i, m_j)) + P delta_ij

with c the centroids, d_ij = c_j - c_i the observed displacement, v_i the short-horizon
velocity of track i (so |d_ij - v_i| is the distance of c_j to the constant-velocity
prediction c_i + v_i), S a shape similarity of the masks m_i, m_j, delta_ij = 1 when the
link swaps identities right after a contact (track i was in contact with a track m at t and
c_j lies on m's side of them, see ``contact_swap_indicator``), and P ~ 100. a, b, g, P are
``TrackerParams.w_distance, w_velocity, w_shape, contact_swap_penalty``.
All positions are (y, x) px of the well crop.
"""

from __future__ import annotations

import numpy as np

from lftiming_ml.tracking.config import TrackerParams

Box = tuple[float, float, float, float]


def equivalent_radius(areas: np.ndarray) -> np.ndarray:
    """Radius (px) of the disc with the same area: ``areas (float[n], px^2)`` -> float[n]."""
    return np.sqrt(np.maximum(np.asarray(areas, dtype=float), 0.0) / np.pi)


def fold_into_box(points: np.ndarray, well_box: Box, mode: str) -> np.ndarray:
    """Bring predicted ``points (float[n, 2], (y, x) px)`` back inside ``well_box``.

    mode "reflect" mirrors them off the walls (a cell bouncing), "clip" stops them at the
    wall, "none" returns them unchanged. ``well_box`` is (y0, x0, y1, x1).
    """
    p = np.array(points, dtype=float)
    if mode == "none" or p.size == 0:
        return p
    lo = np.array(well_box[:2], dtype=float)
    hi = np.array(well_box[2:], dtype=float)
    if mode == "clip" or ((p >= lo).all() and (p <= hi).all()):
        return np.minimum(np.maximum(p, lo), hi)
    span = np.maximum(hi - lo, 1e-9)
    u = np.mod(p - lo, 2 * span)  # triangle wave: reflection off both walls, any distance
    return lo + np.where(u > span, 2 * span - u, u)


def centred_mask_crops(masks: np.ndarray, centroids: np.ndarray, half: int) -> np.ndarray:
    """Square crops of ``masks (bool[n, H, W])`` centred on ``centroids (float[n, 2], (y, x) px)``.

    Returns bool[n, 2 * half + 1, 2 * half + 1]; each centroid (rounded) is the crop centre,
    so two crops overlap as their masks do after aligning centroids. Out-of-image is False.
    """
    m = np.asarray(masks, dtype=bool)
    n = m.shape[0]
    size = 2 * half + 1
    out = np.zeros((n, size, size), dtype=bool)
    if n == 0:
        return out
    padded = np.pad(m, ((0, 0), (half, half), (half, half)))
    centre = np.rint(np.asarray(centroids, dtype=float)).astype(int)
    h, w = m.shape[1:]
    for i in range(n):
        cy = int(np.clip(centre[i, 0], 0, h - 1)) + half
        cx = int(np.clip(centre[i, 1], 0, w - 1)) + half
        out[i] = padded[i, cy - half : cy + half + 1, cx - half : cx + half + 1]
    return out


def shape_dissimilarity(
    areas_from: np.ndarray,
    areas_to: np.ndarray,
    crops_from: np.ndarray | None = None,
    crops_to: np.ndarray | None = None,
) -> np.ndarray:
    """1 - S(m_i, m_j) for every pair, in [0, 1]: float[K, n].

    With centred mask crops (``centred_mask_crops``, bool[K, S, S] and bool[n, S, S]):
    1 - IoU of the masks after aligning their centroids. Without: 1 - min(a_i, a_j) /
    max(a_i, a_j) from ``areas_from (float[K])`` and ``areas_to (float[n])`` (px^2).
    """
    a = np.asarray(areas_from, dtype=float)[:, None]
    b = np.asarray(areas_to, dtype=float)[None, :]
    if crops_from is not None and crops_to is not None and len(crops_from) and len(crops_to):
        fa = crops_from.reshape(crops_from.shape[0], -1).astype(np.float32)
        fb = crops_to.reshape(crops_to.shape[0], -1).astype(np.float32)
        inter = fa @ fb.T
        union = fa.sum(1)[:, None] + fb.sum(1)[None, :] - inter
        iou = np.where(union > 0, inter / np.maximum(union, 1e-9), 1.0)
        return (1.0 - iou).astype(float)
    big = np.maximum(a, b)
    return np.where(big > 0, 1.0 - np.minimum(a, b) / np.maximum(big, 1e-12), 0.0)


def contact_pairs(positions: np.ndarray, radii: np.ndarray, contact_factor: float) -> np.ndarray:
    """Which tracks touch: ``positions (float[K, 2], (y, x) px)``, ``radii (float[K], px)`` -> bool[K, K].

    Contact when the centroid distance <= contact_factor * (r_a + r_b); the diagonal and
    rows with NaN positions are False.
    """
    p = np.asarray(positions, dtype=float)
    d = np.linalg.norm(p[:, None, :] - p[None, :, :], axis=-1)
    r = np.asarray(radii, dtype=float)
    touch = d <= contact_factor * (r[:, None] + r[None, :])
    np.fill_diagonal(touch, False)
    return touch & np.isfinite(d)


def contact_swap_indicator(
    from_pos: np.ndarray, pred_pos: np.ndarray, contacts: np.ndarray, to_pos: np.ndarray
) -> np.ndarray:
    """delta_ij of Eq. 7: bool[K, n], True when linking track i to detection j swaps sides.

    ``from_pos (float[K, 2])``: track positions at t; ``pred_pos (float[K, 2])``: their
    predictions for t+1; ``contacts (bool[K, K])``: contacts at t; ``to_pos (float[n, 2])``:
    detections at t+1. For track i in contact with m, the link i -> j is a swap when c_j
    lies on m's side of the bisector of (c_i, c_m), the bisector moved by the pair's mean
    predicted displacement (so a conjugate moving together is not a swap, a pair bouncing
    apart keeps its sides).
    """
    p = np.asarray(from_pos, dtype=float)
    v = np.asarray(pred_pos, dtype=float) - p
    q = np.asarray(to_pos, dtype=float)
    k, n = p.shape[0], q.shape[0]
    swap = np.zeros((k, n), dtype=bool)
    if k == 0 or n == 0 or not contacts.any():
        return swap
    for i, m in zip(*np.nonzero(contacts)):
        mid = 0.5 * (p[i] + p[m]) + 0.5 * (v[i] + v[m])
        swap[i] |= (q - mid) @ (p[i] - p[m]) < 0
    return swap


def link_cost_matrix(
    from_pos: np.ndarray,
    pred_pos: np.ndarray,
    to_pos: np.ndarray,
    shape_dissim: np.ndarray,
    swap: np.ndarray,
    params: TrackerParams,
) -> np.ndarray:
    """Eq. 7 for all pairs: float[K, n].

    from_pos (float[K, 2]): track positions c_i at t (last detection or gap prediction).
    pred_pos (float[K, 2]): constant-velocity predictions c_i + v_i for t+1.
    to_pos (float[n, 2]): detections c_j at t+1. All (y, x) px.
    shape_dissim (float[K, n]): 1 - S(m_i, m_j) from ``shape_dissimilarity``.
    swap (bool[K, n]): delta_ij from ``contact_swap_indicator``.
    """
    p = np.asarray(from_pos, dtype=float)
    q = np.asarray(to_pos, dtype=float)
    dist = np.linalg.norm(q[None, :, :] - p[:, None, :], axis=-1)
    dev = np.linalg.norm(q[None, :, :] - np.asarray(pred_pos, dtype=float)[:, None, :], axis=-1)
    return (
        params.w_distance * dist
        + params.w_velocity * dev
        + params.w_shape * np.asarray(shape_dissim, dtype=float)
        + params.contact_swap_penalty * np.asarray(swap, dtype=float)
    )
