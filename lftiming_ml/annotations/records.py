"""A ``WellAnnotation`` on disk: one folder, written atomically (``lftiming_ml.io.atomic_dir``)::

    <folder>/record.json   everything but the arrays (``WellAnnotation.meta``) + format
    <folder>/masks.npz     masks bool[T, K, S, S], mask_source int32[T, K] (compressed)

The store keeps records under their content hash (``store``); an export keeps the record it
was made from beside the files a person edits (``exchange``), so an import can tell edited
labels from untouched ones.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from lftiming_ml.annotations.schema import LabelSource, TrackLabel, WellAnnotation
from lftiming_ml.annotations.validate import AnnotationError
from lftiming_ml.io import atomic_dir

RECORD_JSON = "record.json"
MASKS_NPZ = "masks.npz"
FORMAT = "lftiming.well_annotation/1"


def write_record(record: WellAnnotation, folder: Path | str, *, overwrite: bool = False) -> Path:
    """Write ``record`` (canonical form) as ``folder``, atomically. Returns the folder."""
    record = record.canonical()
    with atomic_dir(folder, overwrite=overwrite) as tmp:
        (tmp / RECORD_JSON).write_text(json.dumps({"format": FORMAT, **record.meta()}, indent=1, sort_keys=True))
        np.savez_compressed(tmp / MASKS_NPZ, masks=record.masks, mask_source=record.mask_source)
    return Path(folder)


def _source(d: dict | None) -> LabelSource | None:
    return None if d is None else LabelSource(d["provenance"], d["time"])


def read_record(folder: Path | str) -> WellAnnotation:
    """The record in ``folder`` (AnnotationError naming the file when it is missing or unreadable)."""
    folder = Path(folder)
    try:
        meta = json.loads((folder / RECORD_JSON).read_text())
        if meta.get("format") != FORMAT:
            raise ValueError(f"format {meta.get('format')!r} is not {FORMAT!r}")
        with np.load(folder / MASKS_NPZ) as npz:
            masks, mask_source = npz["masks"], npz["mask_source"]
        tracks = tuple(TrackLabel(track_id=t["track_id"], cell_type=t["cell_type"], type_source=_source(t["type_source"]),
                                  death_frame=t["death_frame"], death_source=_source(t["death_source"]),
                                  parent=t["parent"]) for t in meta["tracks"])
        return WellAnnotation(chip_id=meta["chip_id"], field_id=meta["field_id"], row=meta["row"], col=meta["col"],
                              well_box=tuple(meta["well_box"]), masks=masks, mask_source=mask_source,
                              sources=tuple(_source(s) for s in meta["sources"]), tracks=tracks)
    except (OSError, KeyError, TypeError, ValueError, zipfile.BadZipFile) as e:
        raise AnnotationError(folder, f"not a readable annotation record ({type(e).__name__}: {e})") from None


__all__ = ["FORMAT", "MASKS_NPZ", "RECORD_JSON", "read_record", "write_record"]
