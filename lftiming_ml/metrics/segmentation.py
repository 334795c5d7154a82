"""Instance-segmentation metrics: mIoU per frame of matched amodal instances, AP at IoU 0.5,
missed and extra cells, and their summary per stratum with bootstrap CIs.

Definitions (the paper's section 3.1 reports "mIoU per frame"; made precise here):
- IoU between instance masks is computed per pair; predicted and ground-truth instances may
  overlap their own kind (amodal masks).
- **mIoU of a frame**: ground-truth cells are matched one-to-one to predictions by the
  Hungarian algorithm maximising total IoU (pairs with IoU 0 are never matches); the frame's
  mIoU is the mean over its *ground-truth* cells of the IoU with their match, 0 for a cell
  with no match. Frames without ground-truth cells have no mIoU (NaN); extra predictions
  do not lower mIoU (they are counted as ``n_extra`` instead).
- **Missed / extra** (at ``iou_thresh`` = 0.5): Hungarian matching restricted to pairs with
  IoU >= 0.5; unmatched ground truth are missed, unmatched predictions extra.
- **AP50**: COCO-style greedy matching per frame, predictions in descending score order
  each take the best still-free ground truth with IoU >= 0.5; precision-recall over all
  frames pooled, all-point interpolated area (VOC 2010+).
- **Strata** (``metrics.strata``): loaded E:T of the well and contact-rich wells. The CI of
  mIoU is a percentile bootstrap over *wells* (per-well mean of frame mIoU), since frames of
  one well are not independent; the reported mean and SD are over frames, as in the paper.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from lftiming_ml.metrics.stats import bootstrap_ci
from lftiming_ml.metrics.strata import STRATA


def mask_iou_matrix(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """``pred (bool[P, H, W])``, ``gt (bool[G, H, W])`` -> ``float64[P, G]`` IoU (0 where both are empty)."""
    p = np.asarray(pred, bool).reshape(len(pred), -1).astype(np.float32)
    g = np.asarray(gt, bool).reshape(len(gt), -1).astype(np.float32)
    inter = (p @ g.T).astype(np.float64)
    union = p.sum(1)[:, None] + g.sum(1)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def match_instances(iou: np.ndarray, min_iou: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one matching maximising total IoU of ``iou (float[P, G])``; returns
    ``(pred_idx int[k], gt_idx int[k])`` of pairs with IoU > 0 and >= ``min_iou``."""
    if iou.size == 0:
        return np.zeros(0, int), np.zeros(0, int)
    allowed = (iou > 0) & (iou >= min_iou)
    rows, cols = linear_sum_assignment(np.where(allowed, iou, 0.0), maximize=True)
    ok = allowed[rows, cols]
    return rows[ok], cols[ok]


def greedy_tp(iou: np.ndarray, scores: np.ndarray, iou_thresh: float = 0.5) -> np.ndarray:
    """COCO-style: ``bool[P]`` whether each prediction (taken by descending ``scores``) is a
    true positive at ``iou_thresh`` against still-unclaimed ground truth."""
    tp = np.zeros(iou.shape[0], bool)
    free = np.ones(iou.shape[1], bool)
    for i in np.argsort(-np.asarray(scores), kind="stable"):
        if not free.any():
            break
        cand = np.where(free & (iou[i] >= iou_thresh), iou[i], -1.0)
        j = int(np.argmax(cand))
        if cand[j] >= 0:
            tp[i], free[j] = True, False
    return tp


@dataclass(frozen=True)
class FrameScores:
    """Scores of one frame (one well at one time).

    ``gt_iou (float[G])``: IoU of each ground-truth cell with its mIoU match (0 if none);
    ``pred_tp (bool[P])``/``pred_scores (float[P])``: AP inputs.
    """

    miou: float
    n_gt: int
    n_pred: int
    n_matched: int
    n_missed: int
    n_extra: int
    gt_iou: np.ndarray
    pred_tp: np.ndarray
    pred_scores: np.ndarray


