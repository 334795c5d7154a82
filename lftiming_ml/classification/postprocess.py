"""From per-frame probabilities to calls (pure functions): the monotone apoptotic probability,
the death frame, frames a subsampled prediction skipped, the frame-level CNN's votes, and
the lineage-pooled cell type (a type is inherited through mitosis, and a fragment of a
dying cell is the same cell: one decision per lineage, not per track)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.isotonic import isotonic_regression

WELL_KEYS = ("chip_id", "field_id", "row", "col")
"""A lineage never leaves its well: parent links are followed inside these keys only."""
LOGIT_CLIP = 1e-4
"""Probabilities are clipped to [LOGIT_CLIP, 1 - LOGIT_CLIP] before their log-odds are pooled."""
Pooling = Literal["logit", "linear"]


def monotone_probability(p: np.ndarray) -> np.ndarray:
    """The least-squares non-decreasing fit of ``p (float[T])`` (isotonic regression,
    pool-adjacent-violators), in [0, 1]: apoptosis does not revert."""
    p = np.asarray(p, np.float64)
    if p.size < 2:
        return p.copy()
    return np.clip(isotonic_regression(p, increasing=True), 0.0, 1.0)


def death_frame(p: np.ndarray, frames: np.ndarray, threshold: float = 0.5) -> int | None:
    """First of ``frames (int[T])`` where ``p (float[T])`` reaches ``threshold``, None if never."""
    hit = np.flatnonzero(np.asarray(p) >= threshold)
    return int(np.asarray(frames)[hit[0]]) if hit.size else None


def death_threshold_accuracy(p_monotone: Sequence[np.ndarray], labels: Sequence[np.ndarray],
                             thresholds: Sequence[float]) -> np.ndarray:
    """``float64[len(thresholds)]``: the frame accuracy of the death calls each threshold makes
    (apoptotic from the first frame whose ``p_monotone[i] (float[T_i])`` reaches it) against
    ``labels[i] (bool|int[T_i])``, pooled over all tracks' frames. A track's frames are its
    entries: the call is made on them as ``death_frame`` makes it on the movie frames."""
    n = sum(len(y) for y in labels)
    if n == 0:
        raise ValueError("death_threshold_accuracy: no labelled frames")
    right = np.zeros(len(thresholds))
    for p, y in zip(p_monotone, labels, strict=True):
        y = np.asarray(y).astype(bool)
        if np.shape(p) != y.shape:
            raise ValueError(f"death_threshold_accuracy: {np.size(p)} probabilities for {y.size} labels")
        entries = np.arange(y.size)
        for k, thr in enumerate(thresholds):
            dies = death_frame(p, entries, thr)
            right[k] += int(((entries >= (y.size if dies is None else dies)) == y).sum())
    return right / n


def choose_death_threshold(accuracy: np.ndarray, thresholds: Sequence[float], default: float) -> float:
    """The threshold of best ``accuracy`` (``death_threshold_accuracy``); among equal bests the
    one nearest ``default``, so a calibration that cannot tell keeps the recipe's value."""
    acc = np.asarray(accuracy, np.float64)
    thr = np.asarray(thresholds, np.float64)
    best = np.flatnonzero(acc >= acc.max() - 1e-12)
    return float(thr[best[np.argmin(np.abs(thr[best] - default))]])


def subsample_index(n: int, step: int) -> np.ndarray:
    """Entries ``0, step, 2 step, ...`` of an ``n``-frame track (``int64[ceil(n / step)]``)."""
    return np.arange(0, n, max(step, 1), dtype=np.int64)


def fill_skipped(values: np.ndarray, index: np.ndarray, n: int) -> np.ndarray:
    """``float64[n]``: ``values`` known at entries ``index (int[k], ascending)``, linearly
    interpolated between them and held beyond the last."""
    return np.interp(np.arange(n), index, np.asarray(values, np.float64)) if n else np.zeros(0)


def majority_vote(p_frames: np.ndarray, threshold: float = 0.5) -> tuple[bool, float]:
    """The frame-level baseline's track call: (majority of frames at or above ``threshold``,
    share of such frames). Ties go to the positive class."""
    votes = np.asarray(p_frames) >= threshold
    share = float(votes.mean()) if votes.size else 0.0
    return share >= 0.5, share


