"""MOTA (paper Eq. 9): hand-checked cases and a cross-check with motmetrics."""

from __future__ import annotations

import motmetrics as mm
import numpy as np
import pytest

from lftiming_ml.metrics import IdSwitch, mota


def walks(rng: np.random.Generator, n_frames: int, n: int) -> np.ndarray:
    return np.cumsum(rng.normal(0, 4, size=(n_frames, n, 2)), axis=0) + rng.uniform(10, 70, size=(1, n, 2))


def test_perfect_tracks_score_one() -> None:
    gt = walks(np.random.default_rng(0), 72, 3)
    score = mota(gt, gt[:, ::-1], 5.0)  # track ids need not equal cell ids
    assert score.mota == 1.0 and score.n_id_switches == score.n_misses == score.n_false_positives == 0
    assert score.n_gt == 72 * 3


def test_one_id_switch_costs_one_over_sum_gt() -> None:
    gt = walks(np.random.default_rng(1), 72, 2)
    pred = np.full((72, 3, 2), np.nan)
    pred[:, 1] = gt[:, 1]
    pred[:40, 0] = gt[:40, 0]
    pred[40:, 2] = gt[40:, 0]  # cell 0 is continued by a new track id from frame 40
    score = mota(gt, pred, 5.0)
    assert score.n_id_switches == 1 and score.n_misses == 0 and score.n_false_positives == 0
    assert score.mota == pytest.approx(1.0 - 1.0 / (72 * 2), abs=1e-15)


def test_switches_name_the_cell_and_its_partner() -> None:
    gt = walks(np.random.default_rng(2), 72, 3)
    pred = gt.copy()
    pred[30:, [0, 1]] = gt[30:, [1, 0]]  # tracks 0 and 1 exchange cells 0 and 1 at frame 30
    events: list[IdSwitch] = []
    score = mota(gt, pred, 5.0, events)
    assert score.n_id_switches == 2 == len(events)
    assert {(e.frame, e.cell, e.track, e.partner) for e in events} == {(30, 0, 1, 1), (30, 1, 0, 0)}
    pred[30:, 2] = gt[30:, 2] + 100.0  # cell 2 loses its track; a new one (3) picks it up
    pred = np.concatenate([pred, np.full((72, 1, 2), np.nan)], axis=1)
    pred[30:, 3] = gt[30:, 2]
    events.clear()
    mota(gt, pred, 5.0, events)
    assert IdSwitch(30, 2, 3, -1) in events  # the new track followed no cell before


def test_misses_and_false_positives_are_counted() -> None:
    gt = walks(np.random.default_rng(2), 10, 1)
    pred = gt.copy()
    pred[3] = gt[3] + 50.0  # outside the gate: one miss and one false positive
    score = mota(gt, pred, 5.0)
    assert (score.n_misses, score.n_false_positives, score.n_id_switches) == (1, 1, 0)
    assert score.mota == pytest.approx(1 - 2 / 10)


def test_no_ground_truth_is_nan() -> None:
    assert np.isnan(mota(np.full((5, 0, 2), np.nan), np.full((5, 1, 2), 1.0), 5.0).mota)


def motmetrics_scores(gt: np.ndarray, pred: np.ndarray, gate: float) -> dict[str, float]:
    acc = mm.MOTAccumulator(auto_id=True)
    for t in range(gt.shape[0]):
        g = np.nonzero(np.isfinite(gt[t, :, 0]))[0]
        h = np.nonzero(np.isfinite(pred[t, :, 0]))[0]
        acc.update(g, h, mm.distances.norm2squared_matrix(gt[t, g], pred[t, h], max_d2=gate**2))
    names = ["mota", "num_switches", "num_misses", "num_false_positives", "num_objects"]
    row = mm.metrics.create().compute(acc, metrics=names, name="w")
    return {n: float(row[n].iloc[0]) for n in names}


@pytest.mark.parametrize("seed", range(6))
def test_agrees_with_motmetrics(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_frames, n = 40, int(rng.integers(1, 5))
    gt = walks(rng, n_frames, n)
    gt[rng.random((n_frames, n)) < 0.1] = np.nan  # cells absent now and then
    pred = gt + rng.normal(0, 2.0, gt.shape)
    pred[rng.random((n_frames, n)) < 0.15] = np.nan  # misses
    for _ in range(3):  # identity swaps of track tails
        t, a, b = rng.integers(n_frames), rng.integers(n), rng.integers(n)
        pred[t:, [a, b]] = pred[t:, [b, a]]
    extra = rng.uniform(0, 80, size=(n_frames, 1, 2))
    extra[rng.random(n_frames) < 0.7] = np.nan
    pred = np.concatenate([pred, extra], axis=1)  # false positives
    gate = 6.0
    ours = mota(gt, pred, gate)
    ref = motmetrics_scores(gt, pred, gate)
    assert ours.n_gt == ref["num_objects"]
    assert ours.n_id_switches == ref["num_switches"]
    assert ours.n_misses == ref["num_misses"]
    assert ours.n_false_positives == ref["num_false_positives"]
    assert abs(ours.mota - ref["mota"]) <= 1e-9
