"""Confidence intervals used by every metric: percentile bootstrap (of a mean, or of a ratio
of sums over units) and Wilson score."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.stats import binomtest


def bootstrap_ci(values: np.ndarray, statistic: Callable[[np.ndarray], float] = np.mean, *,
                 level: float = 0.95, n_resamples: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Point estimate and percentile-bootstrap CI of ``statistic`` over ``values (float[n])``.

    Resamples the units given (wells, chips, tracks: pass per-unit values, never frames
    of one well, so the interval reflects independent units). Returns (estimate, low, high);
    NaNs when ``values`` is empty.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return (float("nan"),) * 3
    est = float(statistic(v))
    if v.size == 1:
        return est, est, est
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, v.size, (n_resamples, v.size))
    stats = np.array([statistic(v[i]) for i in idx]) if statistic is not np.mean else v[idx].mean(axis=1)
    alpha = (1 - level) / 2
    low, high = np.quantile(stats, [alpha, 1 - alpha])
    return est, float(low), float(high)


def bootstrap_ratio_ci(numerators: np.ndarray, denominators: np.ndarray, *, level: float = 0.95,
                       n_resamples: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """``sum(numerators) / sum(denominators)`` with its percentile-bootstrap CI, resampling
    units (``float[n]`` each, one entry per unit: e.g. a well's false negatives and its true
    contacts for a pooled FN rate, or its MOTA errors and true objects for a pooled MOTA).

    Pooled ratios weight each unit by its denominator, so frames of one well are never
    resampled on their own. Resamples whose denominator sums to 0 are dropped. Returns
    (estimate, low, high); NaNs when there is no unit or the denominators sum to 0.
    """
    num, den = np.asarray(numerators, dtype=np.float64), np.asarray(denominators, dtype=np.float64)
    if num.shape != den.shape or num.ndim != 1:
        raise ValueError(f"numerators {num.shape} and denominators {den.shape} must be 1-D and of one length")
    if num.size == 0 or den.sum() == 0:
        return (float("nan"),) * 3
    est = float(num.sum() / den.sum())
    if num.size == 1:
        return est, est, est
    idx = np.random.default_rng(seed).integers(0, num.size, (n_resamples, num.size))
    n_sum, d_sum = num[idx].sum(axis=1), den[idx].sum(axis=1)
    ratios = n_sum[d_sum > 0] / d_sum[d_sum > 0]
    alpha = (1 - level) / 2
    low, high = np.quantile(ratios, [alpha, 1 - alpha])
    return est, float(low), float(high)


def wilson_ci(successes: int, n: int, *, level: float = 0.95) -> tuple[float, float, float]:
    """Proportion ``successes / n`` with its Wilson score interval (scipy); NaNs when n == 0."""
    if n == 0:
        return (float("nan"),) * 3
    ci = binomtest(int(successes), int(n)).proportion_ci(confidence_level=level, method="wilson")
    return successes / n, float(ci.low), float(ci.high)
