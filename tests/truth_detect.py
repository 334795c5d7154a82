"""A stand-in for the trained well detector in tests: the simulator's true frame-0 boxes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass
class Boxes:
    boxes: np.ndarray  # float[n, 4], (y0, x0, y1, x1) field px
    scores: np.ndarray
    occupied_prob: np.ndarray


def truth_detector(chip: Path, drop: int = 0):
    """Detections = the true wells of each field at frame 0, minus the first ``drop``."""
    wells = pd.read_parquet(chip / "gt" / "wells.parquet")

    def detect(frames: list[np.ndarray]) -> list[Boxes]:
        out = []
        for fid in sorted(wells.field_id.unique()):
            w = wells[(wells.field_id == fid) & (wells.frame == 0)].iloc[drop:]
            out.append(Boxes(w[["y0", "x0", "y1", "x1"]].to_numpy(), np.ones(len(w)), w.occupied.to_numpy(float)))
        return out

    return detect
