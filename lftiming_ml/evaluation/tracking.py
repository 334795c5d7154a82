"""Tracks of a processed chip vs its ground truth (the ``tracking`` section of
``lftiming evaluate``, and the scoring of ``benchmarks/tracking_pipeline.py``).

Per cropped pipeline well paired with a true well (``truth.match``), the
``cell_tracks`` positions are scored against the true cell centroids moved into the same crop
(``truth_cells_in_crops``) with paper Eq. 9 MOTA (``metrics.mota``, gate ``MOTA_GATE_PX``).
Wells are grouped overall, per loaded E:T stratum and contact-rich; per group: mean MOTA with
a 95% bootstrap CI over wells, summed ID switches / misses / false positives, and the yield of
wells tracked without any error (MOTA == 1) with its Wilson CI. Paired wells without any true
cell have no MOTA; their track-frames are counted in ``coverage.false_pos_empty_wells``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from lftiming_ml.metrics import mota
from lftiming_ml.metrics.stats import bootstrap_ci, wilson_ci
from lftiming_ml.metrics.strata import STRATA
from lftiming_ml.store.tables import chip_table_path
from lftiming_ml.truth.match import WELL_KEYS, match_tracks_to_cells, truth_cells_in_crops, truth_well_strata
from lftiming_ml.store.movies import list_well_movies
from lftiming_ml.truth.files import CELLS, has_truth, read_cells

MOTA_GATE_PX = 6.0
"""MOTA matching gate (crop px at 0.65 um/px): about half an effector diameter, as in
``benchmarks/tracking.py``."""

WELL_SCORE_COLUMNS = [*WELL_KEYS, "stratum", "contact_rich", "n_tracks", "mota", "n_gt", "n_misses",
                      "n_false_positives", "n_id_switches", "n_matches"]


def positions_by_id(rows: pd.DataFrame, id_column: str, n_frames: int) -> np.ndarray:
    """``rows`` (``frame``, ``y``, ``x``, ``id_column``) of one well -> ``float[T, N, 2]``,
    (y, x) crop px per object in ascending id order, NaN where the object is absent."""
    ids = np.sort(rows[id_column].unique())
    out = np.full((n_frames, len(ids), 2), np.nan)
    if len(ids):
        slot = np.searchsorted(ids, rows[id_column].to_numpy())
        frame = rows["frame"].to_numpy(dtype=np.int64)
        if frame.min() < 0 or frame.max() >= n_frames:
            raise ValueError(f"frames {frame.min()}..{frame.max()} outside a {n_frames}-frame movie")
        out[frame, slot] = rows[["y", "x"]].to_numpy(dtype=float)
    return out


def score_wells(tracks: pd.DataFrame, truth: pd.DataFrame, strata: pd.DataFrame, n_frames: Mapping[tuple, int], *,
                gate_px: float = MOTA_GATE_PX) -> pd.DataFrame:
    """MOTA of every well of ``strata`` (``truth_well_strata``'s table), one row per well
    (``WELL_SCORE_COLUMNS``).

    tracks: ``field_id, row, col, track_id, frame, y, x`` (crop px), e.g. ``cell_tracks``.
    truth: ``truth_cells_in_crops``'s table. n_frames: frames per (field_id, row, col).
    A well without tracks scores all its true cells as misses.
    """
    tracks_by = dict(iter(tracks.groupby(WELL_KEYS, sort=False)))
    truth_by = dict(iter(truth.groupby(WELL_KEYS, sort=False)))
    empty = pd.DataFrame(columns=["frame", "y", "x", "track_id", "cell_id"])
    rows = []
    for w in strata.itertuples(index=False):
        key = (w.field_id, int(w.row), int(w.col))
        t = n_frames[key]
        wt = tracks_by.get(key, empty)
        pred = positions_by_id(wt, "track_id", t)
        gt = positions_by_id(truth_by.get(key, empty), "cell_id", t)
        s = mota(gt, pred, gate_px)
        rows.append({"field_id": key[0], "row": key[1], "col": key[2], "stratum": w.stratum,
                     "contact_rich": bool(w.contact_rich), "n_tracks": int(wt["track_id"].nunique()),
                     "mota": s.mota, "n_gt": s.n_gt, "n_misses": s.n_misses, "n_false_positives": s.n_false_positives,
                     "n_id_switches": s.n_id_switches, "n_matches": s.n_matches})
    return pd.DataFrame(rows, columns=WELL_SCORE_COLUMNS)


def summarize_group(wells: pd.DataFrame) -> dict:
    """Scores of a group of wells with true cells (``score_wells`` rows, finite MOTA)."""
    est, lo, hi = bootstrap_ci(wells["mota"].to_numpy(dtype=float))
    errors = wells["n_misses"] + wells["n_false_positives"] + wells["n_id_switches"]
    share, s_lo, s_hi = wilson_ci(int((errors == 0).sum()), len(wells))
    n_gt = int(wells["n_gt"].sum())
    return {"wells": int(len(wells)), "mota_mean": est, "mota_ci95": [lo, hi],
            "mota_min": float(wells["mota"].min()) if len(wells) else math.nan,
            "mota_pooled": 1.0 - float(errors.sum()) / n_gt if n_gt else math.nan,
            "id_switches": int(wells["n_id_switches"].sum()), "misses": int(wells["n_misses"].sum()),
            "false_positives": int(wells["n_false_positives"].sum()), "gt_objects": n_gt,
            "perfect_wells_share": share, "perfect_wells_ci95": [s_lo, s_hi]}


def summarize_tracking(wells: pd.DataFrame) -> dict[str, dict]:
    """``{'overall': ..., '<stratum>': ..., 'contact-rich': ...}`` of ``score_wells`` rows
    (wells with true cells only; groups without wells are left out)."""
    scored = wells[wells["n_gt"] > 0]
    groups = [("overall", scored)] + [(s, scored[scored["stratum"] == s]) for s in STRATA]
    groups.append(("contact-rich", scored[scored["contact_rich"].astype(bool)]))
    return {name: summarize_group(g) for name, g in groups if len(g)}


def score_chip_tracks(chip_dir: Path | str, store_path: Path | str, tracks: pd.DataFrame, *,
                      gate_px: float = MOTA_GATE_PX) -> pd.DataFrame:
    """``score_wells`` of a chip's paired wells for ``tracks`` (``cell_tracks``-like table)."""
    n_frames = {(i.field_id, i.row, i.col): i.n_frames for i in list_well_movies(store_path) if i.cropped}
    return score_wells(tracks, truth_cells_in_crops(chip_dir, store_path), truth_well_strata(chip_dir, store_path),
                       n_frames, gate_px=gate_px)


def score_births(chip_dir: Path | str, store_path: Path | str, tracks: pd.DataFrame) -> dict[str, int]:
    """The tracker's mitosis calls vs the truth's daughters (``gt/cells.parquet`` parent_id).

    tracks: a ``cell_tracks``-like table with ``start_reason``. Each track is matched to the
    true cell it follows (``match_tracks_to_cells``). Returns: mitoses (tracks starting with
    'mitosis'), mitoses_true (of those, following a true daughter), true_daughters (daughter
    cells present in the paired wells) and daughters_as_mitosis (true daughters followed by a
    track that starts with 'mitosis'; the mother's own track continues on one daughter, so
    at most half of the daughters can be)."""
    chip_dir = Path(chip_dir)
    truth = truth_cells_in_crops(chip_dir, store_path)
    parents = read_cells(chip_dir, columns=["field_id", "row", "col", "cell_id",
                                                                          "parent_id"])
    parents = parents.drop_duplicates(["field_id", "row", "col", "cell_id"]).rename(
        columns={"field_id": "gt_field_id", "row": "gt_row", "col": "gt_col"})
    cells = truth.drop_duplicates([*WELL_KEYS, "cell_id"])[[*WELL_KEYS, "gt_field_id", "gt_row", "gt_col", "cell_id"]]
    cells = cells.merge(parents, on=["gt_field_id", "gt_row", "gt_col", "cell_id"], how="left")
    daughters = cells[cells["parent_id"].fillna(-1) >= 0]
    match = match_tracks_to_cells(tracks, truth)
    reasons = tracks.drop_duplicates([*WELL_KEYS, "track_id"])[[*WELL_KEYS, "track_id", "start_reason"]]
    match = match.merge(reasons, on=[*WELL_KEYS, "track_id"], how="left")
    mitoses = match[match["start_reason"] == "mitosis"].dropna(subset=["cell_id"]).astype({"cell_id": "int64"})
    hit = mitoses.merge(daughters[[*WELL_KEYS, "cell_id"]], on=[*WELL_KEYS, "cell_id"], how="inner")
    return {"mitoses": int((match["start_reason"] == "mitosis").sum()), "mitoses_true": int(len(hit)),
            "true_daughters": int(len(daughters)),
            "daughters_as_mitosis": int(hit[[*WELL_KEYS, "cell_id"]].drop_duplicates().shape[0])}


def evaluate_tracking(chip_dir: Path, tables_dir: Path, store_path: Path) -> dict | None:
    """The chip's ``cell_tracks`` vs truth: groups of ``summarize_tracking`` plus 'coverage';
    None when the chip has no ``cell_tracks`` table or store."""
    chip_dir, store_path = Path(chip_dir), Path(store_path)
    table = chip_table_path(Path(tables_dir), "cell_tracks", chip_dir.name)
    if not (table.is_file() and store_path.is_dir() and has_truth(chip_dir, CELLS)):
        return None
    tracks = pd.read_parquet(table)
    wells = score_chip_tracks(chip_dir, store_path, tracks)
    if wells.empty:
        raise ValueError(f"{store_path}: no cropped well of the store pairs with a true well of {chip_dir}")
    report = summarize_tracking(wells)
    empty = wells[wells["n_gt"] == 0]
    report["coverage"] = {"wells_paired": int(len(wells)), "wells_with_cells": int((wells["n_gt"] > 0).sum()),
                          "gate_px": MOTA_GATE_PX,
                          "false_pos_empty_wells": int(empty["n_false_positives"].sum())}
    report["births"] = score_births(chip_dir, store_path, tracks)
    return report


__all__ = ["MOTA_GATE_PX", "WELL_SCORE_COLUMNS", "evaluate_tracking", "positions_by_id", "score_births", "score_chip_tracks",
           "score_wells", "summarize_group", "summarize_tracking"]
