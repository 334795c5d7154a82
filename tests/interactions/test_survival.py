"""Kaplan-Meier target survival against hand computation, by group, and the plots."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lftiming_ml.interactions.plots import killing_curves_png, kinetics_distributions_png
from lftiming_ml.interactions.survival import SURVIVAL_COLUMNS, kaplan_meier, survival_by_group


def hand_km(times: list[float], died: list[bool]) -> dict[float, float]:
    """S(t) = prod over death times u <= t of (1 - deaths(u) / at_risk(u))."""
    t, d = np.array(times), np.array(died)
    s, out = 1.0, {}
    for u in np.unique(t):
        at_risk, deaths = (t >= u).sum(), ((t == u) & d).sum()
        s *= 1 - deaths / at_risk
        out[float(u)] = s
    return out


def test_known_small_example_equals_hand_computation() -> None:
    times = [10.0, 20.0, 20.0, 30.0, 40.0, 50.0, 50.0]
    died = [True, True, False, True, False, True, False]
    curve = kaplan_meier(np.array(times), np.array(died))
    expected = hand_km(times, died)
    # 7 at risk at 10 (1 dies), 6 at 20 (1 dies, 1 censored), 4 at 30 (1 dies), 2 at 50 (1 dies).
    assert expected[30.0] == pytest.approx(6 / 7 * 5 / 6 * 3 / 4)
    assert expected[50.0] == pytest.approx(6 / 7 * 5 / 6 * 3 / 4 * 1 / 2)
    assert curve["time_min"].tolist() == [0.0, *expected]
    np.testing.assert_allclose(curve["survival"], [1.0, *expected.values()])
    assert curve["n_at_risk"].tolist() == [7, 7, 6, 4, 3, 2]
    assert curve["n_deaths"].tolist() == [0, 1, 1, 1, 0, 1]
    assert curve["n_censored"].tolist() == [0, 0, 1, 0, 1, 1]
    assert (curve["ci_low"] <= curve["survival"] + 1e-12).all()
    assert (curve["survival"] <= curve["ci_high"] + 1e-12).all()


def test_no_deaths_is_flat_and_empty_is_empty() -> None:
    curve = kaplan_meier(np.array([355.0, 355.0]), np.array([False, False]))
    assert (curve["survival"] == 1).all() and curve["n_censored"].sum() == 2
    assert kaplan_meier(np.zeros(0), np.zeros(0, bool)).empty


def _tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    wells = pd.DataFrame({"chip_id": "c", "field_id": "f0", "row": 0, "col": [0, 1, 2],
                          "et_group": ["1E1T", "1E1T", "1E2T"]})
    targets = pd.DataFrame({"chip_id": "c", "field_id": "f0", "row": 0, "col": [0, 1, 2, 2, 2],
                            "loaded": [True, True, True, True, False],
                            "survival_min": [50.0, 355.0, 100.0, 200.0, 10.0],
                            "death_observed": [True, False, True, False, True]})
    return targets, wells


def test_survival_by_group_uses_loaded_targets_per_group() -> None:
    targets, wells = _tables()
    table = survival_by_group(targets, wells)
    assert list(table.columns) == SURVIVAL_COLUMNS
    assert list(table["et_group"].unique()) == ["1E1T", "1E2T", "all"]
    last = table.groupby("et_group")["survival"].last()
    assert last["1E1T"] == pytest.approx(0.5) and last["1E2T"] == pytest.approx(0.5)
    assert last["all"] == pytest.approx(hand_km([50, 355, 100, 200], [True, False, True, False])[355.0])
    assert table.groupby("et_group")["n_at_risk"].first().to_dict() == {"1E1T": 2, "1E2T": 2, "all": 4}


def test_plots_write_png(tmp_path) -> None:
    targets, wells = _tables()
    png = killing_curves_png(survival_by_group(targets, wells), tmp_path / "r" / "killing.png")
    inter = pd.DataFrame({"t_seek_min": [0.0, 15.0, 40.0], "t_contact_min": [5.0, 30.0, 20.0],
                          "t_death_min": [np.nan, 45.0, np.nan]})
    dist = kinetics_distributions_png(inter, tmp_path / "r" / "dist.png")
    for path in (png, dist):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["dist.png", "killing.png"]  # no temp files left
