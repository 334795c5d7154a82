"""Every check of a well's labels before the store takes them.

One error type, ``AnnotationError``: its message names the source (a file or folder of an
import, or what built the record) and the problem, e.g.
``.../f000_r0c1/TRA/man_track004.tif: label 7 jumps: labels must be 1..5``. Validation runs
before anything is written, so a refused import leaves the store as it was.

``validate_well`` checks a ``WellAnnotation`` against its well in the chip store (frames,
crop size, well interior); the exchange readers (``ctc``, ``napari``, ``exchange``) check
files as they read them with the helpers here (``check_label_stack``, ``check_cells_table``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from datetime import datetime

import numpy as np

from lftiming_ml.annotations.schema import CELL_TYPES, PROVENANCE_HELP, PROVENANCE, LabelSource, WellAnnotation

WELL_MARGIN_PX = 3.0
"""How far (crop px) a mask may reach past the well interior's edges (walls are a few px
thick and segmenter masks may touch them); pixels farther out are refused."""


class AnnotationError(ValueError):
    """A well's labels (or an import's files) are refused: ``source`` names the file or
    record, ``problem`` says what is wrong."""

    def __init__(self, source: str | Path, problem: str) -> None:
        self.source, self.problem = str(source), problem
        super().__init__(f"{source}: {problem}")

    def __reduce__(self):  # picklable as itself: a worker process's error must reach the run, not break the pool
        return type(self), (self.source, self.problem), self.__dict__


def check_label_source(s: LabelSource | None, source: str | Path, what: str) -> None:
    if s is None:
        return
    if not isinstance(s.provenance, str) or not PROVENANCE.match(s.provenance):
        raise AnnotationError(source, f"{what}: provenance {s.provenance!r} is not one of {PROVENANCE_HELP}")
    try:
        datetime.fromisoformat(s.time)
    except (TypeError, ValueError):
        raise AnnotationError(source, f"{what}: time {s.time!r} is not an ISO 8601 time") from None


def check_masks_in_well(masks: np.ndarray, well_box: tuple[float, float, float, float], source: str | Path,
                        *, margin_px: float = WELL_MARGIN_PX, what: str = "track") -> None:
    """Every True pixel of ``masks (bool[T, K, S, S])`` lies within the well interior
    ``(y0, x0, y1, x1)`` widened by ``margin_px`` (pixel centres)."""
    y0, x0, y1, x1 = well_box
    s_y, s_x = masks.shape[-2:]
    cy, cx = np.arange(s_y) + 0.5, np.arange(s_x) + 0.5
    outside = ((cy < y0 - margin_px) | (cy > y1 + margin_px))[:, None] | \
              ((cx < x0 - margin_px) | (cx > x1 + margin_px))[None, :]
    if not outside.any():
        return
    bad = np.argwhere((masks & outside).any(axis=(2, 3)))
    if bad.size:
        t, k = (int(v) for v in bad[0])
        ys, xs = np.nonzero(masks[t, k] & outside)
        raise AnnotationError(source, f"{what} {k} at frame {t} has {ys.size} px outside the well "
                                      f"(interior y {y0:.1f}..{y1:.1f}, x {x0:.1f}..{x1:.1f} crop px, margin "
                                      f"{margin_px:g}), e.g. (y, x) = ({ys[0]}, {xs[0]})")


def validate_well(record: WellAnnotation, *, n_frames: int, size: int, source: str | Path | None = None,
                  margin_px: float = WELL_MARGIN_PX) -> WellAnnotation:
    """Check ``record`` against its well in the chip store (``n_frames`` frames of
    ``size x size`` crop px); returns it, or raises ``AnnotationError``:

    masks not ``bool[T, K, S, S]`` / wrong frame count or crop size; mask sources not
    ``int32[T, K]``, missing where a mask has pixels or pointing nowhere; a track without any
    mask; track ids not 0..K-1 in order; a mask outside the well; a cell type not
    effector/target, or a type or death without a source (or a source without a type); a
    death frame outside the movie; a parent that is not another track of the well (or a
    parent cycle); a provenance not ``human:<name>``, ``fluorescence``,
    ``model:<name>@<version>`` or ``simulator``; a time that is not ISO 8601.
    """
    src = source or f"{record.chip_id}:{record.well}"
    m = record.masks
    if not isinstance(m, np.ndarray) or m.dtype != np.bool_:
        raise AnnotationError(src, f"masks must be bool, got {getattr(m, 'dtype', type(m).__name__)}")
    if m.ndim != 4 or m.shape[0] != n_frames or m.shape[2:] != (size, size):
        raise AnnotationError(src, f"masks must be bool[T={n_frames}, K, {size}, {size}] (the well's movie), "
                                   f"got {list(m.shape)}")
    t_, k_ = m.shape[:2]
    ms = record.mask_source
    if not isinstance(ms, np.ndarray) or ms.shape != (t_, k_) or not np.issubdtype(ms.dtype, np.integer):
        raise AnnotationError(src, f"mask_source must be int[{t_}, {k_}], got "
                                   f"{getattr(ms, 'dtype', type(ms).__name__)}{list(getattr(ms, 'shape', []))}")
    present = m.any(axis=(2, 3))
    if (ms[present] < 0).any() or (ms[present] >= len(record.sources)).any():
        t, k = (int(v) for v in np.argwhere(present & ((ms < 0) | (ms >= len(record.sources))))[0])
        raise AnnotationError(src, f"track {k} at frame {t} has a mask but no source")
    for i, s in enumerate(record.sources):
        check_label_source(s, src, f"source {i}")
    empty = np.flatnonzero(~present.any(axis=0))
    if empty.size:
        raise AnnotationError(src, f"track {int(empty[0])} has no mask in any frame: track ids must be 0..K-1 "
                                   "with every id used (ids do not jump)")
    ids = [t.track_id for t in record.tracks]
    if ids != list(range(k_)):
        raise AnnotationError(src, f"track ids must be 0..{k_ - 1} in order (one per mask slot), got {ids}")
    check_masks_in_well(m, record.well_box, src, margin_px=margin_px)
    for t in record.tracks:
        what = f"track {t.track_id}"
        if t.cell_type is not None and t.cell_type not in CELL_TYPES:
            raise AnnotationError(src, f"{what}: cell type {t.cell_type!r} is not one of {list(CELL_TYPES)}")
        if (t.cell_type is None) != (t.type_source is None):
            raise AnnotationError(src, f"{what}: a cell type needs a source and a source needs a cell type")
        if t.death_frame is None and t.death_source is None:
            pass
        elif t.death_source is None:
            raise AnnotationError(src, f"{what}: death frame {t.death_frame} has no source")
        if t.death_frame is not None and not 0 <= t.death_frame < n_frames:
            raise AnnotationError(src, f"{what}: death frame {t.death_frame} is outside the movie (0..{n_frames - 1})")
        check_label_source(t.type_source, src, f"{what} cell type")
        check_label_source(t.death_source, src, f"{what} death")
        if t.parent is not None and (t.parent == t.track_id or not 0 <= t.parent < k_):
            raise AnnotationError(src, f"{what}: parent {t.parent} is not another track of the well (0..{k_ - 1})")
    check_no_parent_cycle({t.track_id: t.parent for t in record.tracks}, src)
    return record


def check_no_parent_cycle(parents: Mapping[int, int | None], source: str | Path) -> None:
    for start in parents:
        seen, node = {start}, parents[start]
        while node is not None:
            if node in seen:
                raise AnnotationError(source, f"track {start}: its parent links form a cycle")
            seen.add(node)
            node = parents.get(node)


def check_label_stack(labels: np.ndarray, *, n_frames: int, size: int, source: str | Path) -> np.ndarray:
    """A label stack read from files: unsigned or non-negative integers, ``[T, S, S]`` with
    the well's frames and crop size. Returns it as ``uint32``."""
    if not np.issubdtype(labels.dtype, np.integer):
        raise AnnotationError(source, f"label images must be integer (uint16 in CTC), got {labels.dtype}")
    if labels.ndim != 3 or labels.shape[1:] != (size, size):
        raise AnnotationError(source, f"label images must be {size} x {size} px (the well crop), got "
                                      f"{list(labels.shape[1:]) if labels.ndim == 3 else list(labels.shape)}")
    if labels.shape[0] != n_frames:
        raise AnnotationError(source, f"{labels.shape[0]} frames but the well's movie has {n_frames}")
    if labels.size and labels.min() < 0:
        raise AnnotationError(source, f"label images hold negative labels ({int(labels.min())})")
    return labels.astype(np.uint32)


