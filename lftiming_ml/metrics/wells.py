"""Well localization metrics: recall, precision, centre error and occupancy accuracy.

Predicted wells are matched to true wells per field by the Hungarian algorithm on their
centre distance averaged over the frames both have, with a gate (``match_px``); row/col ids
need not agree (a shifted lattice shows up as ``n_id_mismatch``). Centre errors are
per-frame distances between matched wells, in canonical px. Proportions carry 95 % Wilson
intervals (``stats.wilson_ci``).

pred columns: field_id, row, col, frame, y, x (well centre, field px), occupied (bool).
truth: ``gt/wells.parquet`` (field_id, row, col, frame, interior box y0, x0, y1, x1 in field
px, occupied); its centre is ((y0 + y1) / 2, (x0 + x1) / 2).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from lftiming_ml.metrics.stats import wilson_ci

PRED_COLUMNS = ("field_id", "row", "col", "frame", "y", "x", "occupied")
TRUTH_COLUMNS = ("field_id", "row", "col", "frame", "y0", "x0", "y1", "x1", "occupied")


@dataclass(frozen=True)
class WellScores:
    """Scores of predicted wells against ground truth (all fields together)."""

    n_true: int
    n_pred: int
    n_matched: int
    recall: float  # matched / true wells
    precision: float  # matched / predicted wells
    mean_centre_error: float  # canonical px, over all matched well-frames
    max_centre_error: float  # canonical px
    occupancy_accuracy: float  # over matched wells
    n_id_mismatch: int  # matched wells whose (row, col) differ from the truth's
    recall_ci: tuple[float, float]
    precision_ci: tuple[float, float]
    occupancy_accuracy_ci: tuple[float, float]
    per_well: pd.DataFrame = field(repr=False)  # one row per matched pair

    def as_dict(self) -> dict[str, float | int | list[float]]:
        """Scalars and CIs, JSON-ready (``per_well`` left out)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items() if k != "per_well"}


def _check(df: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what} lacks columns {missing}")


def _tracks(df: pd.DataFrame) -> tuple[list[tuple[int, int]], np.ndarray, np.ndarray]:
    """Wells of one field: ids, centres float[n, F, 2] over frames 0..F-1 (NaN where absent), occupied bool[n]."""
    frames = int(df["frame"].max()) + 1
    keys = sorted({(int(r), int(c)) for r, c in zip(df["row"], df["col"])})
    index = {k: i for i, k in enumerate(keys)}
    pos = np.full((len(keys), frames, 2), np.nan)
    i = np.array([index[(int(r), int(c))] for r, c in zip(df["row"], df["col"])], dtype=np.int64)
    pos[i, df["frame"].to_numpy(int)] = df[["y", "x"]].to_numpy(float)
    occ = df.groupby(["row", "col"])["occupied"].mean().reindex(pd.MultiIndex.from_tuples(keys)).to_numpy() >= 0.5
    return keys, pos, occ


def score_wells(pred: pd.DataFrame, truth: pd.DataFrame, *, match_px: float, um_per_px: float = 0.65,
                canonical_um_per_px: float = 0.65) -> WellScores:
    """Score predicted well positions and occupancy against ground truth.

    match_px: gate (field px) on the mean centre distance of a matched pair.
    um_per_px / canonical_um_per_px: field and canonical pixel sizes; errors are reported in
    canonical px (field px * um_per_px / canonical_um_per_px).
    """
    _check(pred, PRED_COLUMNS, "pred")
    _check(truth, TRUTH_COLUMNS, "truth")
    truth = truth.assign(y=(truth["y0"] + truth["y1"]) / 2.0, x=(truth["x0"] + truth["x1"]) / 2.0)
    to_canonical = um_per_px / canonical_um_per_px
    rows: list[dict] = []
    n_true = truth.groupby(["field_id", "row", "col"]).ngroups
    n_pred = pred.groupby(["field_id", "row", "col"]).ngroups if len(pred) else 0
    for fid, t_df in truth.groupby("field_id"):
        p_df = pred[pred["field_id"] == fid]
        if p_df.empty:
            continue
        t_keys, t_pos, t_occ = _tracks(t_df)
        p_keys, p_pos, p_occ = _tracks(p_df)
        n_f = min(t_pos.shape[1], p_pos.shape[1])
        d = np.linalg.norm(t_pos[:, None, :n_f] - p_pos[None, :, :n_f], axis=-1)  # [n_true, n_pred, F] field px
        both = np.isfinite(d).sum(axis=-1)
        mean_d = np.where(both > 0, np.nansum(d, axis=-1) / np.maximum(both, 1), np.inf)
        valid = mean_d <= match_px
        cost = np.where(valid, mean_d, 1e9)
        for i, j in zip(*linear_sum_assignment(cost)):
            if not valid[i, j]:
                continue
            err = d[i, j][np.isfinite(d[i, j])] * to_canonical
            rows.append({"field_id": fid, "row": t_keys[i][0], "col": t_keys[i][1], "pred_row": p_keys[j][0],
                         "pred_col": p_keys[j][1], "n_frames": int(err.size), "mean_error": float(err.mean()),
                         "max_error": float(err.max()), "sum_error": float(err.sum()),
                         "occupied": bool(t_occ[i]), "pred_occupied": bool(p_occ[j])})
    per_well = pd.DataFrame(rows, columns=["field_id", "row", "col", "pred_row", "pred_col", "n_frames",
                                           "mean_error", "max_error", "sum_error", "occupied", "pred_occupied"])
    n_match = len(per_well)
    n_occ_ok = int((per_well["occupied"] == per_well["pred_occupied"]).sum())
    recall, r_lo, r_hi = wilson_ci(n_match, n_true)
    precision, p_lo, p_hi = wilson_ci(n_match, n_pred)
    occ, o_lo, o_hi = wilson_ci(n_occ_ok, n_match)
    frames = int(per_well["n_frames"].sum())
    return WellScores(
        n_true=int(n_true), n_pred=int(n_pred), n_matched=n_match, recall=recall, precision=precision,
        mean_centre_error=float(per_well["sum_error"].sum() / frames) if frames else float("nan"),
        max_centre_error=float(per_well["max_error"].max()) if n_match else float("nan"),
        occupancy_accuracy=occ,
        n_id_mismatch=int(((per_well["row"] != per_well["pred_row"])
                           | (per_well["col"] != per_well["pred_col"])).sum()),
        recall_ci=(r_lo, r_hi), precision_ci=(p_lo, p_hi), occupancy_accuracy_ci=(o_lo, o_hi),
        per_well=per_well.drop(columns="sum_error"),
    )


