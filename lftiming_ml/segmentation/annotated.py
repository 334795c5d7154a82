"""Segmentation samples from curated labels (the annotations store), for fine-tuning.

Each annotated well-frame whose cells are all labelled by the selection's provenances
(``annotations.selection.select_labels``: a frame where a filtered-out mask was, or where
no mask is at all, is left out, since an unlabelled cell would teach "background") becomes
a ``data.SegmentationSample``: the phase channel of the pipeline's well movie at that frame
(``store.movies.open_well_phase``; the well movies are already resampled to the canonical
0.65 um/px, the pixel of the simulated training crops) and the record's masks there,
centre-cropped or edge-padded to ``sampling.crop_size``. ``meta['source']`` is
``annotations`` (``chip``, ``field_id``, ``row``, ``col``, ``frame``, ``n_cells`` as for
simulated samples).
"""

from __future__ import annotations

import numpy as np

from lftiming_ml.annotations.selection import ResolvedSelection
from lftiming_ml.segmentation.config import CorpusSampling
from lftiming_ml.segmentation.data import SegmentationSample, crop_with_padding
from lftiming_ml.store.movies import open_well_phase


def _crop_masks(masks: np.ndarray, off: int, size: int) -> np.ndarray:
    """``masks (bool[N, S, S])`` centre-cropped (``off`` >= 0) or padded with False (``off`` < 0) to ``size``."""
    if off >= 0:
        return masks[:, off:off + size, off:off + size].copy()
    pad = -off
    return np.pad(masks, ((0, 0), (pad, size - masks.shape[1] - pad), (pad, size - masks.shape[2] - pad)))


def annotated_samples(selection: ResolvedSelection, *, sampling: CorpusSampling = CorpusSampling()
                      ) -> list[SegmentationSample]:
    """Samples of every complete, labelled frame of the selection's wells (module docstring)."""
    out: list[SegmentationSample] = []
    for record, complete in selection.records():
        present = record.masks.any(axis=(2, 3))  # [T, K]
        frames = np.flatnonzero(complete & present.any(axis=1))
        if frames.size == 0:
            continue
        phase, _ = open_well_phase(selection.chip.zarr_path, record.field_id, record.row, record.col)
        size = record.masks.shape[-1]
        off = (size - sampling.crop_size) // 2
        for t in frames:
            masks = record.masks[t][present[t]]
            out.append(SegmentationSample(
                image=crop_with_padding(phase[t], off, off, sampling.crop_size),
                masks=_crop_masks(masks, off, sampling.crop_size),
                meta={"source": "annotations", "chip": record.chip_id, "field_id": record.field_id,
                      "row": record.row, "col": record.col, "frame": int(t), "n_cells": int(present[t].sum()),
                      "annotations_version": selection.version}))
    return out


__all__ = ["annotated_samples"]
