"""Binary classification metrics (paper 2.4): accuracy, sensitivity, specificity, PPV, NPV
and AUROC, with 95% bootstrap CIs over independent units; and the death-frame error.

Frame-level apoptosis metrics resample *tracks* (a track's frames are not independent),
track-level cell-type metrics resample tracks. NaN where a metric is undefined (e.g.
sensitivity without positives, AUROC with one class), never 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import rankdata

from lftiming_ml.metrics.stats import bootstrap_ci, wilson_ci

METRICS = ("accuracy", "sensitivity", "specificity", "ppv", "npv", "auroc")
DEATH_TOLERANCE_FRAMES = 4


def auroc(y_true: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve of ``score (float[n])`` for ``y_true (bool[n])``: the
    Mann-Whitney U statistic with mid-ranks for ties; NaN with a single class."""
    y = np.asarray(y_true, bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(np.asarray(score, float))
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("nan")


def _from_counts(tp: float, fp: float, tn: float, fn: float) -> dict[str, float]:
    return {"accuracy": _ratio(tp + tn, tp + fp + tn + fn), "sensitivity": _ratio(tp, tp + fn),
            "specificity": _ratio(tn, tn + fp), "ppv": _ratio(tp, tp + fp), "npv": _ratio(tn, tn + fn)}


def binary_scores(y_true: np.ndarray, y_pred: np.ndarray, score: np.ndarray | None = None) -> dict[str, float]:
    """Point estimates for ``y_true, y_pred (bool[n])`` and ``score (float[n])`` (for AUROC):
    ``METRICS`` plus ``n`` and ``n_positive``."""
    y, p = np.asarray(y_true, bool), np.asarray(y_pred, bool)
    tp, fp = float((y & p).sum()), float((~y & p).sum())
    tn, fn = float((~y & ~p).sum()), float((y & ~p).sum())
    out = _from_counts(tp, fp, tn, fn)
    out["auroc"] = auroc(y, score) if score is not None else float("nan")
    out.update(n=float(y.size), n_positive=float(y.sum()))
    return out


def binary_scores_ci(y_true: np.ndarray, y_pred: np.ndarray, score: np.ndarray, units: np.ndarray | None = None, *,
                     n_resamples: int = 1000, seed: int = 0) -> dict[str, object]:
    """``binary_scores`` with a 95% percentile-bootstrap CI for each of ``METRICS``,
    resampling ``units (int|str[n])`` (e.g. track keys; each sample its own unit when None).
    Returns ``{metric: estimate, metric + '_ci': [low, high], 'n', 'n_positive', 'n_units'}``."""
    y, p, s = np.asarray(y_true, bool), np.asarray(y_pred, bool), np.asarray(score, float)
    u = np.arange(y.size) if units is None else np.unique(np.asarray(units), return_inverse=True)[1]
    n_units = int(u.max()) + 1 if u.size else 0
    counts = np.zeros((n_units, 4))
    for k, m in enumerate((y & p, ~y & p, ~y & ~p, y & ~p)):
        counts[:, k] = np.bincount(u, weights=m.astype(float), minlength=n_units)
    members = [np.flatnonzero(u == i) for i in range(n_units)] if units is not None else None
    out: dict[str, object] = dict(binary_scores(y, p, s))
    out["n_units"] = n_units
    unit_ids = np.arange(n_units, dtype=float)
    for name in METRICS:
        if name == "auroc":
            def stat(ids: np.ndarray) -> float:
                idx = ids.astype(int) if members is None else np.concatenate([members[i] for i in ids.astype(int)])
                return auroc(y[idx], s[idx])
            n_boot = min(n_resamples, 500)
        else:
            def stat(ids: np.ndarray, _name: str = name) -> float:
                return _from_counts(*counts[ids.astype(int)].sum(0))[_name]
            n_boot = n_resamples
        _, low, high = bootstrap_ci(unit_ids, stat, n_resamples=n_boot, seed=seed)
        out[f"{name}_ci"] = [low, high]
    return out


def death_call_right(predicted: int | None, true: int | None, *, tolerance: int = DEATH_TOLERANCE_FRAMES) -> bool:
    """One track's death call is right when both say 'no death' (None) or both die within
    ``tolerance`` frames of each other."""
    return (predicted is None and true is None) or (
        predicted is not None and true is not None and abs(predicted - true) <= tolerance)


def death_frame_scores(predicted: Sequence[int | None], true: Sequence[int | None], *,
                       tolerance: int = DEATH_TOLERANCE_FRAMES) -> dict[str, object]:
    """Per track: the call is right by ``death_call_right``. Returns ``within_tol`` (share,
    Wilson 95% CI), ``abs_error_mean`` (frames, tracks that die in both), ``missed`` /
    ``spurious`` deaths and counts."""
    pairs = list(zip(predicted, true, strict=True))
    right = sum(death_call_right(p, t, tolerance=tolerance) for p, t in pairs)
    est, low, high = wilson_ci(right, len(pairs))
    errors = [abs(p - t) for p, t in pairs if p is not None and t is not None]
    return {"within_tol": est, "within_tol_ci": [low, high], "tolerance_frames": tolerance,
            "abs_error_mean": float(np.mean(errors)) if errors else float("nan"),
            "missed": sum(p is None and t is not None for p, t in pairs),
            "spurious": sum(p is not None and t is None for p, t in pairs),
            "n_tracks": len(pairs), "n_true_deaths": sum(t is not None for _, t in pairs)}


__all__ = ["DEATH_TOLERANCE_FRAMES", "METRICS", "auroc", "binary_scores", "binary_scores_ci", "death_call_right",
           "death_frame_scores"]
