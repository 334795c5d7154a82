"""Confidence intervals and strata."""

import numpy as np
import pytest

from lftiming_ml.metrics.stats import bootstrap_ci, wilson_ci
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


def test_wilson_interval_matches_known_values() -> None:
    p, lo, hi = wilson_ci(8, 10)
    assert p == 0.8
    assert lo == pytest.approx(0.4902, abs=1e-3) and hi == pytest.approx(0.9433, abs=1e-3)
    assert wilson_ci(0, 10)[1] == 0.0 and wilson_ci(10, 10)[2] == 1.0


def test_strata() -> None:
    assert [et_stratum(*c) for c in [(1, 1), (1, 2), (2, 1), (2, 2), (3, 2), (0, 1), (3, 1)]] == \
        ["1E1T", "1E2T", "2E1T", "2E2T", ">4 cells", "other", "other"]
    assert is_contact_rich(18, 72) and not is_contact_rich(17, 72) and not is_contact_rich(0, 0)
