"""The fluorescence labeller on synthetic wells whose dyes are known."""

from __future__ import annotations

import numpy as np

from lftiming_ml.classification.config import LabellerParams
from lftiming_ml.classification.labels import EFFECTOR, TARGET, UNLABELLED, apoptosis_onset, excess_z, label_well

T, S = 12, 40


def disk(cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[:S, :S]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r ** 2


def synthetic_well(onset: int = 6):
    """Cell 0: effector dye; cell 1: target dye, Annexin V from ``onset``; cell 2: no dye."""
    rng = np.random.default_rng(0)
    masks = np.zeros((T, 3, S, S), bool)
    masks[:, 0], masks[:, 1], masks[:, 2] = disk(10, 10, 5), disk(28, 28, 7), disk(10, 30, 5)

    def channel(level_by_cell: dict[int, np.ndarray]) -> np.ndarray:
        img = 150 + rng.normal(0, 5, (T, S, S))
        for i, level in level_by_cell.items():
            img += masks[:, i] * level[:, None, None]
        return img

    dead = np.where(np.arange(T) >= onset, 200.0, 0.0)
    return (channel({0: np.full(T, 500.0)}), channel({1: np.full(T, 480.0)}), channel({1: dead}), masks)


def test_labeller_recovers_known_types_and_onset() -> None:
    eff, tgt, annexin, masks = synthetic_well(onset=6)
    labels = label_well(eff, tgt, annexin, masks)
    assert labels.cell_type.tolist() == [EFFECTOR, TARGET, UNLABELLED]
    assert labels.onset == [None, 6, None]


def test_overlapped_frames_are_undecided_not_mislabelled() -> None:
    eff, tgt, annexin, masks = synthetic_well()
    masks[:, 2] = masks[:, 0]  # cell 2 hides cell 0 completely: no exclusive pixels
    z = excess_z(eff, masks)
    assert np.isnan(z[:, 0]).all() and np.isnan(z[:, 2]).all()
    assert label_well(eff, tgt, annexin, masks).cell_type[0] == UNLABELLED


def test_onset_needs_a_run_of_positive_frames() -> None:
    z = np.array([0, 20, 0, 0, 12, 15, np.nan, 30, 40, 50], float)
    assert apoptosis_onset(z, LabellerParams(annexin_z=9, annexin_run=3)) == 4  # NaN neither breaks nor extends
    assert apoptosis_onset(z, LabellerParams(annexin_z=9, annexin_run=1)) == 1
    assert apoptosis_onset(np.zeros(5), LabellerParams()) is None
    # a cell that is never visible (all NaN) gives no onset and no type
    assert apoptosis_onset(np.full(4, np.nan), LabellerParams()) is None


def test_a_single_frame_track_is_labelled_without_crashing() -> None:
    eff, tgt, annexin, masks = synthetic_well()
    labels = label_well(eff[:1], tgt[:1], annexin[:1], masks[:1], LabellerParams(min_anchor_frames=1))
    assert labels.cell_type.tolist() == [EFFECTOR, TARGET, UNLABELLED]
