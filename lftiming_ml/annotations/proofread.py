"""One well opened for proofreading, and what saving the edit writes (no napari, no Qt).

``open_review_well`` gathers what the review window shows of a well (``ReviewWell``): the
phase movie (``store.movies.open_well_phase``), LOCSNET's instances flattened to one label
image per frame (``store.masks``; None when the well was not segmented), and the labels
being corrected: the well's record in the annotations store when it has one, else the
pipeline's tracks, types and deaths (``sources.pipeline_records``; none when the well has
no tracks), flattened the way the napari export flattens them (track k = label k + 1,
``labels.flatten_masks``), and its cells table (``label, cell_type, death_frame, parent``,
as in a napari export's ``cells.csv``). The tracker's centroids (``cell_tracks``: track_id,
frame, y, x in crop px) come along for the track paths.

``save_edit`` turns the edited label images and cells table into a record exactly as
``lftiming import --format napari`` would (``exchange.check_cells_rows`` and
``exchange.merge_import``): a track's mask at a frame equal to the one opened keeps its
amodal mask, provenance and time, and so do unchanged types and deaths; new or changed
labels get ``human:<user>`` and the time of the save. Labels need not be contiguous (an
erased track leaves a gap; they are renumbered in order), a row of the table whose label
no longer appears is dropped. The record is written with ``store.write_wells``, which
validates it first: a refused edit (``AnnotationError``, e.g. a mask outside the well)
writes nothing.
"""

from __future__ import annotations

import getpass
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from lftiming_ml.annotations.exchange import cells_rows, check_cells_rows, merge_import, new_label_counts
from lftiming_ml.annotations.labels import flatten_masks, tracks_from_labels
from lftiming_ml.annotations.schema import LabelSource, WellAnnotation, parse_well_name
from lftiming_ml.annotations.sources import pipeline_records
from lftiming_ml.annotations.store import WriteResult, read_manifest, read_well, write_wells
from lftiming_ml.annotations.validate import AnnotationError, check_label_stack
from lftiming_ml.store.layout import ChipStore
from lftiming_ml.store.masks import open_well_masks
from lftiming_ml.store.movies import WellMovieInfo, open_well_phase

CELL_COLUMNS = ("label", "cell_type", "death_frame", "parent")


@dataclass(frozen=True)
class ReviewWell:
    """What the review window shows of one well (module docstring); arrays ``[T, S, S]``,
    (y, x) in crop px."""

    chip_id: str
    well: str
    info: WellMovieInfo
    phase: np.ndarray  # uint16[T, S, S]
    instances: np.ndarray | None  # uint16[T, S, S], LOCSNET instance i -> i + 1
    baseline: WellAnnotation | None  # the record opened (None: nothing to start from)
    labels_from: str  # "annotations@<version>", "model" or "nothing"
    labels: np.ndarray  # uint16[T, S, S], track k -> k + 1
    cells: tuple[dict, ...]  # rows of CELL_COLUMNS, values as text
    centroids: pd.DataFrame  # cell_tracks rows of the well: track_id, frame, y, x, source


@dataclass(frozen=True)
class SavedEdit:
    """What a save wrote: the ``record``, the store's ``result`` (version, written or
    unchanged) and how many labels took the reviewer's source (masks as track-frames)."""

    record: WellAnnotation
    result: WriteResult
    new_masks: int
    new_types: int
    new_deaths: int


def default_user() -> str:
    """The OS user name (the default ``--user``)."""
    return getpass.getuser()


def reviewer_source(user: str) -> LabelSource:
    """``human:<user>`` now, or AnnotationError naming ``--user`` when the name is not allowed."""
    try:
        return LabelSource.now(f"human:{user}")
    except ValueError as e:
        raise AnnotationError("--user", str(e)) from None


def _centroids(tracks: pd.DataFrame | None, field_id: str, row: int, col: int) -> pd.DataFrame:
    columns = ["track_id", "frame", "y", "x", "source"]
    if tracks is None or not len(tracks):
        return pd.DataFrame(columns=columns)
    mine = tracks[(tracks["field_id"] == field_id) & (tracks["row"] == row) & (tracks["col"] == col)]
    return mine[columns].sort_values(["track_id", "frame"]).reset_index(drop=True)


