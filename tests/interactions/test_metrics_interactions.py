"""Interaction metrics: contact confusion matrix, kinetics errors, killing frequency vs truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lftiming_ml.metrics.interactions import compare_killing_frequency, score_contacts, score_kinetics


def frames(calls: dict[tuple[int, int, int, int], bool]) -> pd.DataFrame:
    """``contact_frames`` rows from (col, frame, effector, target) -> in_contact."""
    keys = np.array(list(calls), dtype=int).reshape(-1, 4)
    return pd.DataFrame({"chip_id": "c", "field_id": "f0", "row": 0, "col": keys[:, 0], "frame": keys[:, 1],
                         "effector_id": keys[:, 2], "target_id": keys[:, 3], "in_contact": list(calls.values())})


TRUTH = {(0, t, 0, 1): t in {2, 3, 4, 5} for t in range(10)} | {(1, t, 0, 2): t in {0, 1} for t in range(10)}


def test_perfect_prediction() -> None:
    s = score_contacts(frames(TRUTH), frames(TRUTH))
    assert s.accuracy == 1.0 and s.fn_rate == 0.0 and s.fp_rate == 0.0
    assert (s.tn, s.fp, s.fn, s.tp) == (14, 0, 0, 6)


def test_known_confusion_and_missing_pairs() -> None:
    pred = dict(TRUTH)
    pred[(0, 2, 0, 1)] = False  # a missed onset frame
    pred[(0, 8, 0, 1)] = True  # a false contact
    del pred[(1, 0, 0, 2)]  # a pair-frame the prediction lacks entirely: a miss
    s = score_contacts(frames(pred), frames(TRUTH))
    assert (s.tn, s.fp, s.fn, s.tp) == (13, 1, 2, 4) and s.n == 20
    assert s.fn_rate == pytest.approx(2 / 6) and s.accuracy == pytest.approx(17 / 20)
    w = score_contacts(frames(pred), frames(TRUTH), level="well")
    assert (w.tn, w.fp, w.fn, w.tp) == (13, 1, 2, 4)  # one pair per well: the same here
    with pytest.raises(ValueError):
        score_contacts(frames(pred), frames(TRUTH), level="cell")


def interactions(t_seek: list[float], t_contact: list[float], t_death: list[float | None]) -> pd.DataFrame:
    n = len(t_seek)
    return pd.DataFrame({"chip_id": "c", "field_id": "f0", "row": 0, "col": 0, "effector_id": 0,
                         "target_id": np.arange(n), "t_seek_min": t_seek, "t_contact_min": t_contact,
                         "t_death_min": [np.nan if d is None else d for d in t_death],
                         "killed": [d is not None for d in t_death]})


def test_kinetics_errors_in_frames() -> None:
    truth = interactions([0, 10, 20, 30], [5, 5, 40, 15], [None, 45, 60, None])
    perfect = score_kinetics(truth, truth, frame_interval_min=5.0)
    assert perfect["t_seek_mae_frames"] == perfect["t_contact_mae_frames"] == perfect["t_death_mae_frames"] == 0
    assert perfect["killed_agreement"] == 1.0 and perfect["n_matched"] == 4 and perfect["n_killed_both"] == 2
    pred = interactions([5, 15, 20, 30], [5, 10, 50, 15], [None, 55, None, 10])
    s = score_kinetics(pred, truth, frame_interval_min=5.0)
    assert s["t_seek_mae_frames"] == 0.5  # |errors| 1, 1, 0, 0 frames
    assert s["t_contact_mae_frames"] == 0.5  # 0, 1, 2, 0
    assert s["t_death_mae_frames"] == 2.0 and s["n_killed_both"] == 1  # only target 1 killed on both sides
    assert s["killed_agreement"] == 0.5
    s = score_kinetics(pred.iloc[:3], truth.iloc[1:], frame_interval_min=5.0)
    assert s["n_matched"] == 2 and s["n_pred_only"] == 1 and s["n_truth_only"] == 1


def test_killing_frequency_vs_truth_ci() -> None:
    cols = ["et_group", "unit", "n", "n_killed", "frequency", "ci_low", "ci_high"]
    truth = pd.DataFrame([("1E1T", "well", 20, 6, 0.3, 0.145, 0.519), ("all", "well", 20, 6, 0.3, 0.145, 0.519)],
                         columns=cols)
    pred = pd.DataFrame([("1E1T", "well", 20, 12, 0.6, 0.387, 0.781), ("all", "well", 20, 8, 0.4, 0.2, 0.6)],
                        columns=cols)
    cmp = compare_killing_frequency(pred, truth).set_index("et_group")
    assert cmp["within_truth_ci"].to_dict() == {"1E1T": False, "all": True}
    assert compare_killing_frequency(truth, truth)["within_truth_ci"].all()
