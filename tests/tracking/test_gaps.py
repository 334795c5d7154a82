"""Step 2: minimum-velocity filling is the straight line between anchors."""

from __future__ import annotations

import numpy as np
from synthetic_wells import make_well

from lftiming_ml.tracking import TrackerParams, WellFrameDetections, track_well
from lftiming_ml.tracking.gaps import fill_gaps, min_velocity_fill_kkt


def test_two_frame_gap_is_on_the_line_between_anchors() -> None:
    well = make_well(2, speed=(3.0, 6.0), jitter_px=0.0, seed=11)
    dets = list(well.detections)
    cell = 0
    for t in (20, 21):  # the cell is missed at frames 20 and 21
        keep = np.arange(dets[t].n) != well.truth_det[t, cell]
        dets[t] = WellFrameDetections(centroids=dets[t].centroids[keep], areas=dets[t].areas[keep])
    tracks = track_well(dets, well.well_box, TrackerParams(refine=False))
    k = int(np.argmin(np.linalg.norm(tracks.positions_linked[19] - well.truth[19, cell], axis=1)))
    a, b = dets[19].centroids[well.truth_det[19, cell]], dets[22].centroids[well.truth_det[22, cell]]
    for t, s in ((20, 1 / 3), (21, 2 / 3)):
        np.testing.assert_allclose(tracks.positions_linked[t, k], a + s * (b - a), atol=1e-6, rtol=0)
        assert tracks.source[t, k] == 2 and tracks.detection_index[t, k] == -1
        assert np.isnan(tracks.link_cost[t, k]) and np.isnan(tracks.areas[t, k])


def test_closed_form_equals_the_kkt_solution() -> None:
    rng = np.random.default_rng(0)
    for _ in range(5):
        obs = rng.uniform(0, 80, size=(30, 2))
        obs[rng.random(30) < 0.5] = np.nan
        obs[rng.integers(30)] = rng.uniform(0, 80, 2)  # at least one anchor
        closed = fill_gaps(obs[:, None, :], np.ones((30, 1), dtype=bool))[:, 0]
        np.testing.assert_allclose(closed, min_velocity_fill_kkt(obs), atol=1e-8)


def test_fill_respects_the_span() -> None:
    obs = np.full((10, 1, 2), np.nan)
    obs[[3, 6], 0] = [[10.0, 10.0], [16.0, 22.0]]
    span = np.zeros((10, 1), dtype=bool)
    span[2:9] = True
    out = fill_gaps(obs, span)[:, 0]
    assert np.isnan(out[:2]).all() and np.isnan(out[9]).all()
    np.testing.assert_allclose(out[2], [10.0, 10.0])  # held before the first anchor
    np.testing.assert_allclose(out[4], [12.0, 14.0])
    np.testing.assert_allclose(out[8], [16.0, 22.0])  # held after the last


def test_a_cell_hidden_in_a_merged_mask_is_placed_there() -> None:
    from lftiming_ml.tracking.gaps import hidden_in_merged

    t_n = 9
    obs = np.full((t_n, 2, 2), np.nan)
    areas = np.full((t_n, 2), np.nan)
    obs[:, 0] = [20.0, 20.0]  # a resting target
    areas[:, 0] = 150.0
    # an effector that runs along y = 40 and darts onto the target at frame 4, where the two
    # give one detection (the target's track takes it, its area 1.5 times the target's)
    obs[:, 1] = np.stack([np.full(t_n, 40.0), 10.0 + 8.0 * np.arange(t_n)], axis=1)
    areas[:, 1] = 100.0
    obs[4, 1] = np.nan
    areas[4, 1] = np.nan
    obs[4, 0] = [24.0, 30.0]
    areas[4, 0] = 225.0
    span = np.ones((t_n, 2), bool)
    hidden = hidden_in_merged(obs, areas, span, area_ratio=1.2, reach_factor=3.0, min_step_px=3.0)
    np.testing.assert_allclose(hidden[4, 1], [24.0, 30.0])
    assert np.isnan(hidden[np.arange(t_n) != 4]).all() and np.isnan(hidden[4, 0]).all()
    # a mask the size of its own track's cells is no merge: the straight line stays
    areas[4, 0] = 150.0
    assert np.isnan(hidden_in_merged(obs, areas, span, 1.2, 3.0, 3.0)).all()
    # nor is a merged mask beyond the track's reach (steps of 8 px, reach 1.5 steps per frame)
    areas[4, 0] = 225.0
    assert np.isnan(hidden_in_merged(obs, areas, span, 1.2, 1.5, 3.0)).all()
    # without it, the gap is the straight line between the effector's detections
    filled_off = fill_gaps(obs, span)
    np.testing.assert_allclose(filled_off[4, 1], [40.0, 42.0])


def test_track_well_anchors_a_cell_hidden_in_a_merged_mask() -> None:
    t_n = 12
    target = np.array([20.0, 20.0])
    effector = np.stack([np.full(t_n, 36.0), 10.0 + 8.0 * np.arange(t_n)], axis=1)  # runs 8 px per frame
    dets = []
    for t in range(t_n):
        if t == 4:  # the effector darts onto the target: one detection, 1.5x the target's area
            dets.append(WellFrameDetections(np.array([[24.0, 30.0]]), np.array([225.0])))
        else:
            dets.append(WellFrameDetections(np.stack([target + 0.3 * (t % 2), effector[t]]), np.array([150.0, 100.0])))
    box = (4.0, 4.0, 110.0, 110.0)
    on = track_well(dets, box)
    off = track_well(dets, box, TrackerParams(merged_area_ratio=0))
    assert on.n_tracks == off.n_tracks == 2
    eff = int(np.argmin(np.abs(on.positions_linked[0, :, 0] - 36.0)))
    assert on.source[4, eff] == off.source[4, eff] == 2  # interpolated in both
    np.testing.assert_allclose(on.positions_linked[4, eff], [24.0, 30.0])
    np.testing.assert_allclose(off.positions_linked[4, eff], effector[4])  # the straight line
