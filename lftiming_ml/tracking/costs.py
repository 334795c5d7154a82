"""The paper's Eq. 7 frame-to-frame link cost and its ingredients, as pure functions.

Eq. 7 (symbols partly lost in the paper's text; reconstructed) scores linking cell i at
frame t to cell j at frame t+1 by position, velocity consistency, shape and a contact
penalty. We keep those four terms but put them on one dimensionless scale, because in
TIMING data position is weak evidence and shape is strong (see ``TrackerParams``)::

    C_ij = a |c_j - c_i| / s_i + b |c_j - (c_i + v_i)| / s_i
         + g_A |log(A_j / A_i)| + g_S (1 - S(m_i, m_j)) + P delta_ij

- c: centroids; v_i the short-horizon velocity of track i (so the second term is the
  distance of c_j to the constant-velocity prediction).
- s_i: the track's own motion scale (px per frame, ``motion_scale``): an effector running
  40 px per frame and a target creeping 3 px are both judged in units of their own steps,
  so a far jump is cheap for a runner and expensive for a sitter.
- A: mask areas (``area_dissimilarity``). A cell's amodal area is nearly constant frame to
  frame (median |d log A| ~ 0.015 on the simulator) while two cells of a well differ by
  ~0.1-0.5 in log area (effectors ~90-150 px^2, targets ~120-270 px^2): the strongest cue.
- S: mask IoU after aligning centroids (``shape_dissimilarity``): elongation and outline.
- delta_ij = 1 when the link swaps sides with a contact partner right after a contact
  (``contact_swap_indicator``), P the penalty.

a, b, g_A, g_S, P are ``TrackerParams.w_distance, w_velocity, w_area, w_shape,
contact_swap_penalty``. All positions are (y, x) px of the well crop.
"""

from __future__ import annotations

import math

import numpy as np

from lftiming_ml.tracking.config import TrackerParams

Box = tuple[float, float, float, float]


def equivalent_radius(areas: np.ndarray) -> np.ndarray:
    """Radius (px) of the disc with the same area: ``areas (float[n], px^2)`` -> float[n]."""
    return np.sqrt(np.maximum(np.asarray(areas, dtype=float), 0.0) / np.pi)


def area_dissimilarity(areas_from: np.ndarray, areas_to: np.ndarray) -> np.ndarray:
    """|log(A_j / A_i)| for every pair: ``areas_from (float[K])``, ``areas_to (float[n])`` (px^2)
    -> float[K, n] (0 for equal areas; 0.1 is a 10% size difference)."""
    a = np.log(np.maximum(np.asarray(areas_from, dtype=float), 1.0))[:, None]
    b = np.log(np.maximum(np.asarray(areas_to, dtype=float), 1.0))[None, :]
    return np.abs(b - a)


def mask_elongation(masks: np.ndarray) -> np.ndarray:
    """Elongation of each mask, sqrt(major / minor eigenvalue of its pixel covariance):
    ``masks (bool[n, H, W])`` -> float[n] (1 for a disc; 1.5 for an ellipse with axes 3:2).
    Rotation-invariant, unlike the IoU of ``shape_dissimilarity``. Masks of fewer than 3
    pixels give 1."""
    m = np.asarray(masks, dtype=bool)
    if m.shape[0] == 0:
        return np.zeros(0)
    w = m.reshape(m.shape[0], -1).astype(np.float64)
    yy, xx = np.indices(m.shape[1:], dtype=np.float64).reshape(2, -1)
    n = w.sum(1)
    safe = np.maximum(n, 1.0)
    my, mx = w @ yy / safe, w @ xx / safe
    cyy = w @ (yy * yy) / safe - my * my
    cxx = w @ (xx * xx) / safe - mx * mx
    cxy = w @ (yy * xx) / safe - my * mx
    half_trace, det = 0.5 * (cyy + cxx), cyy * cxx - cxy * cxy
    root = np.sqrt(np.maximum(half_trace * half_trace - det, 0.0))
    hi, lo = half_trace + root, half_trace - root
    return np.where(n >= 3, np.sqrt(hi / np.maximum(lo, 1e-6)), 1.0)


def small_median(values) -> float:
    """``np.median`` of a short sequence of finite numbers, the same float, without numpy's
    per-call overhead (the tracker takes a few per track and frame): the middle value, or
    the mean of the two middle ones."""
    v = sorted(float(x) for x in values)
    n = len(v)
    if n == 0:
        raise ValueError("median of an empty sequence")
    k = n // 2
    return v[k] if n % 2 else (v[k - 1] + v[k]) / 2


def elongation_dissimilarity(references: list[np.ndarray], elongations: np.ndarray, split: float,
                             min_references: int = 3) -> np.ndarray:
    """|log e_j - log e_i| between a polarized detection and the median of its track's
    polarized references: float[K, n], 0 where either side is round.

    A migrating lymphocyte polarizes (elongates) and rounds up when it stops; each cell has
    its own polarized elongation, while round cells all look alike. So only detections with
    elongation above ``split`` are compared, and only with the track's references above it.
    references: per track, float[m] elongations of its last polarized detections, all above
    ``split`` (``linking.track_state`` picks them; tracks with fewer than ``min_references``
    give 0: nothing known yet).
    elongations (float[n]): the detections' ``mask_elongation``.
    """
    e = np.log(np.maximum(np.asarray(elongations, dtype=float), 1.0))
    polar = np.asarray(elongations, dtype=float) > split
    out = np.zeros((len(references), e.size))
    for k, ref in enumerate(references):
        r = np.asarray(ref, dtype=float)
        if r.size >= min_references:
            out[k] = np.where(polar, np.abs(e - np.log(small_median(r))), 0.0)
    return out


