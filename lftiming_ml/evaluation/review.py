"""Which wells of a processed chip hold an error, by truth: what a proofreader would have to
fix, and what the review queue should put first (``benchmarks/review_queue.py``).

Per cropped pipeline well paired with a true well (``truth.match``), each stage's own
metric, computed once where it is defined:

- tracking: ``evaluation.tracking.score_chip_tracks`` (paper Eq. 9 MOTA); an error is any
  miss, false positive or ID switch (MOTA < 1; in a truly empty well, any track);
- segmentation: ``evaluation.segmentation.score_chip_frames`` (frame mIoU of matched amodal
  instances); an error is a well mean over frames with cells below ``miou_min``;
- cell type and death: each track's true cell (``truth.match.match_tracks_to_cells``); an
  error is a matched track whose ``cell_types.cell_type`` differs from the truth, or whose
  death call is wrong by ``metrics.classification.death_call_right`` (+/-4 frames).

A well is ``erroneous`` when any of the four is.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from lftiming_ml.evaluation.segmentation import score_chip_frames
from lftiming_ml.evaluation.tracking import score_chip_tracks
from lftiming_ml.metrics.classification import death_call_right
from lftiming_ml.store.tables import read_chip_table
from lftiming_ml.truth.match import WELL_KEYS, match_tracks_to_cells, truth_cells_in_crops

MIOU_MIN = 0.8
"""A well whose mean frame mIoU is below this is a segmentation error."""
ERROR_COLUMNS = [*WELL_KEYS, "stratum", "contact_rich", "n_gt", "mota", "tracking_errors", "miou", "tracks_matched",
                 "wrong_types", "wrong_deaths", "tracking_error", "segmentation_error", "type_error", "death_error",
                 "erroneous"]


def _well_key(field_id: str, row: int, col: int) -> str:
    return f"{field_id}/r{row}c{col}"  # score_chip_frames' ``well``


def track_label_errors(chip_dir: Path | str, store_path: Path | str, cell_tracks: pd.DataFrame,
                       cell_types: pd.DataFrame, cell_deaths: pd.DataFrame) -> pd.DataFrame:
    """Per pipeline well with tracks: ``tracks_matched`` (tracks with a true cell),
    ``wrong_types`` and ``wrong_deaths`` among them."""
    truth = truth_cells_in_crops(chip_dir, store_path)
    match = match_tracks_to_cells(cell_tracks, truth).dropna(subset=["cell_id"]).astype({"cell_id": "int64"})
    cells = truth.drop_duplicates([*WELL_KEYS, "cell_id"])[[*WELL_KEYS, "cell_id", "cell_type", "death_frame"]]
    keys = [*WELL_KEYS, "track_id"]
    pred_types = cell_types[[*keys, "cell_type"]].rename(columns={"cell_type": "pred_type"})
    pred_deaths = cell_deaths.drop_duplicates(keys)[[*keys, "death_frame"]].rename(
        columns={"death_frame": "pred_death"})
    m = (match.merge(cells, on=[*WELL_KEYS, "cell_id"], how="left")
         .merge(pred_types.astype({"row": "int64", "col": "int64", "track_id": "int64"}), on=keys, how="left")
         .merge(pred_deaths.astype({"row": "int64", "col": "int64", "track_id": "int64"}), on=keys, how="left"))
    m["wrong_type"] = m["pred_type"] != m["cell_type"]
    m["wrong_death"] = [not death_call_right(None if pd.isna(p) else int(p), None if pd.isna(t) else int(t))
                        for p, t in zip(m["pred_death"], m["death_frame"])]
    out = m.groupby(WELL_KEYS).agg(tracks_matched=("track_id", "size"), wrong_types=("wrong_type", "sum"),
                                    wrong_deaths=("wrong_death", "sum")).reset_index()
    return out.astype({"tracks_matched": "int64", "wrong_types": "int64", "wrong_deaths": "int64"})


def well_errors(chip_dir: Path | str, tables_dir: Path | str, store_path: Path | str, *,
                miou_min: float = MIOU_MIN) -> pd.DataFrame:
    """One row per cropped pipeline well paired with a true well (``ERROR_COLUMNS``), from the
    chip's ``cell_tracks``, ``cell_types`` and ``cell_deaths`` tables and its store's masks."""
    chip_dir = Path(chip_dir)
    chip_id = chip_dir.name
    tracks = read_chip_table(tables_dir, "cell_tracks", chip_id)
    wells = score_chip_tracks(chip_dir, store_path, tracks)
    wells["tracking_errors"] = wells["n_misses"] + wells["n_false_positives"] + wells["n_id_switches"]
    frames = score_chip_frames(chip_dir, store_path)
    scored = frames[frames["n_gt"] > 0]
    miou = scored.groupby("well")["miou"].mean()
    wells["miou"] = [float(miou.get(_well_key(f, r, c), math.nan))
                     for f, r, c in wells[WELL_KEYS].itertuples(index=False)]
    labels = track_label_errors(chip_dir, store_path, tracks, read_chip_table(tables_dir, "cell_types", chip_id),
                                read_chip_table(tables_dir, "cell_deaths", chip_id))
    wells = wells.merge(labels, on=WELL_KEYS, how="left")
    for column in ("tracks_matched", "wrong_types", "wrong_deaths"):
        wells[column] = wells[column].fillna(0).astype("int64")
    wells["tracking_error"] = wells["tracking_errors"] > 0
    wells["segmentation_error"] = wells["miou"].to_numpy(float) < miou_min  # NaN (no true cell): not an error
    wells["type_error"] = wells["wrong_types"] > 0
    wells["death_error"] = wells["wrong_deaths"] > 0
    wells["erroneous"] = np.logical_or.reduce([wells[c].to_numpy(bool) for c in
                                               ("tracking_error", "segmentation_error", "type_error", "death_error")])
    return wells[ERROR_COLUMNS]


__all__ = ["ERROR_COLUMNS", "MIOU_MIN", "track_label_errors", "well_errors"]
