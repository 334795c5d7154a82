"""Multiple Object Tracking Accuracy per well (paper Eq. 9; Bernardin & Stiefelhagen 2008).

Eq. 9 (symbols lost in the paper's text; reconstructed from the CLEAR MOT definition it
cites)::

    MOTA = 1 - sum_t (FP_t + FN_t + IDSW_t) / sum_t GT_t

Per frame, ground-truth cells are matched to predicted tracks within a distance gate as in
CLEAR MOT (and ``motmetrics``, which a test checks us against): a ground-truth cell keeps
the track it was matched to before if that track is present and within the gate; the rest
are matched by the Hungarian algorithm on squared distances (maximum number of matches
within the gate, then least total squared distance). A match to a different track than the
cell's previous match is an identity switch. Unmatched ground truth are misses (FN),
unmatched tracks false positives (FP). Positions are (y, x) px of the well crop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment


@dataclass(frozen=True)
class TrackingScores:
    """MOTA and its counts for one well (sums over frames)."""

    mota: float  # NaN when the well has no ground-truth cell at any frame
    n_gt: int
    n_misses: int
    n_false_positives: int
    n_id_switches: int
    n_matches: int


@dataclass(frozen=True)
class IdSwitch:
    """One identity switch: ground-truth ``cell`` matched at ``frame`` to ``track``, which
    was matched to ``partner`` (another ground-truth cell) last before this frame, -1 when
    to none."""

    frame: int
    cell: int
    track: int
    partner: int


def _gated_assignment(d2: np.ndarray, valid: np.ndarray) -> list[tuple[int, int]]:
    """Hungarian on squared distances with pairs outside the gate forbidden.

    Forbidden pairs get a cost larger than any assignment of allowed pairs can reach, so the
    number of allowed matches is maximal first and their total cost minimal second (the
    construction ``motmetrics.lap.add_expensive_edges`` uses).
    """
    if d2.size == 0 or not valid.any():
        return []
    r = min(d2.shape)
    big = 2 * r * (np.abs(d2[valid]).max() + 1) + 1
    rows, cols = linear_sum_assignment(np.where(valid, d2, big))
    return [(int(i), int(j)) for i, j in zip(rows, cols) if valid[i, j]]


def mota(gt_positions: np.ndarray, pred_positions: np.ndarray, max_distance: float,
         switches: list[IdSwitch] | None = None) -> TrackingScores:
    """Score predicted tracks against ground truth in one well.

    gt_positions (float[T, G, 2]): ground-truth (y, x) px per cell, NaN where absent.
    pred_positions (float[T, K, 2]): predicted (y, x) px per track, NaN where absent.
    max_distance: matching gate (px); a pair matches only if its distance <= the gate.
    switches: when given, every identity switch is appended to it as an ``IdSwitch``.
    """
    gt = np.asarray(gt_positions, dtype=float)
    pred = np.asarray(pred_positions, dtype=float)
    if gt.shape[0] != pred.shape[0]:
        raise ValueError(f"ground truth has {gt.shape[0]} frames, prediction {pred.shape[0]}")
    gate2 = float(max_distance) ** 2
    last_match: dict[int, int] = {}  # gt cell -> track it was last matched to
    n_gt = n_fn = n_fp = n_sw = n_match = 0
    for t in range(gt.shape[0]):
        g_ids = np.nonzero(np.isfinite(gt[t, :, 0]))[0]
        h_ids = np.nonzero(np.isfinite(pred[t, :, 0]))[0]
        n_gt += g_ids.size
        d2 = np.sum((gt[t, g_ids][:, None, :] - pred[t, h_ids][None, :, :]) ** 2, axis=-1)
        valid = d2 <= gate2
        g_done = np.zeros(g_ids.size, dtype=bool)
        h_done = np.zeros(h_ids.size, dtype=bool)
        for i, g in enumerate(g_ids):  # 1. keep established correspondences
            h = last_match.get(int(g))
            j = np.nonzero((h_ids == h) & ~h_done)[0] if h is not None else []
            if len(j) and valid[i, j[0]]:
                g_done[i] = h_done[j[0]] = True
                n_match += 1
        free = valid & ~g_done[:, None] & ~h_done[None, :]
        before = dict(last_match) if switches is not None else {}
        for i, j in _gated_assignment(d2, free):  # 2. Hungarian on the rest
            g, h = int(g_ids[i]), int(h_ids[j])
            if g in last_match and last_match[g] != h:
                n_sw += 1
                if switches is not None:
                    partner = next((c for c, th in before.items() if th == h and c != g), -1)
                    switches.append(IdSwitch(t, g, h, partner))
            else:
                n_match += 1
            last_match[g] = h
            g_done[i] = h_done[j] = True
        n_fn += int((~g_done).sum())
        n_fp += int((~h_done).sum())
    score = 1.0 - (n_fn + n_fp + n_sw) / n_gt if n_gt else float("nan")
    return TrackingScores(score, n_gt, n_fn, n_fp, n_sw, n_match)
