"""Wells the tracker must survive: empty, one cell, one frame; the output contract."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic_wells import make_well

from lftiming_ml.tracking import SOURCE_NAMES, TrackerParams, WellFrameDetections, track_well
from lftiming_ml.tracking.types import RECORD_COLUMNS

BOX = (4.0, 4.0, 81.0, 81.0)


def test_empty_well() -> None:
    tracks = track_well([WellFrameDetections.empty() for _ in range(72)], BOX)
    assert tracks.n_tracks == 0 and tracks.n_frames == 72 and tracks.n_expected == 0
    assert tracks.positions.shape == (72, 0, 2)
    assert tracks.to_records() == []


def test_zero_frames() -> None:
    tracks = track_well([], BOX)
    assert tracks.n_tracks == 0 and tracks.n_frames == 0


def test_one_cell_well() -> None:
    well = make_well(1, seed=5, with_masks=True)
    tracks = track_well(well.detections, well.well_box)
    assert tracks.n_tracks == 1 and tracks.n_expected == 1
    assert np.all(tracks.detection_index[:, 0] == 0)
    assert np.all(tracks.source == 1)
    np.testing.assert_allclose(tracks.positions_linked[:, 0], np.array([d.centroids[0] for d in well.detections]))


@pytest.mark.parametrize("n_cells", [0, 1, 3])
def test_one_frame_movie(n_cells: int) -> None:
    well = make_well(max(n_cells, 1), n_frames=1, seed=6)
    dets = well.detections if n_cells else [WellFrameDetections.empty()]
    tracks = track_well(dets, well.well_box)
    assert tracks.n_frames == 1 and tracks.n_tracks == n_cells
    assert np.all(tracks.source == 1)


def test_two_frame_movie_with_masks() -> None:
    well = make_well(2, n_frames=2, seed=7, with_masks=True)
    tracks = track_well(well.detections, well.well_box)
    assert tracks.n_tracks == 2


def test_records_contract() -> None:
    well = make_well(3, miss_rate=0.2, seed=8)
    tracks = track_well(well.detections, well.well_box)
    rows = tracks.to_records()
    assert len(rows) == int((tracks.source != 0).sum())
    assert all(tuple(r) == RECORD_COLUMNS for r in rows)
    assert {r["source"] for r in rows} <= set(SOURCE_NAMES[1:])
    detected = [r for r in rows if r["source"] == "detected"]
    assert all(np.isfinite(r["area"]) for r in detected)
    assert all(np.isnan(r["area"]) for r in rows if r["source"] == "interpolated")
    assert all(isinstance(r["fb_agree"], bool) and isinstance(r["track_id"], int) for r in rows)
    assert set(tracks.step_ms) == {"link", "fill", "refine"}


def test_bad_well_box_is_an_error() -> None:
    with pytest.raises(ValueError, match="well_box"):
        track_well([WellFrameDetections.empty()], (10.0, 10.0, 5.0, 50.0))


def test_params_forbid_unknown_fields() -> None:
    with pytest.raises(ValueError):
        TrackerParams(contact_penalty=100.0)  # the field is contact_swap_penalty
