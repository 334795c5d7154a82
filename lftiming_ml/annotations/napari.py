"""A folder per well that napari opens directly: write and read.

::

    phase.tif     uint16[T, S, S]  the phase movie
    labels.tif    uint16[T, S, S]  one label per track (track k -> k + 1; 0 = background),
                                   flattened like the CTC export (``labels``)

Open both (``napari phase.tif labels.tif``, then right-click the second layer, "Convert to
Labels"), paint, erase, relabel, and save the labels layer back over ``labels.tif``. A label
keeps its identity across frames, gaps included, so each label is one track. Cell types,
death frames and mother tracks live in the well's ``cells.csv`` (``exchange``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

from lftiming_ml.annotations.ctc import read_tiff
from lftiming_ml.annotations.validate import AnnotationError, check_label_stack

PHASE_TIF = "phase.tif"
LABELS_TIF = "labels.tif"


def write_napari_well(folder: Path, phase: np.ndarray, labels: np.ndarray) -> Path:
    """Write ``phase`` and ``labels`` (both ``uint16[T, S, S]``) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(folder / PHASE_TIF, phase.astype(np.uint16), metadata={"axes": "TYX"})
    tifffile.imwrite(folder / LABELS_TIF, labels.astype(np.uint16), metadata={"axes": "TYX"})
    return folder


def read_napari_labels(folder: Path, *, n_frames: int, size: int) -> np.ndarray:
    """``labels.tif`` as ``uint32[T, S, S]`` (AnnotationError naming the file when it is
    missing, unreadable, not integer, or not the well's frames and size)."""
    path = folder / LABELS_TIF
    if not path.is_file():
        raise AnnotationError(folder, f"no {LABELS_TIF}: not a napari well folder")
    labels = read_tiff(path)
    if labels.ndim == 2 and n_frames == 1:
        labels = labels[None]
    return check_label_stack(labels, n_frames=n_frames, size=size, source=path)


__all__ = ["LABELS_TIF", "PHASE_TIF", "read_napari_labels", "write_napari_well"]
