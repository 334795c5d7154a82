"""Tracker inputs from a simulated chip's ground truth (the evaluation side).

Reads ``<chip>/gt/`` (see ``lftiming_ml.sim.truth``): the amodal masks
``masks.zarr/<field>/r<row>c<col>/amodal`` (bool[T, N, S, S], well crop px) become one
``WellFrameDetections`` per frame (centroid, area, mask of every present cell, absent cells
dropped, in cell order), and the same centroids indexed by cell are the truth positions
MOTA is scored against. Only benchmarks and tests use this module: the inference path
never reads ``gt/``.

Coordinates are (y, x) px of the well crop: pixel (i, j) has its centre at (i, j), the crop
origin is ``wells.parquet`` ``crop_y0, crop_x0`` of that frame (so field px = crop px +
origin), and the well interior is ``y0 - crop_y0`` .. ``y1 - crop_y0`` (it moves by the
sub-pixel part of the stage drift; ``well_box`` is its union over frames).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lftiming_ml.chip.manifest import ChannelRole
from lftiming_ml.chip.reader import read_manifest, read_stack
from lftiming_ml.tracking.chip import detections_from_instances
from lftiming_ml.tracking.costs import Box
from lftiming_ml.tracking.types import WellFrameDetections
from lftiming_ml.truth.files import open_masks, read_cells, read_wells


@dataclass(frozen=True)
class GroundTruthWell:
    """One simulated well as the tracker sees it, plus its truth.

    field_id, row, col: the well. detections (T entries): present cells in ``cell_ids``
    order. well_box: (y0, x0, y1, x1) crop px, interior union over frames.
    truth (float[T, N, 2]): (y, x) crop px of each cell ever present, NaN where absent.
    truth_det (int[T, N]): index of the cell's detection in its frame, -1 where absent.
    cell_ids (int[N]), cell_types (list[str], "effector"|"target"): per cell.
    loaded_effectors, loaded_targets: counts at frame 0. contact_frames: frames in which
    some cell touches another (``cells.parquet`` in_contact). phase (uint16[T, S, S] or
    None): the phase channel cut at the same crop origins (``with_phase``), what the
    re-identification embedding reads.
    """

    field_id: str
    row: int
    col: int
    detections: list[WellFrameDetections]
    well_box: Box
    truth: np.ndarray
    truth_det: np.ndarray
    cell_ids: np.ndarray
    cell_types: list[str]
    loaded_effectors: int
    loaded_targets: int
    contact_frames: int
    phase: np.ndarray | None = None

    @property
    def n_frames(self) -> int:
        return len(self.detections)


def detections_from_masks(amodal: np.ndarray) -> tuple[list[WellFrameDetections], np.ndarray, np.ndarray]:
    """Per-frame detections from ``amodal (bool[T, N, S, S])`` (all False while absent).

    Returns (detections, truth (float[T, N, 2], (y, x) crop px, mask centroids, NaN where
    absent), truth_det (int[T, N], detection index, -1 where absent)).
    """
    m = np.asarray(amodal, dtype=bool)
    n_frames, n_cells = m.shape[:2]
    detections = detections_from_instances(m)
    truth = np.full((n_frames, n_cells, 2), np.nan)
    truth_det = np.full((n_frames, n_cells), -1, dtype=int)
    for t, d in enumerate(detections):
        present = np.flatnonzero(m[t].any(axis=(1, 2)))
        truth[t, present] = d.centroids
        truth_det[t, present] = np.arange(present.size)
    return detections, truth, truth_det


def _well_box(frames: pd.DataFrame) -> Box:
    y0 = (frames["y0"] - frames["crop_y0"]).min()
    x0 = (frames["x0"] - frames["crop_x0"]).min()
    y1 = (frames["y1"] - frames["crop_y0"]).max()
    x1 = (frames["x1"] - frames["crop_x0"]).max()
    return float(y0), float(x0), float(y1), float(x1)


def iter_ground_truth_wells(chip_dir: Path | str, *, occupied_only: bool = True,
                            with_phase: bool = False) -> Iterator[GroundTruthWell]:
    """Every well of a simulated chip (those loaded with a cell when ``occupied_only``),
    in (field_id, row, col) order; with its phase crops when ``with_phase``."""
    manifest = read_manifest(chip_dir) if with_phase else None
    stacks: dict[str, np.ndarray] = {}
    wells = read_wells(chip_dir)
    cells = read_cells(chip_dir)
    contact = cells[cells["in_contact"]].groupby(["field_id", "row", "col"])["frame"].nunique()
    types = cells.drop_duplicates(["field_id", "row", "col", "cell_id"]).set_index(["field_id", "row", "col", "cell_id"])["type"]
    root = open_masks(chip_dir)
    for (fid, row, col), frames in wells.sort_values("frame").groupby(["field_id", "row", "col"], sort=True):
        first = frames.iloc[0]
        if occupied_only and not bool(first["occupied"]):
            continue
        group = root[f"{fid}/r{row}c{col}"]
        cell_ids = np.asarray(group.attrs["cell_ids"], dtype=int)
        if cell_ids.size:
            amodal = np.asarray(group["amodal"][:])
        else:
            amodal = np.zeros((len(frames), 0, int(first["crop_size"]), int(first["crop_size"])), dtype=bool)
        detections, truth, truth_det = detections_from_masks(amodal)
        phase = None
        if manifest is not None:
            if str(fid) not in stacks:
                stacks.clear()  # one field's stack in memory at a time (wells come field by field)
                stacks[str(fid)] = read_stack(chip_dir, manifest, str(fid), ChannelRole.phase)
            size = amodal.shape[-1]
            phase = np.stack([stacks[str(fid)][t, y:y + size, x:x + size] for t, y, x in
                              zip(frames["frame"], frames["crop_y0"], frames["crop_x0"])])
        yield GroundTruthWell(
            field_id=str(fid), row=int(row), col=int(col), detections=detections, well_box=_well_box(frames),
            truth=truth, truth_det=truth_det, cell_ids=cell_ids,
            cell_types=[str(types[(fid, row, col, int(c))]) for c in cell_ids],
            loaded_effectors=int(first["loaded_effectors"]), loaded_targets=int(first["loaded_targets"]),
            contact_frames=int(contact.get((fid, row, col), 0)), phase=phase,
        )


def drop_detections(
    detections: list[WellFrameDetections], rate: float, rng: np.random.Generator
) -> list[WellFrameDetections]:
    """A copy of ``detections`` with each detection dropped independently with ``rate``
    (missed-detection robustness); order of the kept ones is preserved."""
    out = []
    for d in detections:
        keep = rng.random(d.n) >= rate
        out.append(WellFrameDetections(
            centroids=d.centroids[keep], areas=d.areas[keep],
            masks=None if d.masks is None else np.asarray(d.masks)[keep],
            cell_types=None if d.cell_types is None else np.asarray(d.cell_types)[keep],
            embeddings=None if d.embeddings is None else np.asarray(d.embeddings)[keep],
        ))
    return out