def open_review_well(chip: ChipStore, well: str, *, segmenter: str,
                     tracks: pd.DataFrame | None = None) -> ReviewWell:
    """Open ``well`` (``f000/r0c1``) of ``chip`` for review; ``segmenter`` names the model
    behind the pipeline's masks (``segmentation.config.MODEL_NAMES``), ``tracks`` the chip's
    ``cell_tracks`` rows (read by the caller once per chip; None: no track paths).
    ValueError for a malformed name, FileNotFoundError for a well the store lacks,
    AnnotationError for an empty (not cropped) well."""
    field_id, row, col = parse_well_name(well)
    phase, info = open_well_phase(chip.zarr_path, field_id, row, col)
    if phase is None:
        raise AnnotationError(f"{chip.chip_id}:{well}", "the well is empty (not cropped): nothing to review")
    try:
        instances = flatten_masks(open_well_masks(chip.zarr_path, field_id, row, col)[0])
    except FileNotFoundError:
        instances = None
    manifest = read_manifest(chip)
    baseline, labels_from = None, "nothing"
    if well in manifest.wells:
        baseline, labels_from = read_well(chip, well), f"annotations@{manifest.version[:12]}"
    else:
        try:
            baseline, labels_from = pipeline_records(chip, [well], segmenter=segmenter)[0], "model"
        except FileNotFoundError:  # not tracked (or no cell_tracks table): start from nothing
            pass
    labels = flatten_masks(baseline.masks) if baseline is not None else np.zeros(phase.shape, np.uint16)
    cells = tuple(cells_rows(baseline, with_parent=True)) if baseline is not None else ()
    return ReviewWell(chip.chip_id, well, info, phase, instances, baseline, labels_from, labels, cells,
                      _centroids(tracks, field_id, row, col))


def record_from_edit(review: ReviewWell, labels: np.ndarray, cells: Sequence[Mapping[str, object]],
                     new: LabelSource) -> WellAnnotation:
    """The record of the edited ``labels (uint[T, S, S])`` and ``cells`` rows (``CELL_COLUMNS``,
    keyed by the labels of ``labels``), new or changed labels from ``new`` (module
    docstring). AnnotationError naming the problem."""
    source = f"{review.chip_id}:{review.well} (review)"
    n_frames, size = review.phase.shape[0], review.phase.shape[-1]
    labels = check_label_stack(np.asarray(labels), n_frames=n_frames, size=size, source=source)
    found = np.unique(labels)
    found = found[found > 0]
    lut = np.zeros(int(found.max()) + 1 if found.size else 1, np.uint32)
    lut[found] = np.arange(1, found.size + 1)
    present = {int(v) for v in found}
    rows = [r for r in cells if str(r.get("label", "")).strip().isdigit() and int(str(r["label"])) in present]
    checked = check_cells_rows(rows, n_frames=n_frames, labels=sorted(present), with_parent=True,
                               source=f"{source} cells table", first_line=1, unit="row")
    renumbered = {int(lut[lab]): cell if cell.parent is None else replace(cell, parent=int(lut[cell.parent]))
                  for lab, cell in checked.items()}
    imported = tracks_from_labels(lut[labels], None, source=source)
    info = review.info
    return merge_import(imported, renumbered, review.baseline, new, chip_id=review.chip_id, field_id=info.field_id,
                        row=info.row, col=info.col, well_box=tuple(info.well_box_px))


def save_edit(chip: ChipStore, review: ReviewWell, labels: np.ndarray, cells: Sequence[Mapping[str, object]], *,
              user: str) -> SavedEdit:
    """Write the edited well into the chip's annotations store with ``human:<user>`` for
    what changed (``record_from_edit``, then ``store.write_wells``); AnnotationError and
    nothing written when the edit is refused."""
    new = reviewer_source(user)
    record = record_from_edit(review, labels, cells, new)
    result = write_wells(chip, [record], sources=[f"{chip.chip_id}:{review.well} (review by human:{user})"])
    return SavedEdit(record, result, *new_label_counts(record, new))


__all__ = ["CELL_COLUMNS", "ReviewWell", "SavedEdit", "default_user", "open_review_well", "record_from_edit",
           "reviewer_source", "save_edit"]
