"""Ground truth in the pipeline's coordinates, and pipeline tracks matched to true cells.

Evaluation side only (reads ``gt/``; the inference path never imports it). The pipeline's
wells are found by the detector, so its (field_id, row, col) need not be the truth's: each
cropped well of the chip store is paired with the true well whose centre is nearest in
field px (within ``max_well_offset_px``). True centroids and masks are then moved into that
well's crop px with its per-frame origin and scale (``WellMovieInfo``:
field = origin + crop * scale), so scores compare like with like.

Keys of the output are the PIPELINE's (field_id, row, col); the true well is kept as
``gt_field_id, gt_row, gt_col``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage
from scipy.optimize import linear_sum_assignment

from lftiming_ml.truth.strata import well_strata
from lftiming_ml.store.movies import WellMovieInfo, list_well_movies, well_movie_shape
from lftiming_ml.truth.files import open_masks, read_cells, read_wells

WELL_KEYS = ["field_id", "row", "col"]
TRUTH_COLUMNS = [*WELL_KEYS, "gt_field_id", "gt_row", "gt_col", "cell_id", "frame", "y", "x", "cell_type",
                 "alive", "death_frame"]
MATCH_COLUMNS = [*WELL_KEYS, "track_id", "cell_id", "matched_frames", "track_frames"]


def pair_wells(chip_dir: Path | str, wells: list[WellMovieInfo], *, max_well_offset_px: float = 20.0) -> dict:
    """Pipeline well (field_id, row, col) -> true well (field_id, row, col), by the nearest
    well centre at frame 0 in field px; wells without a true well within the offset are left out."""
    truth = read_wells(chip_dir)
    first = truth[truth["frame"] == truth["frame"].min()]
    centres = np.stack([(first["y0"] + first["y1"]) / 2, (first["x0"] + first["x1"]) / 2], axis=1)
    keys = list(zip(first["field_id"], first["row"].astype(int), first["col"].astype(int)))
    out = {}
    for info in wells:
        y0, x0, y1, x1 = info.well_box_px
        oy, ox = info.crop_origins_px[0]
        c = np.array([oy + (y0 + y1) / 2 * info.field_px_per_crop_px, ox + (x0 + x1) / 2 * info.field_px_per_crop_px])
        same_field = np.array([k[0] == info.field_id for k in keys])
        if not same_field.any():
            continue
        d = np.where(same_field, np.hypot(*(centres - c).T), np.inf)
        best = int(np.argmin(d))
        if d[best] <= max_well_offset_px:
            out[(info.field_id, info.row, info.col)] = keys[best]
    return out


def truth_cells_in_crops(chip_dir: Path | str, store_path: Path | str) -> pd.DataFrame:
    """Every true cell-frame of the chip's cropped wells, in pipeline crop px (``TRUTH_COLUMNS``).

    y, x: true amodal centroid in the paired pipeline well's crop (px); cell_type
    'effector' | 'target'; alive; death_frame (Int64, first frame not alive, <NA> if never).
    """
    wells = [i for i in list_well_movies(store_path) if i.cropped]
    pairs = pair_wells(chip_dir, wells)
    cells = read_cells(chip_dir)
    death = cells.loc[~cells["alive"]].groupby(["field_id", "row", "col", "cell_id"])["frame"].min()
    parts = []
    for info in wells:
        gt_key = pairs.get((info.field_id, info.row, info.col))
        if gt_key is None:
            continue
        c = cells[(cells["field_id"] == gt_key[0]) & (cells["row"] == gt_key[1]) & (cells["col"] == gt_key[2])]
        origins = np.asarray(info.crop_origins_px, dtype=float)[c["frame"].to_numpy()]
        s = info.field_px_per_crop_px
        parts.append(pd.DataFrame({
            "field_id": info.field_id, "row": info.row, "col": info.col,
            "gt_field_id": gt_key[0], "gt_row": gt_key[1], "gt_col": gt_key[2],
            "cell_id": c["cell_id"].astype("int64").to_numpy(), "frame": c["frame"].astype("int64").to_numpy(),
            "y": (c["y"].to_numpy() - origins[:, 0]) / s, "x": (c["x"].to_numpy() - origins[:, 1]) / s,
            "cell_type": c["type"].to_numpy(), "alive": c["alive"].astype(bool).to_numpy(),
            "death_frame": [death.get((*gt_key, int(i)), pd.NA) for i in c["cell_id"]],
        }))
    if not parts:
        return pd.DataFrame(columns=TRUTH_COLUMNS)
    out = pd.concat(parts, ignore_index=True)
    out["death_frame"] = out["death_frame"].astype("Int64")
    return out[TRUTH_COLUMNS]


STRATA_COLUMNS = [*WELL_KEYS, "gt_field_id", "gt_row", "gt_col", "loaded_effectors", "loaded_targets", "n_cells",
                  "stratum", "contact_rich"]


def truth_well_strata(chip_dir: Path | str, store_path: Path | str) -> pd.DataFrame:
    """Per cropped pipeline well paired with a true well: its true well, loaded E:T, number of
    true cells ever in it (``n_cells``), ``stratum`` (``metrics.strata.et_stratum``) and
    ``contact_rich`` (cells touch in >= 25% of frames), as in the segmentation samples
    (``STRATA_COLUMNS``, one row per well)."""
    chip_dir = Path(chip_dir)
    pairs = pair_wells(chip_dir, [i for i in list_well_movies(store_path) if i.cropped])
    strata = well_strata(chip_dir)
    cells = read_cells(chip_dir)
    n_cells = cells.groupby(WELL_KEYS)["cell_id"].nunique()
    rows = []
    for key, gt_key in sorted(pairs.items()):
        info = strata.loc[gt_key]
        rows.append({"field_id": key[0], "row": int(key[1]), "col": int(key[2]), "gt_field_id": gt_key[0],
                     "gt_row": int(gt_key[1]), "gt_col": int(gt_key[2]),
                     "loaded_effectors": int(info["loaded_effectors"]), "loaded_targets": int(info["loaded_targets"]),
                     "n_cells": int(n_cells.get(gt_key, 0)), "stratum": str(info["stratum"]),
                     "contact_rich": bool(info["contact_rich"])})
    return pd.DataFrame(rows, columns=STRATA_COLUMNS)


@dataclass(frozen=True)
class TruthWellMasks:
    """True amodal masks of one pipeline well, moved into its crop: ``masks (bool[T, N, S, S])``
    (at the chip's own pixel size a whole-pixel shift of the truth crop, <= 0.5 px error;
    at another, resampled: ``resample_mask``), ``cell_ids (int[N])``."""

    field_id: str
    row: int
    col: int
    cell_ids: np.ndarray
    masks: np.ndarray


def resample_mask(mask: np.ndarray, origin: tuple[float, float], scale: float, size: int) -> np.ndarray:
    """``bool[size, size]``: ``mask (bool[H, W])`` seen through a crop whose pixel (i, j)
    lies at ``origin + (i, j) * scale`` in the mask's px (pixel centres at indices):
    bilinear coverage, after a Gaussian of sd (scale - 1) / 2 when shrinking (the rule the
    well crops' anti-aliasing follows), at least one half."""
    m = mask.astype(np.float32)
    if scale > 1:
        m = ndimage.gaussian_filter(m, (scale - 1) / 2)
    ys = origin[0] + np.arange(size) * scale
    xs = origin[1] + np.arange(size) * scale
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    return ndimage.map_coordinates(m, [yy, xx], order=1, mode="constant", cval=0.0, prefilter=False) >= 0.5


def iter_truth_masks_in_crops(chip_dir: Path | str, store_path: Path | str, *,
                              only: Collection[tuple[str, int, int]] | None = None) -> Iterator[TruthWellMasks]:
    """True masks per cropped pipeline well: shifted by whole pixels where the crop scale is
    1 (the chip's pixel size is the canonical one), resampled (``resample_mask``) where it is
    not (e.g. the other-scope preset's 0.5 um/px); ``only``: just these pipeline wells
    ``(field_id, row, col)``."""
    chip_dir = Path(chip_dir)
    wells = [i for i in list_well_movies(store_path) if i.cropped
             and (only is None or (i.field_id, i.row, i.col) in only)]
    pairs = pair_wells(chip_dir, wells)
    gt_wells = read_wells(chip_dir).set_index([*WELL_KEYS, "frame"]).sort_index()
    root = open_masks(chip_dir)
    for info in wells:
        gt_key = pairs.get((info.field_id, info.row, info.col))
        if gt_key is None:
            continue
        scale = info.field_px_per_crop_px
        group = root[f"{gt_key[0]}/r{gt_key[1]}c{gt_key[2]}"]
        ids = np.asarray(group.attrs["cell_ids"], dtype=np.int64)
        size = int(well_movie_shape(store_path, info)[-1])
        out = np.zeros((info.n_frames, ids.size, size, size), bool)
        if ids.size:
            amodal = np.asarray(group["amodal"][:])
            s = amodal.shape[-1]
            for t in range(info.n_frames):
                rec = gt_wells.loc[(*gt_key, t)]
                if abs(scale - 1.0) > 1e-6:
                    origin = (info.crop_origins_px[t][0] - rec["crop_y0"], info.crop_origins_px[t][1] - rec["crop_x0"])
                    for n in np.flatnonzero(amodal[t].reshape(ids.size, -1).any(1)):
                        out[t, n] = resample_mask(amodal[t, n], origin, scale, size)
                    continue
                dy = int(round(rec["crop_y0"] - info.crop_origins_px[t][0]))
                dx = int(round(rec["crop_x0"] - info.crop_origins_px[t][1]))
                canvas = np.zeros((ids.size, max(size, s), max(size, s)), bool)
                canvas[:, :s, :s] = amodal[t]
                out[t] = ndimage.shift(canvas, (0, dy, dx), order=0, mode="constant", cval=False,
                                       prefilter=False)[:, :size, :size]
        yield TruthWellMasks(info.field_id, info.row, info.col, ids, out)


def match_tracks_per_frame(tracks: pd.DataFrame, truth: pd.DataFrame, *, max_distance_px: float = 6.0) -> pd.DataFrame:
    """Per well and frame, pipeline tracks paired with true cells by the Hungarian algorithm on
    centroid distance; pairs farther than ``max_distance_px`` are not matched.

    tracks: at least ``field_id, row, col, track_id, frame, y, x`` (crop px).
    truth: ``truth_cells_in_crops``'s table.
    Returns one row per matched (track, frame): ``field_id, row, col, frame, track_id, cell_id``.
    """
    rows = []
    truth_by = {k: g for k, g in truth.groupby(WELL_KEYS + ["frame"], sort=False)}
    for key, ft in tracks.groupby(WELL_KEYS + ["frame"], sort=True):
        g = truth_by.get(key)
        if g is None or ft.empty:
            continue
        d = np.hypot(ft["y"].to_numpy()[:, None] - g["y"].to_numpy()[None, :],
                     ft["x"].to_numpy()[:, None] - g["x"].to_numpy()[None, :])
        d = np.where(np.isfinite(d), d, np.inf)
        big = np.where(d <= max_distance_px, d, 1e6)
        for i, j in zip(*linear_sum_assignment(big)):
            if d[i, j] <= max_distance_px:
                rows.append((key[0], int(key[1]), int(key[2]), int(key[3]), int(ft["track_id"].iloc[i]),
                             int(g["cell_id"].iloc[j])))
    return pd.DataFrame(rows, columns=[*WELL_KEYS, "frame", "track_id", "cell_id"]).astype(
        {"row": "int64", "col": "int64", "frame": "int64", "track_id": "int64", "cell_id": "int64"})


def match_tracks_to_cells(tracks: pd.DataFrame, truth: pd.DataFrame, *, max_distance_px: float = 6.0) -> pd.DataFrame:
    """Each pipeline track's true cell: the one ``match_tracks_per_frame`` paired it with most
    often (ties: the lower cell id).

    Returns ``MATCH_COLUMNS``: cell_id (Int64, <NA> when never matched), matched_frames (frames
    paired with that cell), track_frames (frames the track exists).
    """
    return cells_by_vote(tracks, match_tracks_per_frame(tracks, truth, max_distance_px=max_distance_px))


def cells_by_vote(tracks: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """``match_tracks_to_cells`` from per-frame pairs already made (``match_tracks_per_frame``
    of the same ``tracks``): each track's most frequent cell."""
    votes = pairs.groupby([*WELL_KEYS, "track_id", "cell_id"], as_index=False).size()
    votes = votes.sort_values([*WELL_KEYS, "track_id", "size", "cell_id"], ascending=[True] * 4 + [False, True])
    best = votes.drop_duplicates([*WELL_KEYS, "track_id"]).rename(columns={"size": "matched_frames"})
    frames = tracks.groupby([*WELL_KEYS, "track_id"], as_index=False)["frame"].nunique().rename(
        columns={"frame": "track_frames"})
    frames = frames.astype({"row": "int64", "col": "int64", "track_id": "int64"})
    out = frames.merge(best, on=[*WELL_KEYS, "track_id"], how="left")
    out["matched_frames"] = out["matched_frames"].fillna(0).astype("int64")
    out["cell_id"] = out["cell_id"].astype("Int64")
    return out[MATCH_COLUMNS].reset_index(drop=True)


__all__ = ["MATCH_COLUMNS", "STRATA_COLUMNS", "TRUTH_COLUMNS", "TruthWellMasks", "iter_truth_masks_in_crops",
           "cells_by_vote", "match_tracks_per_frame", "match_tracks_to_cells", "pair_wells", "truth_cells_in_crops", "truth_well_strata"]