def check_contiguous_labels(labels: np.ndarray, source: str | Path) -> list[int]:
    """The labels of ``labels (uint[T, S, S])`` are 1..N (0 is background); returns them."""
    found = sorted(int(v) for v in np.unique(labels) if v != 0)
    if found != list(range(1, len(found) + 1)):
        missing = sorted(set(range(1, (found[-1] if found else 0) + 1)) - set(found))
        raise AnnotationError(source, f"labels jump: found {found[:12]}{' ...' if len(found) > 12 else ''}, "
                                      f"labels must be 1..N with none missing (missing {missing[:12]})")
    return found


def check_cell_type(value: object, source: str | Path, what: str) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value == "":
        return None
    if value not in CELL_TYPES:
        raise AnnotationError(source, f"{what}: cell type {value!r} is not one of {list(CELL_TYPES)} (or empty)")
    return str(value)


def check_death_frame(value: object, n_frames: int, source: str | Path, what: str) -> int | None:
    if value is None or value == "" or (isinstance(value, float) and np.isnan(value)):
        return None
    try:
        frame = int(value)
        if frame != float(value):
            raise ValueError
    except (TypeError, ValueError):
        raise AnnotationError(source, f"{what}: death frame {value!r} is not a frame number") from None
    if not 0 <= frame < n_frames:
        raise AnnotationError(source, f"{what}: death frame {frame} is outside the movie (0..{n_frames - 1})")
    return frame


__all__ = ["WELL_MARGIN_PX", "AnnotationError", "check_cell_type", "check_contiguous_labels", "check_death_frame",
           "check_label_source", "check_label_stack", "check_masks_in_well", "check_no_parent_cycle", "validate_well"]
