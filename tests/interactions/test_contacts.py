"""Contacts from masks: tolerance in um, events and gap merging, degenerate wells, truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lftiming_ml.interactions import ContactParams, WellMasks, contact_events, contact_frames
from lftiming_ml.interactions.config import SEGMENTED_MASK_TOLERANCE_UM

S, R, PX_UM = 40, 6, 0.65


def disc(cy: int, cx: int, r: int = R) -> np.ndarray:
    """``bool[S, S]`` disc of radius ``r`` px around (cy, cx)."""
    yy, xx = np.mgrid[:S, :S]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def two_disc_well(gaps_px: list[int]) -> tuple[pd.DataFrame, dict]:
    """Effector 0 at (20, 10); target 1 on the same row, ``gaps_px[t]`` empty pixels apart
    at frame t (-k: overlapping by k + 1 columns)."""
    T = len(gaps_px)
    masks = np.zeros((T, 2, S, S), bool)
    rows = []
    for t, gap in enumerate(gaps_px):
        cx_t = 10 + 2 * R + 1 + gap
        masks[t, 0], masks[t, 1] = disc(20, 10), disc(20, cx_t)
        for tid, kind, x in ((0, "effector", 10), (1, "target", cx_t)):
            rows.append(("c", "f0", 0, 0, tid, t, 20.0, float(x), int(masks[t, tid].sum()), kind, True, pd.NA))
    tracks = pd.DataFrame(rows, columns=["chip_id", "field_id", "row", "col", "track_id", "frame", "y", "x", "area",
                                         "cell_type", "alive", "death_frame"])
    return tracks, {("f0", 0, 0): WellMasks(track_ids=np.array([0, 1]), masks=masks)}


@pytest.mark.parametrize("tolerance_um", [0.0, 0.5, 1.0, 2.0])
def test_contact_exactly_within_tolerance(tolerance_um: float) -> None:
    gaps = [-3, -1, 0, 1, 2, 3, 5]
    tracks, masks = two_disc_well(gaps)
    frames = contact_frames(tracks, masks, pixel_size_um=PX_UM, params=ContactParams(tolerance_um=tolerance_um))
    assert list(frames["frame"]) == list(range(len(gaps)))
    expected_gap_um = np.maximum(np.array(gaps, float), 0) * PX_UM
    np.testing.assert_allclose(frames["distance_um"], expected_gap_um, atol=1e-9)
    assert (frames["overlap_px"] > 0).tolist() == [g < 0 for g in gaps]
    assert frames["in_contact"].tolist() == [g <= 0 or g * PX_UM <= tolerance_um for g in gaps]


def test_segmented_masks_count_a_one_pixel_gap_and_not_more() -> None:
    """The pipeline's tolerance (segmenter masks end up to a pixel inside the cell) counts a
    straight 1-px gap (0.65 um) and not a 2-px one; the exact-mask default counts neither."""
    gaps = [0, 1, 2]
    tracks, masks = two_disc_well(gaps)
    seg = contact_frames(tracks, masks, pixel_size_um=PX_UM,
                         params=ContactParams(tolerance_um=SEGMENTED_MASK_TOLERANCE_UM))
    exact = contact_frames(tracks, masks, pixel_size_um=PX_UM, params=ContactParams())
    assert seg["in_contact"].tolist() == [True, True, False]
    assert exact["in_contact"].tolist() == [True, False, False]


def frames_table(contact: list[bool]) -> pd.DataFrame:
    n = len(contact)
    return pd.DataFrame({"chip_id": "c", "field_id": "f0", "row": 0, "col": 0, "frame": np.arange(n),
                         "effector_id": 0, "target_id": 1, "overlap_px": 0, "distance_um": 0.0,
                         "in_contact": contact})


@pytest.mark.parametrize(("max_gap", "expected"), [(0, [(2, 4), (6, 7), (10, 10)]), (1, [(2, 7), (10, 10)]),
                                                   (2, [(2, 10)])])
def test_gap_merging_only_when_allowed(max_gap: int, expected: list[tuple[int, int]]) -> None:
    on = {2, 3, 4, 6, 7, 10}  # a 1-frame gap (5) and a 2-frame gap (8, 9)
    frames = frames_table([f in on for f in range(12)])
    events = contact_events(frames, frame_interval_min=5.0, params=ContactParams(max_gap_frames=max_gap))
    assert list(zip(events["onset_frame"], events["end_frame"])) == expected
    assert (events["duration_min"] == (events["end_frame"] - events["onset_frame"] + 1) * 5.0).all()
    assert events["n_contact_frames"].sum() == len(on)
    assert list(events["event_index"]) == list(range(len(expected)))
    assert not events["open_at_end"].any()


def test_min_event_length_and_open_end() -> None:
    frames = frames_table([f in {1, 5, 6, 7, 9} for f in range(10)])
    events = contact_events(frames, frame_interval_min=5.0, params=ContactParams(max_gap_frames=0, min_event_frames=2))
    assert list(zip(events["onset_frame"], events["end_frame"])) == [(5, 7)]
    events = contact_events(frames, frame_interval_min=5.0, params=ContactParams(max_gap_frames=1))
    assert list(zip(events["onset_frame"], events["end_frame"])) == [(1, 1), (5, 9)]
    assert events["open_at_end"].tolist() == [False, True]


def test_one_cell_and_no_effector_wells_give_empty_tables() -> None:
    tracks, masks = two_disc_well([0, 0])
    one_cell = tracks[tracks["track_id"] == 0]
    no_effector = tracks.assign(cell_type="target")
    for t in (one_cell, no_effector, tracks.iloc[:0]):
        frames = contact_frames(t, masks, pixel_size_um=PX_UM)
        assert frames.empty and "in_contact" in frames.columns
        assert contact_events(frames, frame_interval_min=5.0).empty


def test_empty_mask_is_not_a_contact_and_missing_masks_raise() -> None:
    tracks, masks = two_disc_well([0, 0])
    arr = np.array(masks[("f0", 0, 0)].masks)
    arr[1, 1] = False  # the target has no mask at frame 1 (e.g. an interpolated frame)
    frames = contact_frames(tracks, {("f0", 0, 0): WellMasks(np.array([0, 1]), arr)}, pixel_size_um=PX_UM)
    assert frames["in_contact"].tolist() == [True, False]
    assert np.isinf(frames["distance_um"].iloc[1])
    with pytest.raises(KeyError):
        contact_frames(tracks, {}, pixel_size_um=PX_UM)


@pytest.mark.slow
def test_truth_inputs_reproduce_simulator_contacts(tmp_path) -> None:
    from lftiming_ml.evaluation.interaction_inputs import truth_contact_frames, truth_inputs
    from lftiming_ml.sim.chip import simulate_chip
    from lftiming_ml.sim.config import preset_config

    chip = simulate_chip(tmp_path / "kin-tiny", preset_config("hard", seed=3, n_fields=1, n_frames=4))
    tracks, masks, timing = truth_inputs(chip)
    assert tracks["death_frame"].dtype == "Int64" and timing.chip_id == "kin-tiny"
    assert tracks["x"].between(0, 200).all()  # moved into the well crop
    pred = contact_frames(tracks, masks, pixel_size_um=timing.pixel_size_um)
    truth = truth_contact_frames(chip, tracks)
    assert truth["in_contact"].any()
    keys = ["field_id", "row", "col", "frame", "effector_id", "target_id"]
    merged = pred.merge(truth, on=keys, suffixes=("_p", "_t"), validate="one_to_one")
    assert len(merged) == len(pred) == len(truth)
    assert (merged["in_contact_p"] == merged["in_contact_t"]).all()
    assert (merged["overlap_px_p"] == merged["overlap_px_t"]).all()
