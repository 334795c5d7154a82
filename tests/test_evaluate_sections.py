"""``lftiming evaluate``'s segmentation and tracking sections on a small simulated chip whose
"pipeline" outputs are the truth (must score perfectly) and then perturbed (must score lower,
by exactly the damage done)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lftiming_ml.evaluation.chip import SECTIONS, evaluate_chip, format_report
from lftiming_ml.evaluation.segmentation import evaluate_segmentation
from lftiming_ml.store.masks import open_well_masks, write_well_masks
from lftiming_ml.store.tables import chip_table_path, write_chip_table
from lftiming_ml.evaluation.tracking import MOTA_GATE_PX, evaluate_tracking, score_births
from lftiming_ml.truth.match import truth_cells_in_crops
from lftiming_ml.store.movies import list_well_movies
from tests.interactions.pipeline_chip import PipelineChip, build_pipeline_chip
from tests.truth_pipeline import write_truth_cell_masks

N_FRAMES = 8


@pytest.fixture(scope="module")
def chip(tmp_path_factory: pytest.TempPathFactory) -> PipelineChip:
    """Simulated chip with well movies, true masks as ``cell_masks`` and true tracks as ``cell_tracks``."""
    built = build_pipeline_chip(tmp_path_factory.mktemp("evaluate"), "ev-s23", seed=23, n_frames=N_FRAMES)
    write_chip_table(built.tables_dir, "cell_masks", built.chip_id, write_truth_cell_masks(built.chip_dir, built.store_path))
    return built


def _sections(chip: PipelineChip) -> tuple[Path, Path, Path]:
    return chip.chip_dir, chip.tables_dir, chip.store_path


def test_sections_registered_with_one_signature(chip: PipelineChip) -> None:
    assert {"wells", "segmentation", "tracking"} <= set(SECTIONS)
    report = evaluate_chip(chip.store)
    assert report["wells"] == "skipped: no output yet for this chip"  # no well_grid table was written
    assert report["segmentation"]["overall"]["miou_mean"] == pytest.approx(1.0)
    assert report["tracking"]["overall"]["mota_mean"] == 1.0
    text = format_report(report)
    assert "segmentation:" in text and "  overall:" in text and "    miou_ci95" in text


def test_perfect_masks_score_one_and_missing_output_is_none(chip: PipelineChip, tmp_path: Path) -> None:
    seg = evaluate_segmentation(*_sections(chip))
    overall = seg["overall"]
    assert overall["miou_mean"] == pytest.approx(1.0) and overall["miou_ci95"] == pytest.approx([1.0, 1.0])
    assert overall["n_missed"] == overall["n_extra"] == 0 and overall["ap50"] == pytest.approx(1.0)
    cells = pd.read_parquet(chip.chip_dir / "gt" / "cells.parquet")
    assert overall["n_gt"] == len(cells)  # every true cell-frame is in a cropped, paired well
    assert seg["coverage"]["uncropped_cell_frames"] == 0
    strata = [k for k in seg if k not in ("overall", "coverage")]
    assert strata and sum(seg[k]["n_wells"] for k in strata if k != "contact-rich") == overall["n_wells"]
    assert evaluate_segmentation(chip.chip_dir, tmp_path / "no-tables", chip.store_path) is None


def test_perfect_tracks_score_one(chip: PipelineChip) -> None:
    trk = evaluate_tracking(*_sections(chip))
    overall = trk["overall"]
    assert overall["mota_mean"] == 1.0 and overall["mota_min"] == 1.0 and overall["perfect_wells_share"] == 1.0
    assert overall["id_switches"] == overall["misses"] == overall["false_positives"] == 0
    assert overall["gt_objects"] == len(truth_cells_in_crops(chip.chip_dir, chip.store_path))
    assert trk["coverage"]["gate_px"] == MOTA_GATE_PX


def test_damaged_masks_count_missed_and_extra(chip: PipelineChip, tmp_path: Path) -> None:
    store = tmp_path / "store.zarr"
    shutil.copytree(chip.store_path, store)
    infos = [i for i in list_well_movies(store) if i.cropped]
    dropped = extra = 0
    for info in infos:
        masks, scores = open_well_masks(store, info.field_id, info.row, info.col)
        if np.isfinite(scores[0]).any():  # drop the first instance of frame 0
            masks[0, 0], scores[0, 0] = False, np.nan
            dropped += 1
        if extra == 0:  # a spurious blob in a new slot at frame 1
            masks = np.concatenate([masks, np.zeros_like(masks[:, :1])], axis=1)
            scores = np.concatenate([scores, np.full_like(scores[:, :1], np.nan)], axis=1)
            masks[1, -1, :6, :6], scores[1, -1] = True, 0.5
            extra = 1
        write_well_masks(store, info, masks, scores)
    assert dropped > 0 and extra == 1
    overall = evaluate_segmentation(chip.chip_dir, chip.tables_dir, store)["overall"]
    assert overall["n_missed"] == dropped and overall["n_extra"] == extra
    assert overall["missed_rate"] == pytest.approx(dropped / overall["n_gt"])
    assert overall["miou_mean"] < 1.0 and overall["ap50"] < 1.0


def test_swapped_and_cut_tracks_score_lower(chip: PipelineChip) -> None:
    table = chip_table_path(chip.tables_dir, "cell_tracks", chip.chip_id)
    perfect = pd.read_parquet(table)
    truth = truth_cells_in_crops(chip.chip_dir, chip.store_path)
    mid = N_FRAMES // 2
    # a well with two cells farther apart than twice the gate at every frame from mid on
    chosen = None
    for key, g in perfect.groupby(["field_id", "row", "col"]):
        late = g[g["frame"] >= mid]
        if late["track_id"].nunique() != 2 or late.groupby("frame").size().min() != 2:
            continue
        a, b = (p.sort_values("frame")[["y", "x"]].to_numpy() for _, p in late.groupby("track_id"))
        if len(a) == len(b) and np.hypot(*(a - b).T).min() > 2 * MOTA_GATE_PX:
            chosen = key
            break
    assert chosen is not None, "the test chip needs a two-cell well"
    damaged = perfect.copy()
    in_well = (damaged[["field_id", "row", "col"]].apply(tuple, axis=1) == chosen).to_numpy()
    late = in_well & (damaged["frame"] >= mid).to_numpy()
    ids = sorted(damaged.loc[late, "track_id"].unique())
    damaged.loc[late, "track_id"] = damaged.loc[late, "track_id"].map({ids[0]: ids[1], ids[1]: ids[0]})
    # and cut another well's track short: its missing frames are misses
    other = damaged[~in_well & (damaged["frame"] > mid)].iloc[0]
    cut = ((damaged[["field_id", "row", "col"]].apply(tuple, axis=1) == (other.field_id, other.row, other.col))
           & (damaged["track_id"] == other.track_id) & (damaged["frame"] > mid)).to_numpy()
    write_chip_table(chip.tables_dir, "cell_tracks", chip.chip_id, damaged[~cut])
    try:
        overall = evaluate_tracking(*_sections(chip))["overall"]
    finally:
        write_chip_table(chip.tables_dir, "cell_tracks", chip.chip_id, perfect)
    assert overall["id_switches"] == 2 and overall["misses"] == int(cut.sum()) and overall["false_positives"] == 0
    assert overall["mota_pooled"] == pytest.approx(1 - (2 + cut.sum()) / len(truth))
    assert overall["mota_mean"] < 1.0 and overall["perfect_wells_share"] < 1.0


def test_true_cells_of_a_well_the_pipeline_did_not_crop_are_counted(chip: PipelineChip, tmp_path: Path) -> None:
    store = tmp_path / "store.zarr"
    shutil.copytree(chip.store_path, store)
    truth = truth_cells_in_crops(chip.chip_dir, chip.store_path)
    lost = truth.groupby(["field_id", "row", "col"]).size().idxmax()  # the most crowded well goes missing
    shutil.rmtree(store / "wells" / lost[0] / f"r{lost[1]}c{lost[2]}")
    seg = evaluate_segmentation(chip.chip_dir, chip.tables_dir, store)
    assert seg["coverage"]["uncropped_true_wells"] == 1
    assert seg["coverage"]["uncropped_cell_frames"] == int(truth.groupby(["field_id", "row", "col"]).size()[lost])
    assert seg["overall"]["n_gt"] == len(truth) - seg["coverage"]["uncropped_cell_frames"]


def test_births_count_mitosis_calls_against_true_daughters(chip: PipelineChip) -> None:
    tracks = pd.read_parquet(chip_table_path(chip.tables_dir, "cell_tracks", chip.chip_id))
    truth = truth_cells_in_crops(chip.chip_dir, chip.store_path)
    parents = pd.read_parquet(chip.chip_dir / "gt" / "cells.parquet").drop_duplicates(
        ["field_id", "row", "col", "cell_id"]).set_index(["field_id", "row", "col", "cell_id"])["parent_id"]
    cells = truth.drop_duplicates(["field_id", "row", "col", "cell_id"])
    n_daughters = sum(int(parents[(r.gt_field_id, r.gt_row, r.gt_col, r.cell_id)]) >= 0 for r in cells.itertuples())
    base = score_births(chip.chip_dir, chip.store_path, tracks)
    assert base == {"mitoses": 0, "mitoses_true": 0, "true_daughters": n_daughters, "daughters_as_mitosis": 0}
    # call one track's start a mitosis: it counts, and counts as true only if its cell is a daughter
    link = chip.track_cells.iloc[0]
    key = (tracks["field_id"] == link.field_id) & (tracks["row"] == link.row) & (tracks["col"] == link.col)
    tracks.loc[key & (tracks["track_id"] == link.track_id), "start_reason"] = "mitosis"
    gt_row = cells[(cells["field_id"] == link.field_id) & (cells["row"] == link.row) & (cells["col"] == link.col)
                   & (cells["cell_id"] == link.cell_id)].iloc[0]
    is_daughter = int(parents[(gt_row.gt_field_id, gt_row.gt_row, gt_row.gt_col, link.cell_id)]) >= 0
    called = score_births(chip.chip_dir, chip.store_path, tracks)
    assert called["mitoses"] == 1 and called["mitoses_true"] == int(is_daughter)
    assert evaluate_tracking(*_sections(chip))["births"] == base
