"""Chip-level tracking helpers: detections from stored instance slots, whole-pixel mask
shifts, and track masks at interpolated frames."""

from __future__ import annotations

import numpy as np

from lftiming_ml.tracking import track_well
from lftiming_ml.tracking.chip import detections_from_instances, shift_mask, track_masks, track_problems
from lftiming_ml.tracking.types import DETECTED, INTERPOLATED


def disc(cy: float, cx: float, r: float, size: int = 48) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2


def test_shift_mask_moves_and_clips() -> None:
    m = np.zeros((6, 6), bool)
    m[1, 1] = m[4, 4] = True
    out = shift_mask(m, 1, 2)
    assert out[2, 3] and out.sum() == 1  # (4, 4) left the crop
    assert shift_mask(m, -1, -1)[0, 0] and shift_mask(m, -1, -1)[3, 3]
    assert not shift_mask(m, 10, 0).any()


def test_detections_skip_empty_slots() -> None:
    inst = np.zeros((2, 3, 48, 48), bool)
    inst[0, 0], inst[0, 1] = disc(10, 10, 4), disc(30, 30, 5)
    inst[1, 0] = disc(12, 12, 4)
    dets = detections_from_instances(inst)
    assert [d.n for d in dets] == [2, 1]
    np.testing.assert_allclose(dets[0].centroids, [[10, 10], [30, 30]], atol=1e-9)
    assert dets[1].masks.shape == (1, 48, 48)


def test_interpolated_frame_gets_the_nearest_mask_shifted_to_the_centroid() -> None:
    n = 7
    inst = np.zeros((n, 2, 48, 48), bool)
    for t in range(n):
        inst[t, 0] = disc(10 + 2 * t, 12, 4)   # moving cell
        inst[t, 1] = disc(36, 36, 5)           # resting cell
    inst[3, 0] = False                         # the moving cell is missed at frame 3
    dets = detections_from_instances(inst)
    tracks = track_well(dets, (2.0, 2.0, 46.0, 46.0))
    moving = int(np.argmin(np.abs(tracks.positions[0, :, 0] - 10)))
    assert tracks.source[3, moving] == INTERPOLATED and tracks.source[2, moving] == DETECTED
    masks = track_masks(tracks, dets, (48, 48))
    assert masks.shape == (n, 2, 48, 48)
    filled = masks[3, moving]
    assert filled.sum() == inst[2, 0].sum()
    yy, _ = np.nonzero(filled)
    assert abs(yy.mean() - tracks.positions[3, moving, 0]) <= 0.5
    assert track_problems(tracks, (2.0, 2.0, 46.0, 46.0)) == (0, 0, 0)
    assert track_problems(tracks, (2.0, 2.0, 20.0, 46.0))[0] > 0  # a wall that cuts the resting cell


def test_a_well_without_any_instance_tracks_to_nothing() -> None:
    from lftiming_ml.evaluation.tracker_inputs import detections_from_masks

    empty = np.zeros((4, 0, 48, 48), bool)
    dets = detections_from_instances(empty)
    assert [d.n for d in dets] == [0, 0, 0, 0]
    tracks = track_well(dets, (2.0, 2.0, 46.0, 46.0))
    assert tracks.n_tracks == 0 and track_masks(tracks, dets, (48, 48)).shape == (4, 0, 48, 48)
    _, truth, truth_det = detections_from_masks(empty)
    assert truth.shape == (4, 0, 2) and truth_det.shape == (4, 0)
