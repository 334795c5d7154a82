"""Confidence intervals and strata."""

import numpy as np
import pytest

from lftiming_ml.metrics.stats import bootstrap_ci, bootstrap_ratio_ci, wilson_ci
from lftiming_ml.metrics.strata import et_stratum, is_contact_rich


def test_bootstrap_ci_covers_the_mean_and_narrows_with_n() -> None:
    rng = np.random.default_rng(1)
    small = bootstrap_ci(rng.normal(0.9, 0.05, 20))
    large = bootstrap_ci(rng.normal(0.9, 0.05, 2000))
    assert small[1] < small[0] < small[2] and large[1] < 0.9 < large[2]
    assert (large[2] - large[1]) < (small[2] - small[1]) / 5
    assert all(np.isnan(bootstrap_ci(np.array([]))))
    assert bootstrap_ci(np.array([0.5])) == (0.5, 0.5, 0.5)
    med = bootstrap_ci(np.arange(101.0), np.median)
    assert med[0] == 50.0 and med[1] < 50 < med[2]


def test_bootstrap_ratio_ci_pools_sums_and_weights_units_by_denominator() -> None:
    # one big well with 1 FN in 100 true contacts, nine small ones with 1 in 2: pooled 10/118,
    # not the mean of the rates (0.46)
    fn, pos = np.array([1.0] + [1.0] * 9), np.array([100.0] + [2.0] * 9)
    est, lo, hi = bootstrap_ratio_ci(fn, pos)
    assert est == pytest.approx(10 / 118) and lo < est < hi
    assert all(np.isnan(bootstrap_ratio_ci(np.array([]), np.array([]))))
    assert all(np.isnan(bootstrap_ratio_ci(np.zeros(3), np.zeros(3))))
    assert bootstrap_ratio_ci(np.array([1.0]), np.array([4.0])) == (0.25, 0.25, 0.25)
    rng = np.random.default_rng(2)
    den = rng.integers(50, 150, 40).astype(float)
    num = rng.binomial(den.astype(int), 0.1).astype(float)
    wide, narrow = bootstrap_ratio_ci(num[:10], den[:10]), bootstrap_ratio_ci(num, den)
    assert narrow[1] < 0.1 < narrow[2] and (narrow[2] - narrow[1]) < (wide[2] - wide[1])
    with pytest.raises(ValueError):
        bootstrap_ratio_ci(np.ones(3), np.ones(2))


def test_wilson_interval_matches_known_values() -> None:
    p, lo, hi = wilson_ci(8, 10)
    assert p == 0.8
    assert lo == pytest.approx(0.4902, abs=1e-3) and hi == pytest.approx(0.9433, abs=1e-3)
    assert wilson_ci(0, 10)[1] == 0.0 and wilson_ci(10, 10)[2] == 1.0


def test_strata() -> None:
    assert [et_stratum(*c) for c in [(1, 1), (1, 2), (2, 1), (2, 2), (3, 2), (0, 1), (3, 1)]] == \
        ["1E1T", "1E2T", "2E1T", "2E2T", ">4 cells", "other", "other"]
    assert is_contact_rich(18, 72) and not is_contact_rich(17, 72) and not is_contact_rich(0, 0)
