"""Stand-ins for trained models in tests: pipeline outputs written from the simulator's truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lftiming_ml.segmentation.infer import Instances
from lftiming_ml.segmentation.serving import CELL_COLUMNS, cell_rows, pack_instances
from lftiming_ml.store.masks import write_well_masks
from lftiming_ml.truth.match import iter_truth_masks_in_crops
from lftiming_ml.store.movies import list_well_movies


def write_truth_cell_masks(chip_dir: Path, store: Path, *, model_version: int = 1) -> pd.DataFrame:
    """Write every cropped well's ``masks`` group from the true amodal masks (score 1) and
    return the matching ``cell_masks`` table (with ``model_version``)."""
    infos = {(i.field_id, i.row, i.col): i for i in list_well_movies(store) if i.cropped}
    tables: list[pd.DataFrame] = []
    for well in iter_truth_masks_in_crops(chip_dir, store):
        info = infos[(well.field_id, well.row, well.col)]
        frames = []
        for t in range(well.masks.shape[0]):
            present = well.masks[t][well.masks[t].any(axis=(1, 2))]
            frames.append(Instances(present, np.ones(len(present), np.float32), np.zeros((len(present), 4), np.float32)))
        masks, scores = pack_instances(frames, well.masks.shape[2:])
        write_well_masks(store, info, masks, scores)
        tables.append(cell_rows(info, frames))
    cells = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=list(CELL_COLUMNS)).astype(CELL_COLUMNS)
    cells["model_version"] = model_version
    return cells
