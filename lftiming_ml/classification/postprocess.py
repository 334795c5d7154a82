"""From per-frame probabilities to calls (pure numpy): the monotone apoptotic probability,
the death frame, frames a subsampled prediction skipped, and the frame-level CNN's votes."""

from __future__ import annotations

import numpy as np
from sklearn.isotonic import isotonic_regression


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


__all__ = ["death_frame", "fill_skipped", "majority_vote", "monotone_probability", "subsample_index"]
