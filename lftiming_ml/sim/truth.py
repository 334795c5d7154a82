"""Ground truth of a simulated chip, written to ``<chip>/gt/``.

- ``cells.parquet``: one row per cell per frame: field_id, row, col, cell_id, frame,
  time_min, type (effector|target), alive, death_progress, y, x (amodal-mask centroid,
  field px, drift included), area (px), depth (0 = on the floor), in_contact (its amodal
  mask touches another cell's, within 1 px), n_contacts, conjugated_with (-1 if none),
  parent_id (-1 unless born by mitosis).
- ``contacts.parquet``: one row per touching pair per frame: field_id, row, col, frame,
  cell_a, cell_b (a < b), type_a, type_b, overlap_px (amodal overlap area).
- ``wells.parquet``: one row per well per frame: field_id, row, col, frame, interior box
  y0, x0, y1, x1 (float field px), crop_y0, crop_x0, crop_size (the integer box the masks
  are stored in), n_cells, n_effectors, n_targets (present at that frame), occupied
  (any cell loaded at frame 0), loaded_effectors, loaded_targets.
- ``masks.zarr``: group ``<field_id>/r<row>c<col>`` with ``amodal`` and ``visible``,
  ``bool[T, N, S, S]`` in the well crop (N = cells ever present, in ``attrs['cell_ids']``
  order; all False while a cell is absent). Visible = amodal minus cells lying above.
- ``truth.json``: the simulator config and per-field stage drift (px) and focus (um).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import zarr
from scipy.ndimage import binary_dilation

from lftiming_ml.sim.config import SimConfig
from lftiming_ml.sim.state import CELL_TYPE_NAMES, EFFECTOR, TARGET, WellHistory
from lftiming_ml.truth.files import CELLS, CONTACTS, MASKS, TRUTH_JSON, WELLS

_NEIGHBOURHOOD = np.ones((3, 3), bool)


@dataclass
class WellFrameMasks:
    """Coverage of each present cell of one well at one frame, in the well crop."""

    row: int
    col: int
    frame: int
    interior: tuple[float, float, float, float]
    crop_origin: tuple[int, int]
    crop_size: int
    coverage: dict[int, np.ndarray] = field(default_factory=dict)

    def add(self, cell_id: int, coverage: np.ndarray) -> None:
        self.coverage[cell_id] = coverage


def visible_masks(amodal: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """``amodal (bool[N, H, W])``, ``depth (int[N])`` (higher = on top) -> visible ``bool[N, H, W]``."""
    visible = amodal.copy()
    for i in range(len(depth)):
        above = depth > depth[i]
        if above.any():
            visible[i] &= ~amodal[above].any(axis=0)
    return visible


@dataclass
class FieldTruth:
    """Accumulates one field's truth frame by frame."""

    field_id: str
    n_frames: int
    rows: int
    cols: int
    crop_size: int
    cells: list[dict] = field(default_factory=list)
    contacts: list[dict] = field(default_factory=list)
    wells: list[dict] = field(default_factory=list)
    masks: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)
    depths: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)
    cell_ids: dict[tuple[int, int], list[int]] = field(default_factory=dict)
    crop_origins: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)
    drift_px: np.ndarray | None = None
    focus_um: np.ndarray | None = None

    def add(self, m: WellFrameMasks, hist: WellHistory) -> None:
        key, t, S = (m.row, m.col), m.frame, m.crop_size
        if key not in self.masks:
            self.masks[key] = np.zeros((self.n_frames, hist.n_cells, S, S), bool)
            self.depths[key] = np.zeros((self.n_frames, hist.n_cells), np.int16)
            self.cell_ids[key] = [int(c) for c in hist.cell_id]
            self.crop_origins[key] = np.zeros((self.n_frames, 2), np.int32)
        self.crop_origins[key][t] = m.crop_origin
        present = [int(i) for i in np.flatnonzero(hist.present[t])]
        amodal = {i: m.coverage[int(hist.cell_id[i])] >= 0.5 for i in present}
        for i in present:
            self.masks[key][t, i] = amodal[i]
            self.depths[key][t, i] = hist.depth[t, i]
        touching: dict[int, int] = {i: 0 for i in present}
        for a_idx, a in enumerate(present):
            grown = binary_dilation(amodal[a], _NEIGHBOURHOOD)
            for b in present[a_idx + 1:]:
                if (grown & amodal[b]).any():
                    touching[a] += 1
                    touching[b] += 1
                    self.contacts.append({
                        "field_id": self.field_id, "row": m.row, "col": m.col, "frame": t,
                        "cell_a": int(hist.cell_id[a]), "cell_b": int(hist.cell_id[b]),
                        "type_a": CELL_TYPE_NAMES[int(hist.cell_type[a])],
                        "type_b": CELL_TYPE_NAMES[int(hist.cell_type[b])],
                        "overlap_px": int((amodal[a] & amodal[b]).sum()),
                    })
        for i in present:
            ys, xs = np.nonzero(amodal[i])
            area = len(ys)
            self.cells.append({
                "field_id": self.field_id, "row": m.row, "col": m.col, "cell_id": int(hist.cell_id[i]),
                "frame": t, "type": CELL_TYPE_NAMES[int(hist.cell_type[i])],
                "alive": bool(hist.alive[t, i]), "death_progress": float(hist.death_progress[t, i]),
                "y": float(ys.mean() + m.crop_origin[0]) if area else float("nan"),
                "x": float(xs.mean() + m.crop_origin[1]) if area else float("nan"),
                "area": int(area), "depth": int(hist.depth[t, i]),
                "in_contact": touching[i] > 0, "n_contacts": touching[i],
                "conjugated_with": int(hist.conjugated_with[t, i]), "parent_id": int(hist.parent_id[i]),
            })
        types_now = hist.cell_type[hist.present[t]]
        loaded = hist.cell_type[hist.present[0]]
        y0, x0, y1, x1 = m.interior
        self.wells.append({
            "field_id": self.field_id, "row": m.row, "col": m.col, "frame": t,
            "y0": y0, "x0": x0, "y1": y1, "x1": x1,
            "crop_y0": m.crop_origin[0], "crop_x0": m.crop_origin[1], "crop_size": S,
            "n_cells": int(len(types_now)), "n_effectors": int((types_now == EFFECTOR).sum()),
            "n_targets": int((types_now == TARGET).sum()), "occupied": bool(len(loaded) > 0),
            "loaded_effectors": int((loaded == EFFECTOR).sum()), "loaded_targets": int((loaded == TARGET).sum()),
        })