def lineage_ids(tracks: pd.DataFrame) -> np.ndarray:
    """``int64[N]``: for each row of ``tracks`` (one row per track: ``WELL_KEYS``, track_id,
    parent = track_id of the mother / dying track, -1 if none) the lineage it belongs to,
    named by the smallest track_id in it. A lineage is a connected component of the parent
    links of one well (union-find, so chains and siblings join); a parent of -1, or one that
    is not a track of the same well, links nothing. Raises ValueError on a track listed twice."""
    n = len(tracks)
    root = np.arange(n)

    def find(i: int) -> int:
        while root[i] != i:
            root[i] = root[root[i]]
            i = int(root[i])
        return i

    track_id = tracks["track_id"].to_numpy(np.int64)
    parent = tracks["parent"].to_numpy(np.int64)
    for key, rows in tracks.groupby(list(WELL_KEYS), sort=False).indices.items():
        index = {int(track_id[r]): int(r) for r in rows}
        if len(index) < len(rows):
            raise ValueError(f"well {key}: a track_id appears on more than one row")
        for r in rows:
            mother = index.get(int(parent[r]), -1) if parent[r] >= 0 else -1
            if mother >= 0:
                root[find(int(r))] = find(mother)
    comp = np.array([find(i) for i in range(n)], np.int64)
    smallest: dict[int, int] = {}
    for c, t in zip(comp, track_id):
        smallest[int(c)] = min(smallest.get(int(c), int(t)), int(t))
    return np.array([smallest[int(c)] for c in comp], np.int64)


def pool_lineages(groups: np.ndarray, score: np.ndarray, weight: np.ndarray, *, pooling: Pooling = "logit"
                  ) -> np.ndarray:
    """``float64[N]``: per track, the ``weight``-weighted mean of ``score (float[N], in [0,
    1])`` over the tracks sharing its ``groups (int[N])`` entry (group ids must be unique
    across wells: pass a well-qualified key). ``"logit"`` averages log-odds (scores clipped
    by ``LOGIT_CLIP``) and maps back, so a confident, long track outweighs a short, unsure
    one; ``"linear"`` averages the scores (vote shares: a majority vote over the pooled
    frames). ``weight (float[N])`` is floored at 1 (a track's frames). Tracks alone in their
    group keep their score exactly."""
    score = np.asarray(score, np.float64)
    weight = np.maximum(np.asarray(weight, np.float64), 1.0)
    _, inverse, counts = np.unique(np.asarray(groups), return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    if pooling == "logit":
        p = np.clip(score, LOGIT_CLIP, 1 - LOGIT_CLIP)
        value = np.log(p / (1 - p))
    elif pooling == "linear":
        value = score
    else:
        raise ValueError(f"unknown pooling {pooling!r}")
    mean = np.bincount(inverse, weight * value) / np.bincount(inverse, weight) if len(score) else np.zeros(0)
    pooled = mean[inverse]
    if pooling == "logit":
        pooled = 1 / (1 + np.exp(-pooled))
    return np.where(counts[inverse] > 1, pooled, score)


def lineage_cell_types(tracks: pd.DataFrame, *, score: str = "p_effector", pooling: Pooling = "logit",
                       threshold: float = 0.5) -> pd.DataFrame:
    """Lineage-consistent cell types of ``tracks`` (one row per track: ``WELL_KEYS``,
    track_id, parent, n_frames and the track's ``score`` column, the classifier's evidence
    that it is an effector). Returns a frame on ``tracks.index`` with ``lineage_id`` (int64,
    ``lineage_ids``), ``p_lineage`` (float64, ``pool_lineages`` of ``score`` weighted by
    n_frames) and ``effector`` (bool, p_lineage >= ``threshold``): every member of a
    lineage gets the same call."""
    if tracks.empty:
        return pd.DataFrame({"lineage_id": pd.Series(dtype="int64"), "p_lineage": pd.Series(dtype="float64"),
                             "effector": pd.Series(dtype="bool")}, index=tracks.index)
    lineage = lineage_ids(tracks)
    groups = (tracks[list(WELL_KEYS)].assign(lineage_id=lineage)
              .groupby([*WELL_KEYS, "lineage_id"], sort=False, dropna=False).ngroup().to_numpy())
    p = pool_lineages(groups, tracks[score].to_numpy(float), tracks["n_frames"].to_numpy(float), pooling=pooling)
    return pd.DataFrame({"lineage_id": lineage, "p_lineage": p, "effector": p >= threshold}, index=tracks.index)


__all__ = ["LOGIT_CLIP", "WELL_KEYS", "choose_death_threshold", "death_frame", "death_threshold_accuracy",
           "fill_skipped", "lineage_cell_types", "lineage_ids", "majority_vote", "monotone_probability",
           "pool_lineages", "subsample_index"]
