"""The outcome-table checks flag exactly the rows that break their rule; stamping versions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lftiming_ml.interactions import checks
from lftiming_ml.interactions.outcomes import VERSION_COLUMNS, stamp, unstamp

WELL = {"chip_id": "c", "field_id": "f000", "row": 0, "col": 1}


def interactions(**columns) -> pd.DataFrame:
    base = {"effector_id": [0, 0, 1], "target_id": [2, 3, 2], "t_seek_min": [5.0, 10.0, 0.0],
            "t_contact_min": [15.0, 5.0, 5.0], "t_contact_total_min": [20.0, 5.0, 5.0],
            "killed": [True, False, False], "t_death_min": [30.0, np.nan, np.nan]}
    return pd.DataFrame({**WELL, **base, **columns})


def test_clean_tables_pass() -> None:
    df = interactions()
    assert checks.duplicate_rows(df, ["chip_id", "field_id", "row", "col", "effector_id", "target_id"]).passed
    assert checks.negative_kinetics(df).passed
    assert checks.t_death_not_killed(df, "target_id").passed


def test_each_rule_flags_its_rows() -> None:
    dup = checks.duplicate_rows(interactions(target_id=[2, 2, 2], effector_id=[0, 0, 1]),
                                ["field_id", "row", "col", "effector_id", "target_id"])
    assert dup.n == 2 and dup.examples[0]["target_id"] == 2
    neg = checks.negative_kinetics(interactions(t_death_min=[-5.0, np.nan, np.nan], t_contact_min=[15.0, np.nan, 5.0]))
    assert neg.n == 2 and not neg.passed
    death = checks.t_death_not_killed(interactions(killed=[False, False, True]), "target_id")
    assert death.n == 2 and {e["target_id"] for e in death.examples} == {2}


def test_event_durations() -> None:
    events = pd.DataFrame({**WELL, "effector_id": [0, 0], "target_id": [1, 1], "event_index": [0, 1],
                           "onset_frame": [3, 9], "end_frame": [5, 8], "n_contact_frames": [3, 1],
                           "duration_frames": [3, 0], "onset_min": [15.0, 45.0], "duration_min": [15.0, 0.0]})
    found = checks.negative_event_durations(events)
    assert found.n == 1 and found.examples[0]["event_index"] == 1


def test_stamp_puts_chip_first_and_versions_last() -> None:
    versions = {"segmenter_version": 4, "reid_version": 3, "celltype_version": 1, "apoptosis_version": 2}
    out = stamp(interactions().drop(columns="chip_id"), "chip-x", versions)
    assert VERSION_COLUMNS == ["segmenter_version", "reid_version", "celltype_version", "apoptosis_version"]
    assert list(out.columns[:2]) == ["chip_id", "field_id"] and list(out.columns[-4:]) == VERSION_COLUMNS
    assert (out["chip_id"] == "chip-x").all() and (out["segmenter_version"] == 4).all()
    assert (out["reid_version"] == 3).all() and out["reid_version"].dtype == "int64"
    assert list(unstamp(out).columns) == list(out.columns[:-4])
    with pytest.raises(ValueError, match="apoptosis_version"):
        stamp(interactions(), "chip-x", {"segmenter_version": 1, "reid_version": 1, "celltype_version": 1})
    with pytest.raises(ValueError, match=r"missing: \['reid_version'\]"):
        stamp(interactions(), "chip-x", {"segmenter_version": 1, "celltype_version": 1, "apoptosis_version": 1})
