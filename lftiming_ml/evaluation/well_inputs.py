"""Chip-store inputs built from truth, so labels and models can be scored on well crops
without registered models (benchmarks, tests): the well movies of a simulated chip laid out
by its true wells (the simulator's frame-0 boxes standing in for the trained well detector),
and the true amodal masks written as a perfect segmenter's instances (``masks/instances``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lftiming_ml.chip.reader import read_manifest
from lftiming_ml.segmentation.infer import Instances
from lftiming_ml.segmentation.serving import CELL_COLUMNS, cell_rows, pack_instances
from lftiming_ml.store.masks import write_well_masks
from lftiming_ml.store.movies import WellMovieInfo, list_well_movies
from lftiming_ml.truth.files import read_wells
from lftiming_ml.truth.match import iter_truth_masks_in_crops
from lftiming_ml.wells.config import WellGridParams
from lftiming_ml.wells.grid import chip_well_grid, chip_well_movies


@dataclass
class TruthBoxes:
    """A detector's output for one field: ``boxes (float[n, 4], (y0, x0, y1, x1) field px)``."""

    boxes: np.ndarray
    scores: np.ndarray
    occupied_prob: np.ndarray


def truth_well_detector(chip_dir: Path | str, drop: int = 0):
    """A ``DetectFn``: each field's true wells at frame 0 (all scored 1; occupied as the
    truth says), minus the first ``drop`` of each field."""
    wells = read_wells(chip_dir)

    def detect(frames: list[np.ndarray], pixel_size_um: float | None = None) -> list[TruthBoxes]:
        out = []
        for fid in sorted(wells["field_id"].unique()):
            w = wells[(wells["field_id"] == fid) & (wells["frame"] == 0)].iloc[drop:]
            out.append(TruthBoxes(w[["y0", "x0", "y1", "x1"]].to_numpy(), np.ones(len(w)),
                                  w["occupied"].to_numpy(float)))
        return out

    return detect


def truth_well_movies(chip_dir: Path | str, store_path: Path | str, *,
                      params: WellGridParams = WellGridParams()) -> list[WellMovieInfo]:
    """Grid (true boxes, estimated drift) and well movies of a simulated chip into ``store_path``."""
    chip_dir = Path(chip_dir)
    manifest = read_manifest(chip_dir)
    grid, _ = chip_well_grid(chip_dir, manifest, truth_well_detector(chip_dir), params=params)
    return chip_well_movies(chip_dir, manifest, grid, Path(store_path), params=params)


def write_truth_instances(chip_dir: Path | str, store_path: Path | str, *, model_version: int = 1) -> pd.DataFrame:
    """Write every cropped well's ``masks`` group from the true amodal masks (score 1) and
    return the matching ``cell_masks`` table (with ``model_version``)."""
    infos = {(i.field_id, i.row, i.col): i for i in list_well_movies(store_path) if i.cropped}
    tables: list[pd.DataFrame] = []
    for well in iter_truth_masks_in_crops(chip_dir, store_path):
        info = infos[(well.field_id, well.row, well.col)]
        frames = []
        for t in range(well.masks.shape[0]):
            present = well.masks[t][well.masks[t].any(axis=(1, 2))]
            frames.append(Instances(present, np.ones(len(present), np.float32),
                                    np.zeros((len(present), 4), np.float32)))
        masks, scores = pack_instances(frames, well.masks.shape[2:])
        write_well_masks(store_path, info, masks, scores)
        tables.append(cell_rows(info, frames))
    cells = pd.concat(tables, ignore_index=True) if tables else \
        pd.DataFrame(columns=list(CELL_COLUMNS)).astype(CELL_COLUMNS)
    cells["model_version"] = model_version
    return cells


__all__ = ["TruthBoxes", "truth_well_detector", "truth_well_movies", "write_truth_instances"]
