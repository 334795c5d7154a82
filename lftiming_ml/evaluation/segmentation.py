"""Segmentation of a processed chip vs its ground truth (the ``segmentation`` section of
``lftiming evaluate``).

Per cropped pipeline well paired with a true well (``truth.match``) and per frame,
the instances the pipeline wrote (``masks/instances``, ``segmentation.serving``) are scored
against the true amodal masks moved into the same crop with ``metrics.segmentation.
frame_scores``; ``summarize_segmentation`` gives mIoU (matched instances, mean over frames,
95% bootstrap CI over wells), AP50 and missed / extra cells overall, per E:T stratum and for
contact-rich wells. Cells of true wells that the pipeline did not crop at all (a missed or
"empty" well) cannot be scored per frame; they are counted separately.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from lftiming_ml.metrics.segmentation import frame_scores, summarize_segmentation
from lftiming_ml.store.masks import open_well_masks
from lftiming_ml.store.tables import chip_table_path
from lftiming_ml.truth.match import WELL_KEYS, iter_truth_masks_in_crops, truth_well_strata
from lftiming_ml.truth.files import MASKS, has_truth, read_cells

GROUP_KEYS = ("n_wells", "n_frames_with_cells", "miou_mean", "miou_sd", "miou_ci95", "ap50", "n_gt", "n_pred",
              "n_missed", "missed_rate", "n_extra", "extra_rate", "extra_per_frame")
"""What each group of the report holds: mIoU over frames with cells (mean, SD; CI of the
per-well mean over wells), AP50, true / predicted instances, missed (share of true cells)
and extra (share of predictions, and per frame) at IoU 0.5."""


def score_chip_frames(chip_dir: Path | str, store_path: Path | str) -> pd.DataFrame:
    """One row per (paired pipeline well, frame): ``well`` key, ``stratum``, ``contact_rich``,
    ``frame`` and the ``FrameScores`` fields, as ``summarize_segmentation`` expects."""
    strata = truth_well_strata(chip_dir, store_path).set_index(WELL_KEYS)
    rows = []
    for truth in iter_truth_masks_in_crops(chip_dir, store_path):
        instances, scores = open_well_masks(store_path, truth.field_id, truth.row, truth.col)
        if instances.shape[0] != truth.masks.shape[0]:
            raise ValueError(f"{truth.field_id}/r{truth.row}c{truth.col}: masks have {instances.shape[0]} frames, "
                             f"the movie {truth.masks.shape[0]}")
        info = strata.loc[(truth.field_id, truth.row, truth.col)]
        n_cells = len(truth.cell_ids)
        for t in range(truth.masks.shape[0]):
            gt = truth.masks[t][truth.masks[t].reshape(n_cells, -1).any(1)] if n_cells else truth.masks[t]
            filled = np.isfinite(scores[t])
            fs = frame_scores(instances[t][filled], gt, scores[t][filled])
            rows.append({"well": f"{truth.field_id}/r{truth.row}c{truth.col}", "frame": t,
                         "stratum": info["stratum"], "contact_rich": bool(info["contact_rich"]),
                         "miou": fs.miou, "n_gt": fs.n_gt, "n_pred": fs.n_pred, "n_matched": fs.n_matched,
                         "n_missed": fs.n_missed, "n_extra": fs.n_extra, "pred_tp": fs.pred_tp,
                         "pred_scores": fs.pred_scores})
    return pd.DataFrame(rows)


def _group(m: dict[str, float]) -> dict:
    out = {k: m[k] for k in GROUP_KEYS if k in m}
    out["miou_ci95"] = [m["miou_ci_low"], m["miou_ci_high"]]
    out["extra_rate"] = m["n_extra"] / m["n_pred"] if m["n_pred"] else math.nan
    return {k: out[k] for k in GROUP_KEYS}


def uncropped_truth(chip_dir: Path | str, store_path: Path | str) -> dict[str, int]:
    """True wells holding a cell at some frame that no cropped pipeline well pairs with, and the
    true cell-frames in them (cells the pipeline could not segment at all)."""
    chip_dir = Path(chip_dir)
    paired = truth_well_strata(chip_dir, store_path)
    paired_keys = set(zip(paired["gt_field_id"], paired["gt_row"], paired["gt_col"]))
    cells = read_cells(chip_dir)
    keys = list(zip(cells["field_id"], cells["row"].astype(int), cells["col"].astype(int)))
    lost = np.array([k not in paired_keys for k in keys], bool)
    return {"uncropped_true_wells": len({k for k, x in zip(keys, lost) if x}),
            "uncropped_cell_frames": int(lost.sum())}


def evaluate_segmentation(chip_dir: Path, tables_dir: Path, store_path: Path) -> dict | None:
    """The chip's ``cell_masks`` vs truth: ``{'overall': {...}, '<stratum>': {...},
    'contact-rich': {...}, 'coverage': {...}}`` (group keys ``GROUP_KEYS``); None when the chip
    has no ``cell_masks`` output (table or store) or no true masks."""
    chip_dir, store_path = Path(chip_dir), Path(store_path)
    table = chip_table_path(Path(tables_dir), "cell_masks", chip_dir.name)
    if not (table.is_file() and store_path.is_dir() and has_truth(chip_dir, MASKS)):
        return None
    frames = score_chip_frames(chip_dir, store_path)
    if frames.empty:
        raise ValueError(f"{store_path}: no cropped well of the store pairs with a true well of {chip_dir}")
    report = {name: _group(m) for name, m in summarize_segmentation(frames).items()}
    report["coverage"] = {"wells_scored": int(frames["well"].nunique()), "well_frames_scored": int(len(frames)),
                          **uncropped_truth(chip_dir, store_path)}
    return report


__all__ = ["GROUP_KEYS", "evaluate_segmentation", "score_chip_frames", "uncropped_truth"]
