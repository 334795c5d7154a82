"""Well metrics: recall, precision, centre error (canonical px), occupancy accuracy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lftiming_ml.metrics.wells import score_wells


def truth_table(n_fields: int = 2, n: int = 3, frames: int = 4, seed: int = 0) -> pd.DataFrame:
    """gt/wells.parquet-like truth: n x n wells per field, 76.9 px boxes, small drift, some empty."""
    rng = np.random.default_rng(seed)
    rows = []
    for f in range(n_fields):
        drift = np.cumsum(rng.normal(0, 0.3, (frames, 2)), axis=0)
        for r in range(n):
            for c in range(n):
                occupied = bool((r + c + f) % 3)
                for t in range(frames):
                    y0, x0 = 60 + 107.7 * r + drift[t, 0], 55 + 107.7 * c + drift[t, 1]
                    rows.append({"field_id": f"f{f:03d}", "row": r, "col": c, "frame": t, "y0": y0, "x0": x0,
                                 "y1": y0 + 76.9, "x1": x0 + 76.9, "occupied": occupied})
    return pd.DataFrame(rows)


def perfect(truth: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"field_id": truth.field_id, "row": truth.row, "col": truth.col, "frame": truth.frame,
                         "y": (truth.y0 + truth.y1) / 2, "x": (truth.x0 + truth.x1) / 2, "occupied": truth.occupied})


def test_perfect_prediction():
    truth = truth_table()
    s = score_wells(perfect(truth), truth, match_px=20)
    assert (s.recall, s.precision, s.occupancy_accuracy) == (1.0, 1.0, 1.0)
    assert s.mean_centre_error == 0.0 and s.max_centre_error == 0.0
    assert s.n_true == s.n_pred == s.n_matched == 18 and s.n_id_mismatch == 0
    assert s.as_dict()["recall_ci"][1] == 1.0


def test_a_missing_well_lowers_recall_by_one_over_n():
    truth = truth_table()
    pred = perfect(truth)
    pred = pred[~((pred.field_id == "f001") & (pred.row == 1) & (pred.col == 2))]
    s = score_wells(pred, truth, match_px=20)
    assert s.recall == pytest.approx(1 - 1 / 18) and s.precision == 1.0


def test_spurious_well_lowers_precision_only():
    truth = truth_table()
    pred = perfect(truth)
    extra = pred[(pred.field_id == "f000") & (pred.row == 0) & (pred.col == 0)].assign(row=9, y=lambda d: d.y + 500)
    s = score_wells(pd.concat([pred, extra]), truth, match_px=20)
    assert s.recall == 1.0 and s.precision == pytest.approx(18 / 19)


def test_centre_error_in_canonical_px():
    truth = truth_table()
    pred = perfect(truth).assign(y=lambda d: d.y + 0.3, x=lambda d: d.x - 0.4)  # 0.5 field px off
    pred.loc[pred.index[5], "y"] += 3.0  # one bad frame
    s = score_wells(pred, truth, match_px=20, um_per_px=0.325, canonical_um_per_px=0.65)
    assert s.max_centre_error == pytest.approx(np.hypot(3.3, 0.4) / 2)
    assert 0.25 < s.mean_centre_error < 0.3
    far = score_wells(perfect(truth).assign(y=lambda d: d.y + 30), truth, match_px=20)
    assert far.recall == 0.0 and far.n_matched == 0  # beyond the gate nothing matches


def test_occupancy_and_id_mismatch():
    truth = truth_table()
    pred = perfect(truth)
    flip = (pred.field_id == "f000") & (pred.row == 2) & (pred.col == 2)
    pred.loc[flip, "occupied"] = ~pred.loc[flip, "occupied"]
    f1 = pred.field_id == "f001"
    pred.loc[f1, "row"] = 2 - pred.loc[f1, "row"]  # same positions, rows numbered bottom-up
    s = score_wells(pred, truth, match_px=20)
    assert s.recall == 1.0 and s.occupancy_accuracy == pytest.approx(17 / 18)
    assert s.n_id_mismatch == 6  # rows 0 and 2 of f001 swapped ids; row 1 keeps its id


def test_missing_columns_are_refused():
    truth = truth_table(n_fields=1)
    with pytest.raises(ValueError, match="occupied"):
        score_wells(perfect(truth).drop(columns="occupied"), truth, match_px=20)
