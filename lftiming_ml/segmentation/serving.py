"""The registered segmenters (LOCSNET and its Mask R-CNN baseline) at inference:
load-by-alias, ``build_segment_fn`` (a registered version made ready, in any process) and
``chip_cell_masks`` (every cropped well movie of a chip -> amodal instance masks in its
Zarr store + a per-cell table, one work unit per field, ``lftiming_ml.workers``). The
masks' layout is ``lftiming_ml.store.masks``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torchvision.models.detection import MaskRCNN

from lftiming_ml.models.registry import ModelVersionInfo, load_by_alias
from lftiming_ml.models.sources import ModelSource, as_source
from lftiming_ml.models.training import pick_device
from lftiming_ml.segmentation.config import MODEL_NAMES, SegmenterProfile
from lftiming_ml.segmentation.infer import Instances, segment_crops
from lftiming_ml.segmentation.postprocess import instance_properties
from lftiming_ml.segmentation.model import segmenter_from_registry
from lftiming_ml.store.masks import write_well_masks
from lftiming_ml.store.movies import WellMovieInfo, list_well_movies, open_well_phase
from lftiming_ml.store.units import unit_rows
from lftiming_ml.workers import WorkerPool, run_field_units

SegmentFn = Callable[[np.ndarray], list[Instances]]
"""``crops (uint16[B, H, W])`` phase crops -> one ``Instances`` per crop (crop px)."""

CELL_COLUMNS: dict[str, str] = {
    "chip_id": "object", "field_id": "object", "row": "int32", "col": "int32", "frame": "int32",
    "instance": "int32", "y": "float32", "x": "float32", "area": "int32", "bbox_y0": "int32",
    "bbox_x0": "int32", "bbox_y1": "int32", "bbox_x1": "int32", "eccentricity": "float32", "score": "float32",
}
"""Columns of the per-cell table: (y, x) centroid and the bbox (end exclusive) in crop px."""


# --- inference ------------------------------------------------------------------------------

def segment_fn(model: MaskRCNN, profile: SegmenterProfile, *, device: str | torch.device | None = "auto",
               batch_size: int = 32) -> SegmentFn:
    """Wrap a built model (moved once to ``device``, its conv weights channels-last, which
    the CPU convolutions run faster with) as a ``SegmentFn``."""
    dev = pick_device(device)
    model.to(dev, memory_format=torch.channels_last).eval()

    def segment(crops: np.ndarray) -> list[Instances]:
        return segment_crops(model, crops, profile=profile, device=dev, batch_size=batch_size)

    return segment


def load_segmenter(*, tracking_uri: str, model_name: str, alias: str = "champion"
                   ) -> tuple[SegmentFn, ModelVersionInfo]:
    """The segmenter ``alias`` points at, built once, as a ``SegmentFn``."""
    state_dict, config, info = load_by_alias(tracking_uri=tracking_uri, model_name=model_name, alias=alias)
    return build_segment_fn(state_dict, config), info


def build_segment_fn(state_dict: Mapping[str, torch.Tensor], config: Mapping[str, object]) -> SegmentFn:
    """A registered segmenter's weights and config -> its ``SegmentFn`` (the ``build`` of a
    ``models.sources.RegisteredModel``)."""
    model, profile = segmenter_from_registry(state_dict, config)
    return segment_fn(model, profile)


@dataclass(frozen=True)
class WellMasks:
    """What ``chip_cell_masks`` wrote for one well: its ``masks`` group ``path``, ``n_frames``,
    ``max_instances`` (K) and ``empty_frames`` (frames without any instance)."""

    field_id: str
    row: int
    col: int
    path: Path
    n_frames: int
    max_instances: int
    empty_frames: int


def pack_instances(frames: Sequence[Instances], shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame instances -> ``(bool[T, K, H, W], float32[T, K])``, K = most in a frame;
    empty slots all-False with NaN score."""
    k = max((len(f) for f in frames), default=0)
    masks = np.zeros((len(frames), k, *shape), bool)
    scores = np.full((len(frames), k), np.nan, np.float32)
    for t, f in enumerate(frames):
        masks[t, :len(f)] = f.masks
        scores[t, :len(f)] = f.scores
    return masks, scores