def write_truth(gt_dir: Path, fields: list[FieldTruth], config: SimConfig) -> None:
    """Write ``cells.parquet``, ``contacts.parquet``, ``wells.parquet``, ``masks.zarr`` and
    ``truth.json`` into ``gt_dir`` (inside the chip's temporary folder)."""
    gt_dir.mkdir(parents=True, exist_ok=True)
    minutes = config.frame_interval_min
    cells = pd.DataFrame([r for f in fields for r in f.cells])
    if len(cells):
        cells.insert(5, "time_min", cells["frame"] * minutes)
    cells.to_parquet(gt_dir / CELLS, index=False)
    contact_cols = ["field_id", "row", "col", "frame", "cell_a", "cell_b", "type_a", "type_b", "overlap_px"]
    pd.DataFrame([r for f in fields for r in f.contacts], columns=contact_cols).to_parquet(
        gt_dir / CONTACTS, index=False)
    pd.DataFrame([r for f in fields for r in f.wells]).to_parquet(gt_dir / WELLS, index=False)

    root = zarr.open_group(str(gt_dir / MASKS), mode="w", zarr_format=3)
    for f in fields:
        fg = root.require_group(f.field_id)
        for (r, c), amodal in sorted(f.masks.items()):
            g = fg.require_group(f"r{r}c{c}")
            g.attrs.update({"cell_ids": f.cell_ids[(r, c)], "crop_origins": f.crop_origins[(r, c)].tolist(),
                            "axes": ["t", "cell", "y", "x"]})
            if amodal.shape[1] == 0:
                continue
            visible = np.stack([visible_masks(amodal[t], f.depths[(r, c)][t]) for t in range(amodal.shape[0])])
            for name, arr in (("amodal", amodal), ("visible", visible)):
                g.create_array(name, data=arr, chunks=arr.shape)
    (gt_dir / TRUTH_JSON).write_text(json.dumps({
        "config": json.loads(config.model_dump_json()),
        "fields": {f.field_id: {"drift_px": np.asarray(f.drift_px).round(4).tolist(),
                                "focus_um": np.asarray(f.focus_um).round(4).tolist()} for f in fields},
    }, indent=1))
