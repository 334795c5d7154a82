"""Annotation records scored against a simulated chip's truth (e.g. the free labels from
fluorescence, ``annotations.sources.fluorescence_records``).

In every frame a record labels (any mask), its masks are matched to the true amodal masks
of that frame in the same crop (``truth.match.iter_truth_masks_in_crops``, resampled where
the chip's pixel is not the crop's) by ``metrics.segmentation.frame_scores``: per frame the
mIoU over true cells, missed true cells (no labelled mask at IoU >= 0.5) and extra labelled
masks. A labelled track's cell type is right when it is the type of the true cell its masks
overlap most.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from lftiming_ml.annotations.schema import WellAnnotation
from lftiming_ml.metrics.segmentation import frame_scores
from lftiming_ml.store.layout import ChipStore
from lftiming_ml.truth.match import iter_truth_masks_in_crops, truth_cells_in_crops


def record_scores(chip: ChipStore, records: Sequence[WellAnnotation]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(frames, tracks)``: one row per labelled well-frame (well, frame, miou, n_true,
    n_labelled, n_missed, n_extra, the IoU of each labelled mask with its best true mask as
    ``label_ious``) and one per labelled track (well, track_id, cell_type, true_type)."""
    truth = {(w.field_id, w.row, w.col): w for w in iter_truth_masks_in_crops(chip.raw_dir, chip.zarr_path)}
    kinds = truth_cells_in_crops(chip.raw_dir, chip.zarr_path).groupby(
        ["field_id", "row", "col", "cell_id"])["cell_type"].first()
    frames, tracks = [], []
    for r in records:
        well = truth[(r.field_id, r.row, r.col)]
        present = r.masks.any(axis=(2, 3))
        for t in np.flatnonzero(present.any(axis=1)):
            true = well.masks[t][well.masks[t].any(axis=(1, 2))]
            labelled = r.masks[t][present[t]]
            fs = frame_scores(labelled, true)
            best = [max(((m & g).sum() / (m | g).sum() for g in true), default=0.0) for m in labelled]
            frames.append({"well": r.well, "frame": int(t), "miou": fs.miou, "n_true": fs.n_gt,
                           "n_labelled": fs.n_pred, "n_missed": fs.n_missed, "n_extra": fs.n_extra,
                           "label_ious": [float(v) for v in best]})
        for label in r.tracks:
            overlap = (r.masks[:, label.track_id][:, None] & well.masks).sum(axis=(0, 2, 3))
            cell = int(well.cell_ids[int(np.argmax(overlap))]) if overlap.any() else None
            tracks.append({"well": r.well, "track_id": label.track_id, "cell_type": label.cell_type,
                           "true_type": None if cell is None else kinds[(r.field_id, r.row, r.col, cell)]})
    return pd.DataFrame(frames), pd.DataFrame(tracks)


__all__ = ["record_scores"]
