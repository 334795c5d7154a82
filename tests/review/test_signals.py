"""Each review signal on hand-made tables: zero on a clean well, the documented count or value
on a well with that one problem, and the empty (occupied, untracked) well."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lftiming_ml.review import signals as sig
from lftiming_ml.review.config import ReviewParams
from tests.review.tables import CHIP, FIELD, T, Track, well_tables

CLEAN = (0, 0)


def value(series: pd.Series, well: tuple[int, int]) -> float:
    return float(series.loc[(CHIP, FIELD, *well)])


def phase(wells: dict, **kw) -> pd.DataFrame:
    occupied, tables = well_tables(wells, **kw)
    return sig.phase_signals(occupied, tables).set_index(["row", "col"])


def test_a_clean_well_scores_zero_on_every_signal_but_its_size() -> None:
    out = phase({CLEAN: [Track("effector"), Track("target")]})
    row = out.loc[CLEAN]
    assert row["crowding"] == 2
    assert (row.drop(["chip_id", "field_id", "crowding", "low_mask_score", "type_uncertainty"]) == 0).all()
    assert row["low_mask_score"] == pytest.approx(0.01)  # LOCSNET scores 0.99
    assert row["type_uncertainty"] == pytest.approx(0.04)  # p_effector 0.98 and 0.02


def test_the_one_cell_well_and_the_empty_well() -> None:
    out = phase({(0, 0): [Track("target")], (0, 1): []})
    assert out.loc[(0, 0), "crowding"] == 1 and out.loc[(0, 0), "no_tracks"] == 0
    empty = out.loc[(0, 1)]
    assert empty["no_tracks"] == 1
    assert (empty.drop(["chip_id", "field_id", "no_tracks"]) == 0).all()  # no table mentions it: 0, not NaN
    assert sig.normalise("crowding", [0.0, 1.0, 3.5, 6.0, 9.0]).tolist() == [0.0, 0.0, 0.5, 1.0, 1.0]


def test_linking_signals_count_their_events() -> None:
    _, tables = well_tables({
        (0, 1): [Track(fb_disagree={3, 4, 9}), Track(interpolated={5, 6})],
        (0, 2): [Track(), Track(frames=list(range(8, T)), start_reason="appeared"),
                 Track(frames=list(range(12)), end_reason="lost")],
        (0, 3): [Track(), Track(frames=list(range(10, T)), start_reason="mitosis")]},
        n_expected={(0, 2): 1, (0, 3): 1})
    tracks = tables["cell_tracks"]
    assert value(sig.fb_disagreement(tracks), (0, 1)) == 3
    assert value(sig.interpolated_frames(tracks), (0, 1)) == 2
    assert value(sig.fb_disagreement(tracks), (0, 2)) == value(sig.interpolated_frames(tracks), (0, 2)) == 0
    assert value(sig.track_count_mismatch(tracks), (0, 2)) == 2  # 3 tracks, 1 expected
    assert value(sig.unexplained_track_ends(tracks), (0, 2)) == 2  # one appeared, one lost
    assert value(sig.unexplained_track_ends(tracks), (0, 3)) == 0  # a division explains its start
    assert value(sig.track_count_mismatch(tracks), (0, 3)) == 1


def test_mask_signals() -> None:
    flicker = [100] * T
    flicker[7], flicker[8] = 150, 100  # up by 41% and back: two jumps
    _, tables = well_tables({(0, 1): [Track(area=flicker)], (0, 2): [Track(score=0.6)]},
                            extra_instances={(0, 2): 3})
    tracks, masks = tables["cell_tracks"], tables["cell_masks"]
    assert value(sig.area_flicker(tracks), (0, 1)) == 2
    assert value(sig.area_flicker(tracks, ReviewParams(area_jump=0.5)), (0, 1)) == 0
    assert value(sig.unlinked_detections(masks, tracks), (0, 2)) == 3
    assert value(sig.unlinked_detections(masks, tracks), (0, 1)) == 0
    assert value(sig.low_mask_score(masks, tracks), (0, 2)) == pytest.approx(0.4)  # the unlinked ones not counted


def test_area_jumps_count_only_consecutive_frames_of_one_track() -> None:
    _, tables = well_tables({(0, 1): [Track(frames=[0, 1, 5, 6], area=[100, 100, 200, 200]),
                                      Track(area=[300] * T)]})
    assert value(sig.area_flicker(tables["cell_tracks"]), (0, 1)) == 0  # the gap and the other track don't count


def test_classification_signals() -> None:
    p = [0.0] * 5 + [0.3, 0.5, 0.7] + [1.0] * (T - 8)
    _, tables = well_tables({(0, 1): [Track("effector", p_effector=0.5), Track("target")],
                             (0, 2): [Track("target", p_apoptotic=p, death_frame=6)]})
    types = sig.type_uncertainty(tables["cell_types"])
    assert value(types, (0, 1)) == pytest.approx(1.0)
    assert value(types, (0, 2)) == pytest.approx(0.04)
    assert value(sig.death_uncertainty(tables["cell_deaths"]), (0, 2)) == 3
    assert value(sig.death_uncertainty(tables["cell_deaths"]), (0, 1)) == 0
    with pytest.raises(ValueError, match="death_p_low"):
        ReviewParams(death_p_low=0.9, death_p_high=0.1)


def test_outcome_signals() -> None:
    _, tables = well_tables(
        {(0, 1): [Track("effector"), Track("target", death_frame=9)], (0, 2): [Track("effector"), Track("target")]},
        outcomes={(0, 1): {"n_targets_died": 1, "n_targets_killed": 0, "n_effectors_died": 1},
                  (0, 2): {"contact_frames": 10, "n_targets_died": 1, "n_targets_killed": 1}})
    wells = tables["well_outcomes"]
    assert value(sig.death_without_kill(wells), (0, 1)) == 2
    assert value(sig.death_without_kill(wells), (0, 2)) == 0
    assert value(sig.contact_share(wells), (0, 2)) == pytest.approx(10 / T)


def test_every_signal_is_documented_with_a_reason() -> None:
    assert sig.PHASE_SIGNALS + sig.FLUORESCENCE_SIGNALS == list(sig.SIGNALS)
    for s in sig.SIGNALS.values():
        assert s.full > s.zero and s.unit and s.meaning
        assert s.reason.format(value=2.0)
    assert np.isnan(sig.normalise("fb_disagreement", [np.nan])).sum() == 0