def cell_rows(info: WellMovieInfo, frames: Sequence[Instances]) -> pd.DataFrame:
    """The ``CELL_COLUMNS`` rows of a well's per-frame instances, one per instance
    (``postprocess.instance_properties``)."""
    counts = [len(f) for f in frames]
    if not sum(counts):
        return pd.DataFrame(columns=list(CELL_COLUMNS)).astype(CELL_COLUMNS)
    masks = np.concatenate([f.masks for f in frames if len(f)])
    props = instance_properties(masks)
    bbox = props["bbox"]
    return pd.DataFrame({
        "chip_id": info.chip_id, "field_id": info.field_id, "row": info.row, "col": info.col,
        "frame": np.repeat(np.arange(len(frames)), counts), "instance": np.concatenate([np.arange(n) for n in counts]),
        "y": props["y"], "x": props["x"], "area": props["area"], "bbox_y0": bbox[:, 0], "bbox_x0": bbox[:, 1],
        "bbox_y1": bbox[:, 2], "bbox_x1": bbox[:, 3], "eccentricity": props["eccentricity"],
        "score": np.concatenate([np.asarray(f.scores, np.float64) for f in frames]),
    }, columns=list(CELL_COLUMNS)).astype(CELL_COLUMNS)


def segment_wells(store_path: Path | str, wells: Sequence[WellMovieInfo], segment: SegmentFn, *,
                  batch_wells: int = 8, attrs: Mapping[str, object] | None = None
                  ) -> tuple[pd.DataFrame, list[WellMasks]]:
    """Segment the phase channel of every frame of ``wells`` (only the phase chunks are
    read); frames of up to ``batch_wells`` wells go to ``segment`` in one call. Per well, the
    masks are written with ``write_well_masks`` (``attrs`` recorded, e.g. the model version).
    Returns the per-cell rows (``CELL_COLUMNS``) and what was written per well."""
    tables: list[pd.DataFrame] = []
    written: list[WellMasks] = []
    for start in range(0, len(wells), batch_wells):
        batch = wells[start:start + batch_wells]
        phases = [open_well_phase(store_path, info.field_id, info.row, info.col)[0] for info in batch]
        found = segment(np.concatenate(phases)) if phases else []
        offset = 0
        for info, phase in zip(batch, phases):
            frames = found[offset:offset + len(phase)]
            offset += len(phase)
            masks, scores = pack_instances(frames, phase.shape[1:])
            path = write_well_masks(store_path, info, masks, scores, attrs=attrs)
            tables.append(cell_rows(info, frames))
            written.append(WellMasks(info.field_id, info.row, info.col, path, len(phase), scores.shape[1],
                                     sum(len(f) == 0 for f in frames)))
    cells = (pd.concat(tables, ignore_index=True) if tables
             else pd.DataFrame(columns=list(CELL_COLUMNS)).astype(CELL_COLUMNS))
    return cells, written


def segment_field(store_path: str, field_id: str, source: ModelSource, batch_wells: int,
                  attrs: Mapping[str, object] | None) -> tuple[dict, pd.DataFrame]:
    """The work unit of ``chip_cell_masks``: every cropped well of one field."""
    wells = [i for i in list_well_movies(store_path, field_id) if i.cropped]
    cells, written = segment_wells(store_path, wells, source(), batch_wells=batch_wells, attrs=attrs)
    return {"wells": [{**asdict(w), "path": str(w.path)} for w in written]}, cells


STAGE = "cell_masks"


def chip_cell_masks(store_path: Path | str, source: ModelSource | SegmentFn, *, batch_wells: int = 8,
                    attrs: Mapping[str, object] | None = None, pool: WorkerPool | None = None
                    ) -> tuple[pd.DataFrame, list[WellMasks]]:
    """Segment every cropped well movie of a chip's store, one work unit per field run by
    ``pool`` (default: this process), inside the chip's commit that is open (its own when
    none is), which takes every unit's masks at once. Fields that a killed or failed earlier
    run finished with the same model and inputs are not redone.

    ``source``: a ``models.sources.ModelSource`` of a ``SegmentFn`` (a ``RegisteredModel``
    built by ``build_segment_fn`` runs in any pool), or a ``SegmentFn`` (this process only).
    Returns the per-cell table (``CELL_COLUMNS``, fields in order) and what was written per well.
    """
    store_path = Path(store_path)
    source = as_source(source, "segmenter")
    fields = sorted({i.field_id for i in list_well_movies(store_path) if i.cropped})
    attrs = dict(attrs or {})
    outputs = run_field_units(store_path, STAGE, fields, segment_field,
                              lambda f: (str(store_path), f, source, batch_wells, attrs),
                              {"attrs": attrs, "batch_wells": batch_wells}, models=[source], pool=pool)
    written = [WellMasks(**{**w, "path": Path(w["path"])}) for o in outputs for w in o.result["wells"]]
    return unit_rows(outputs, CELL_COLUMNS), written


__all__ = ["CELL_COLUMNS", "MODEL_NAMES", "SegmentFn", "WellMasks", "build_segment_fn", "chip_cell_masks", "load_segmenter",
           "segment_field", "segment_fn", "segment_wells"]