def frame_scores(pred_masks: np.ndarray, gt_masks: np.ndarray, pred_scores: np.ndarray | None = None, *,
                 iou_thresh: float = 0.5) -> FrameScores:
    """Score ``pred_masks (bool[P, H, W])`` (with ``pred_scores (float[P])``, default all 1)
    against ``gt_masks (bool[G, H, W])`` of one frame, as defined in the module docstring."""
    P, G = len(pred_masks), len(gt_masks)
    scores = np.ones(P) if pred_scores is None else np.asarray(pred_scores, np.float64)
    iou = mask_iou_matrix(pred_masks, gt_masks) if P and G else np.zeros((P, G))
    gt_iou = np.zeros(G)
    pi, gi = match_instances(iou)
    gt_iou[gi] = iou[pi, gi]
    p50, _ = match_instances(iou, iou_thresh)
    n_matched = len(p50)
    return FrameScores(
        miou=float(gt_iou.mean()) if G else math.nan, n_gt=G, n_pred=P, n_matched=n_matched,
        n_missed=G - n_matched, n_extra=P - n_matched, gt_iou=gt_iou,
        pred_tp=greedy_tp(iou, scores, iou_thresh) if P else np.zeros(0, bool), pred_scores=scores)


def average_precision(scores: np.ndarray, tp: np.ndarray, n_gt: int) -> float:
    """All-point interpolated AP from pooled predictions ``scores (float[P])`` and ``tp (bool[P])``
    over ``n_gt`` ground-truth instances; NaN when n_gt == 0."""
    if n_gt == 0:
        return math.nan
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    hits = np.asarray(tp, bool)[order]
    if hits.size == 0:
        return 0.0
    ctp, cfp = np.cumsum(hits), np.cumsum(~hits)
    recall = np.concatenate([[0.0], ctp / n_gt])
    precision = np.concatenate([[1.0], ctp / np.maximum(ctp + cfp, 1)])
    precision = np.maximum.accumulate(precision[::-1])[::-1]  # monotone envelope
    return float(np.sum((recall[1:] - recall[:-1]) * precision[1:]))


def _summary(frames: pd.DataFrame, *, n_resamples: int, seed: int) -> dict[str, float]:
    scored = frames[frames["n_gt"] > 0]
    well_means = scored.groupby("well")["miou"].mean().to_numpy()
    est, lo, hi = bootstrap_ci(well_means, n_resamples=n_resamples, seed=seed)
    n_gt = int(frames["n_gt"].sum())
    scores = np.concatenate([np.asarray(s, float) for s in frames["pred_scores"]]) if len(frames) else np.zeros(0)
    tps = np.concatenate([np.asarray(t, bool) for t in frames["pred_tp"]]) if len(frames) else np.zeros(0, bool)
    return {
        "n_wells": int(frames["well"].nunique()), "n_frames": int(len(frames)), "n_frames_with_cells": int(len(scored)),
        "miou_mean": float(scored["miou"].mean()) if len(scored) else math.nan,
        "miou_sd": float(scored["miou"].std(ddof=1)) if len(scored) > 1 else math.nan,
        "miou_well_mean": est, "miou_ci_low": lo, "miou_ci_high": hi,
        "ap50": average_precision(scores, tps, n_gt),
        "n_gt": n_gt, "n_pred": int(frames["n_pred"].sum()), "n_missed": int(frames["n_missed"].sum()),
        "n_extra": int(frames["n_extra"].sum()),
        "missed_rate": float(frames["n_missed"].sum() / n_gt) if n_gt else math.nan,
        "extra_per_frame": float(frames["n_extra"].sum() / len(frames)) if len(frames) else math.nan,
    }


def summarize_segmentation(frames: pd.DataFrame, *, n_resamples: int = 2000, seed: int = 0) -> dict[str, dict[str, float]]:
    """Summary overall, per E:T stratum and for contact-rich wells.

    ``frames``: one row per scored frame with columns ``well`` (a well key), ``stratum``
    (``metrics.strata.et_stratum``), ``contact_rich`` (bool), and the ``FrameScores`` fields
    ``miou``, ``n_gt``, ``n_pred``, ``n_missed``, ``n_extra``, ``pred_tp``, ``pred_scores``.
    Returns ``{group: {...}}`` for 'overall', each stratum present and 'contact-rich'.
    """
    out = {"overall": _summary(frames, n_resamples=n_resamples, seed=seed)}
    for name in STRATA:
        part = frames[frames["stratum"] == name]
        if len(part):
            out[name] = _summary(part, n_resamples=n_resamples, seed=seed)
    rich = frames[frames["contact_rich"].astype(bool)]
    if len(rich):
        out["contact-rich"] = _summary(rich, n_resamples=n_resamples, seed=seed)
    return out
