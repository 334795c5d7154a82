"""Tracking on ground-truth detections of a tiny simulated chip, and ``inputs`` itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lftiming_ml.metrics import mota
from lftiming_ml.sim.chip import simulate_chip
from lftiming_ml.sim.config import ChipLayout, preset_config
from lftiming_ml.tracking import WellFrameDetections, track_well
from lftiming_ml.evaluation.tracker_inputs import GroundTruthWell, drop_detections, iter_ground_truth_wells

GATE_PX = 6.0


@pytest.fixture(scope="module")
def chip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 wells x 12 frames; seed 3 has 2-effector wells with contacts but no two effectors of
    equal size (seed 5 has a pair at 114 px^2 each, which area cannot tell apart)."""
    cfg = preset_config("standard", seed=3, n_fields=1, n_frames=12).model_copy(
        update={"layout": ChipLayout(wells_per_block=2, field_px=224)})
    out = tmp_path_factory.mktemp("sim") / "x"
    simulate_chip(out, cfg)
    return out


@pytest.fixture(scope="module")
def wells(chip: Path) -> list[GroundTruthWell]:
    return list(iter_ground_truth_wells(chip))


def test_detections_match_the_ground_truth_table(chip: Path, wells: list[GroundTruthWell]) -> None:
    cells = pd.read_parquet(chip / "gt" / "cells.parquet")
    frames = pd.read_parquet(chip / "gt" / "wells.parquet").set_index(["field_id", "row", "col", "frame"])
    assert wells and sum(len(w.cell_ids) for w in wells) > 1
    for w in wells:
        rows = cells[(cells.field_id == w.field_id) & (cells.row == w.row) & (cells.col == w.col)]
        assert [d.n for d in w.detections] == rows.groupby("frame").size().reindex(range(w.n_frames), fill_value=0).tolist()
        for r in rows.itertuples():
            i = int(np.flatnonzero(w.cell_ids == r.cell_id)[0])
            j = w.truth_det[r.frame, i]
            det = w.detections[r.frame]
            origin = frames.loc[(w.field_id, w.row, w.col, r.frame), ["crop_y0", "crop_x0"]].to_numpy(float)
            np.testing.assert_allclose(det.centroids[j] + origin, [r.y, r.x], atol=1e-6)  # crop px -> field px
            np.testing.assert_allclose(w.truth[r.frame, i], det.centroids[j])
            assert det.areas[j] == r.area == det.masks[j].sum()
            assert w.cell_types[i] == r.type
        y0, x0, y1, x1 = w.well_box
        pos = w.truth[np.isfinite(w.truth[..., 0])]
        assert np.all((pos >= [y0, x0]) & (pos <= [y1, x1]))  # cells lie inside the interior


def test_our_tracker_scores_mota_one_on_ground_truth_detections(wells: list[GroundTruthWell]) -> None:
    n_gt = 0
    for w in wells:
        tracks = track_well(w.detections, w.well_box)
        score = mota(w.truth, tracks.positions, GATE_PX)
        n_gt += score.n_gt
        assert score.mota == 1.0 or np.isnan(score.mota), (w.row, w.col, score)
    assert n_gt > 0


def test_drop_detections_removes_about_the_rate(wells: list[GroundTruthWell]) -> None:
    dets = [d for w in wells for d in w.detections]
    kept = drop_detections(dets, 0.3, np.random.default_rng(0))
    n, k = sum(d.n for d in dets), sum(d.n for d in kept)
    assert 0.5 * n < k < 0.9 * n
    assert all(d.masks is not None and d.masks.shape[0] == d.n for d in kept)


def test_phase_crops_line_up_with_the_true_masks(chip: Path, wells: list[GroundTruthWell]) -> None:
    """``with_phase``: the phase channel cut at the truth's crop origins, so a cell's mask sits
    on the cell (phase contrast: cells darker than the medium around them)."""
    assert all(w.phase is None for w in wells)
    with_phase = list(iter_ground_truth_wells(chip, with_phase=True))
    inside, outside = [], []
    for w in with_phase:
        size = w.detections[0].masks.shape[-1] if w.detections[0].n else w.phase.shape[-1]
        assert w.phase.shape == (w.n_frames, size, size) and w.phase.dtype == np.uint16
        for t, d in enumerate(w.detections):
            if d.n:
                cells = np.asarray(d.masks, bool).any(axis=0)
                inside.append(w.phase[t][cells].mean())
                outside.append(np.median(w.phase[t][~cells]))
    assert inside and np.mean(np.array(inside) < np.array(outside)) > 0.9


def test_drop_detections_keeps_embeddings_with_their_detections() -> None:
    d = WellFrameDetections(centroids=np.arange(8.0).reshape(4, 2), areas=np.arange(4.0) + 1,
                            embeddings=np.eye(4))
    kept = drop_detections([d] * 20, 0.5, np.random.default_rng(1))
    for k in kept:
        np.testing.assert_array_equal(k.embeddings, np.eye(4)[(k.centroids[:, 0] / 2).astype(int)])