def motion_scale(steps: np.ndarray, floor: float) -> float:
    """A track's typical frame-to-frame step (px): the root mean square of its recent
    ``steps (float[m], px per frame)``, at least ``floor`` (and ``floor`` without steps)."""
    s = [v for v in (float(x) for x in steps) if math.isfinite(v)]
    if not s:
        return float(floor)
    # numpy sums 8 or more values pairwise; fewer (motion_history is 4) in order, as here
    mean = sum(v * v for v in s) / len(s) if len(s) < 8 else float(np.mean(np.square(s)))
    return max(float(floor), math.sqrt(mean))


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


def shape_dissimilarity(crops_from: np.ndarray | None, crops_to: np.ndarray | None, n_from: int, n_to: int) -> np.ndarray:
    """1 - S(m_i, m_j) for every pair, in [0, 1]: float[K, n].

    With centred mask crops (``centred_mask_crops``, bool[K, S, S] and bool[n, S, S]):
    1 - IoU of the masks after aligning their centroids (outline and elongation; size too,
    but size has its own term). Without masks (either is None): zeros, no shape evidence.
    """
    if crops_from is None or crops_to is None or n_from == 0 or n_to == 0:
        return np.zeros((n_from, n_to))
    fa = crops_from.reshape(crops_from.shape[0], -1).astype(np.float32)
    fb = crops_to.reshape(crops_to.shape[0], -1).astype(np.float32)
    inter = fa @ fb.T
    union = fa.sum(1)[:, None] + fb.sum(1)[None, :] - inter
    iou = np.where(union > 0, inter / np.maximum(union, 1e-9), 1.0)
    return (1.0 - iou).astype(float)


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
    scale: np.ndarray,
    area_dissim: np.ndarray,
    shape_dissim: np.ndarray,
    swap: np.ndarray,
    params: TrackerParams,
    appearance_dissim: np.ndarray | None = None,
    elongation_dissim: np.ndarray | None = None,
) -> np.ndarray:
    """Eq. 7 for all pairs: float[K, n] (dimensionless).

    from_pos (float[K, 2]): track positions c_i at t (last detection or gap prediction).
    pred_pos (float[K, 2]): constant-velocity predictions c_i + v_i for t+1.
    to_pos (float[n, 2]): detections c_j at t+1. All (y, x) px.
    scale (float[K]): motion scale s_i of each track (px, ``motion_scale``).
    area_dissim (float[K, n]): |log(A_j / A_i)| from ``area_dissimilarity``.
    shape_dissim (float[K, n]): 1 - S(m_i, m_j) from ``shape_dissimilarity``.
    swap (bool[K, n]): delta_ij from ``contact_swap_indicator``.
    appearance_dissim (float[K, n] or None): 1 - e_i . e_j of unit appearance embeddings
        (``reid``), in [0, 2]; None leaves the term out.
    elongation_dissim (float[K, n] or None): ``elongation_dissimilarity``; None leaves it out.
    """
    p = np.asarray(from_pos, dtype=float)
    q = np.asarray(to_pos, dtype=float)
    s = np.asarray(scale, dtype=float).reshape(-1, 1)
    dist = np.linalg.norm(q[None, :, :] - p[:, None, :], axis=-1) / s
    dev = np.linalg.norm(q[None, :, :] - np.asarray(pred_pos, dtype=float)[:, None, :], axis=-1) / s
    return (
        params.w_distance * dist
        + params.w_velocity * dev
        + params.w_area * np.asarray(area_dissim, dtype=float)
        + params.w_shape * np.asarray(shape_dissim, dtype=float)
        + params.contact_swap_penalty * np.asarray(swap, dtype=float)
        + (0.0 if appearance_dissim is None else params.w_appearance * np.asarray(appearance_dissim, dtype=float))
        + (0.0 if elongation_dissim is None else params.w_elongation * np.asarray(elongation_dissim, dtype=float))
    )


def area_change_noise(
    centroids: list[np.ndarray], areas: list[np.ndarray], radii: list[np.ndarray], min_links: int = 10
) -> float:
    """Typical frame-to-frame |log(A_{t+1} / A_t)| of a detector's masks in one well (NaN
    with fewer than ``min_links`` unambiguous links).

    Per frame t: ``centroids[t] (float[n_t, 2], (y, x) px)``, ``areas[t] (float[n_t], px^2)``,
    ``radii[t] (float[n_t], px)``. Only unambiguous links count: mutual nearest detections of
    consecutive frames within one radius of each other whose second-nearest candidate (either
    way) is more than two radii away. Returns the median |log area ratio| over those links.
    Amodal true masks give ~0.015 on the simulator; LOCSNET's modal masks ~0.03-0.05, so the
    area term of Eq. 7 is worth less there (``TrackerParams.area_noise_reference``).
    """
    out = []
    for t in range(len(centroids) - 1):
        a, b = np.asarray(centroids[t], dtype=float).reshape(-1, 2), np.asarray(centroids[t + 1], dtype=float).reshape(-1, 2)
        if a.shape[0] == 0 or b.shape[0] == 0:
            continue
        d = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=-1)
        j_of = d.argmin(1)
        i_of = d.argmin(0)
        for i, j in enumerate(j_of):
            if i_of[j] != i or d[i, j] > radii[t][i]:
                continue
            others_a = np.delete(d[i], j)
            others_b = np.delete(d[:, j], i)
            if (others_a.size and others_a.min() <= 2 * radii[t][i]) or (others_b.size and others_b.min() <= 2 * radii[t][i]):
                continue
            out.append(abs(np.log(max(areas[t + 1][j], 1.0) / max(areas[t][i], 1.0))))
    return float(np.median(out)) if len(out) >= min_links else float("nan")