# --- single-frame box detections (detector training) ------------------------------------

def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix ``float[n, m]`` of boxes ``a (float[n, 4])`` and ``b (float[m, 4])``, same corner order."""
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(hi - lo, 0, None).prod(axis=2)
    area_a = (a[:, 2:] - a[:, :2]).prod(axis=1)
    area_b = (b[:, 2:] - b[:, :2]).prod(axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-12)


def match_wells(pred: np.ndarray, truth: np.ndarray, iou_thresh: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one matching of ``pred (float[n, 4])`` to ``truth (float[m, 4])`` boxes (same
    coordinate order, e.g. (y0, x0, y1, x1) field px) maximising total IoU, pairs with
    IoU >= ``iou_thresh`` only. Returns index arrays ``(pred_idx int[k], truth_idx int[k])``."""
    if len(pred) == 0 or len(truth) == 0:
        return np.zeros(0, int), np.zeros(0, int)
    iou = box_iou(np.asarray(pred, np.float64), np.asarray(truth, np.float64))
    rows, cols = linear_sum_assignment(-np.where(iou >= iou_thresh, iou, 0.0))
    ok = iou[rows, cols] >= iou_thresh
    return rows[ok], cols[ok]


def well_detection_metrics(
    detections: Sequence[Any], truth_boxes: Sequence[np.ndarray], truth_occupied: Sequence[np.ndarray],
    *, iou_thresh: float = 0.5,
) -> dict[str, float]:
    """Single-frame detector scores (used to validate the detector while training; the
    fitted grid is scored by ``score_wells``). Each detection set has ``boxes``,
    ``centres`` and ``occupied_prob`` (``lftiming_ml.wells.detector.WellDetections``).

    Recall, precision, centre error (px, vs truth box centres) and occupancy accuracy
    (on matched wells, occupied when ``occupied_prob >= 0.5``) over several fields.

    ``truth_boxes[i] (float[m, 4], (y0, x0, y1, x1))`` and ``truth_occupied[i] (bool[m])``
    belong to ``detections[i]``.
    """
    n_pred = n_true = 0
    errors, occ_right, empty_seen, empty_right = [], [], 0, 0
    for det, boxes, occupied in zip(detections, truth_boxes, truth_occupied, strict=True):
        n_pred, n_true = n_pred + len(det), n_true + len(boxes)
        pi, ti = match_wells(det.boxes, boxes, iou_thresh)
        c_pred = det.centres[pi]
        c_true = np.stack([(boxes[ti, 0] + boxes[ti, 2]) / 2, (boxes[ti, 1] + boxes[ti, 3]) / 2], 1)
        errors.append(np.hypot(*(c_pred - c_true).T) if len(pi) else np.zeros(0))
        right = (det.occupied_prob[pi] >= 0.5) == np.asarray(occupied, bool)[ti]
        occ_right.append(right)
        empty = ~np.asarray(occupied, bool)[ti]
        empty_seen, empty_right = empty_seen + int(empty.sum()), empty_right + int(right[empty].sum())
    err = np.concatenate(errors) if errors else np.zeros(0)
    right = np.concatenate(occ_right) if occ_right else np.zeros(0, bool)
    tp = len(err)
    return {
        "n_true": float(n_true), "n_pred": float(n_pred), "n_matched": float(tp),
        "recall": tp / n_true if n_true else math.nan,
        "precision": tp / n_pred if n_pred else math.nan,
        "centre_error_mean_px": float(err.mean()) if tp else math.nan,
        "centre_error_max_px": float(err.max()) if tp else math.nan,
        "occupancy_accuracy": float(right.mean()) if tp else math.nan,
        "empty_wells_matched": float(empty_seen),
        "empty_well_accuracy": empty_right / empty_seen if empty_seen else math.nan,
    }
