"""Export a chip's well labels for editing in another tool, and import the edits back.

``export_wells`` writes one folder per well (``<field_id>_r<row>c<col>``) in the CTC layout
(``ctc``) or as a napari folder (``napari``), each with:

- ``cells.csv``: one row per track, keyed by its (first) label: ``label, cell_type,
  death_frame`` (napari also ``parent``, the mother's label). ``cell_type`` is effector,
  target or empty (no label); ``death_frame`` a frame, ``none`` (labelled: never dies) or
  empty (no label).
- ``lftiming/``: the record the export was made from (``records``; amodal masks and every
  label's provenance) and ``export.json`` (chip, well, where the labels came from).

``import_wells`` reads such folders (one well folder, or a folder of them), checks every
file (``validate``; nothing is written when any well is refused), and merges each well with
the record beside it: a track's mask at a frame that still equals the exported one keeps
the exported amodal mask and its provenance and time, and so do an unchanged cell type and
death; everything new or changed gets the import's source (``human:<name>``). Tracks are
matched to the exported ones by their masks, so relabelling does not lose provenance. A
folder without ``lftiming/`` (made from scratch in TrackMate or Fiji) is all new labels.
Without ``cells.csv`` a track keeps the types and deaths of the track it matches, if any.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from lftiming_ml.annotations import ctc, napari
from lftiming_ml.annotations.labels import ImportedTracks, ctc_track_rows, flatten_masks, tracks_from_labels
from lftiming_ml.annotations.records import read_record, write_record
from lftiming_ml.annotations.schema import LabelSource, TrackLabel, WellAnnotation, well_name
from lftiming_ml.annotations.store import WriteResult, well_geometry, write_wells
from lftiming_ml.annotations.validate import AnnotationError, check_cell_type, check_death_frame
from lftiming_ml.io import atomic_dir
from lftiming_ml.store.layout import ChipStore
from lftiming_ml.store.movies import open_well_phase

Format = Literal["ctc", "napari"]
FORMATS: tuple[str, ...] = ("ctc", "napari")
CELLS_CSV = "cells.csv"
SIDECAR = "lftiming"
EXPORT_JSON = "export.json"
BASELINE = "baseline"
NEVER = "none"
_FOLDER = re.compile(r"^(?P<field_id>[A-Za-z0-9][A-Za-z0-9._-]*)_r(?P<row>\d+)c(?P<col>\d+)$")


def well_folder_name(record: WellAnnotation) -> str:
    return f"{record.field_id}_r{record.row}c{record.col}"


def cells_rows(record: WellAnnotation, *, with_parent: bool) -> list[dict]:
    """The rows of ``cells.csv`` for ``record`` (label = track id + 1; ``death_frame`` empty when
    unlabelled, ``none`` when labelled "never dies")."""
    rows = []
    for t in record.tracks:
        death = "" if t.death_source is None else (NEVER if t.death_frame is None else str(t.death_frame))
        row = {"label": t.track_id + 1, "cell_type": t.cell_type or "", "death_frame": death}
        if with_parent:
            row["parent"] = "" if t.parent is None else t.parent + 1
        rows.append(row)
    return rows


def export_wells(chip: ChipStore, records: Sequence[WellAnnotation], out: Path | str, fmt: Format, *,
                 origin: str) -> list[Path]:
    """Write each record's well into ``out/<field_id>_r<row>c<col>/`` in ``fmt`` (each folder
    replaced atomically). ``origin`` says where the labels came from (e.g.
    ``annotations@<version>``, ``model``). Returns the folders."""
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r} is not one of {list(FORMATS)}")
    out = Path(out)
    folders = []
    for record in records:
        phase, info = open_well_phase(chip.zarr_path, record.field_id, record.row, record.col)
        if phase is None:
            raise AnnotationError(f"{chip.chip_id}:{record.well}", "the well is empty (not cropped): nothing to export")
        flat = flatten_masks(record.masks)
        parents = [t.parent for t in record.tracks]
        with atomic_dir(out / well_folder_name(record), overwrite=True) as tmp:
            if fmt == "ctc":
                labels, rows = ctc_track_rows(flat, parents, source=f"{chip.chip_id}:{record.well}")
                ctc.write_ctc_sequence(tmp, phase, labels, rows)
            else:
                napari.write_napari_well(tmp, phase, flat)
            cells = cells_rows(record, with_parent=fmt == "napari")
            with open(tmp / CELLS_CSV, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(cells[0]) if cells else ["label", "cell_type", "death_frame"])
                writer.writeheader()
                writer.writerows(cells)
            write_record(record, tmp / SIDECAR / BASELINE)
            (tmp / SIDECAR / EXPORT_JSON).write_text(json.dumps(
                {"chip_id": chip.chip_id, "well": record.well, "format": fmt, "origin": origin,
                 "record": record.content_hash()}, indent=1))
        folders.append(out / well_folder_name(record))
    return folders


@dataclass(frozen=True)
class CellRow:
    cell_type: str | None
    death_labelled: bool
    death_frame: int | None
    parent: int | None  # a label (napari), None


def check_cells_rows(rows: Iterable[Mapping[str, object]], *, n_frames: int, labels: Sequence[int],
                     with_parent: bool, source: str | Path, first_line: int = 2,
                     unit: str = "line") -> dict[int, CellRow]:
    """Rows of a cells table (``label, cell_type, death_frame`` and, ``with_parent``,
    ``parent``; values as text, as ``cells.csv`` holds them) by label, each checked:
    AnnotationError naming ``source``, the line (``first_line`` for the first row) and the
    problem (``unit`` names what a row is: ``line`` of a file, ``row`` of a table).
    ``cells.csv`` and the napari review window's table both come through here."""
    out: dict[int, CellRow] = {}
    for i, row in enumerate(rows, start=first_line):
        where = f"{unit} {i}"
        text = {k: "" if v is None else str(v).strip() for k, v in row.items()}
        try:
            label = int(text["label"])
        except (TypeError, ValueError):
            raise AnnotationError(source, f"{where}: label {text['label']!r} is not an integer") from None
        if label not in labels:
            raise AnnotationError(source, f"{where}: label {label} is not a track of the label images "
                                          f"(tracks start with labels {list(labels)[:12]})")
        if label in out:
            raise AnnotationError(source, f"{where}: label {label} has two rows")
        death = text["death_frame"]
        death_frame = None if death.lower() in ("", NEVER) else check_death_frame(death, n_frames, source,
                                                                                     f"{where}, label {label}")
        parent = None
        if with_parent and text["parent"]:
            try:
                parent = int(text["parent"])
            except ValueError:
                parent = -1
            if parent not in labels or parent == label:
                raise AnnotationError(source, f"{where}, label {label}: parent {text['parent']!r} is not another "
                                              "track's label")
        out[label] = CellRow(check_cell_type(text["cell_type"], source, f"{where}, label {label}"),
                             death != "", death_frame, parent)
    return out


def read_cells_csv(path: Path, *, n_frames: int, labels: Sequence[int], with_parent: bool) -> dict[int, CellRow]:
    """``cells.csv`` by label (AnnotationError naming the file, line and problem)."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        needed = {"label", "cell_type", "death_frame"} | ({"parent"} if with_parent else set())
        if reader.fieldnames is None or not needed <= set(reader.fieldnames):
            raise AnnotationError(path, f"columns must include {sorted(needed)}, got {reader.fieldnames}")
        return check_cells_rows(reader, n_frames=n_frames, labels=labels, with_parent=with_parent, source=path)


def _match_baseline(imported: ImportedTracks, baseline: WellAnnotation) -> tuple[np.ndarray, list[int | None]]:
    """Per imported (frame, track), the baseline track whose flattened mask it equals (-1),
    and per imported track its baseline track by majority of equal frames (None)."""
    flat = flatten_masks(baseline.masks)
    t_, k_ = imported.masks.shape[:2]
    same = np.full((t_, k_), -1, np.int64)
    for t in range(t_):
        index = {np.packbits(flat[t] == lab).tobytes(): lab - 1 for lab in np.unique(flat[t]).tolist() if lab}
        for j in range(k_):
            if imported.masks[t, j].any():
                same[t, j] = index.get(np.packbits(imported.masks[t, j]).tobytes(), -1)
    matched = []
    for j in range(k_):
        votes = Counter(same[:, j][same[:, j] >= 0].tolist())
        matched.append(min(votes, key=lambda k: (-votes[k], k)) if votes else None)
    return same, matched


def merge_import(imported: ImportedTracks, cells: dict[int, CellRow] | None, baseline: WellAnnotation | None,
                 new: LabelSource, *, chip_id: str, field_id: str, row: int, col: int,
                 well_box: tuple[float, float, float, float]) -> WellAnnotation:
    """The record an import makes (module docstring: what keeps its provenance)."""
    t_, k_ = imported.masks.shape[:2]
    masks = imported.masks.copy()
    sources: list[LabelSource] = [new]
    mask_source = np.where(masks.any(axis=(2, 3)), 0, -1).astype(np.int32)
    matched: list[int | None] = [None] * k_
    if baseline is not None:
        same, matched = _match_baseline(imported, baseline)
        offset = len(sources)
        sources += list(baseline.sources)
        flat = flatten_masks(baseline.masks)
        for j in range(k_):
            for t in range(t_):
                k = same[t, j] if same[t, j] >= 0 else None
                if k is None and not masks[t, j].any() and matched[j] is not None \
                        and not (flat[t] == matched[j] + 1).any() and baseline.masks[t, matched[j]].any():
                    k = matched[j]  # hidden by the flattening at this frame, untouched: its amodal mask comes back
                if k is not None:
                    masks[t, j] = baseline.masks[t, k]
                    mask_source[t, j] = offset + baseline.mask_source[t, k]
    label_of_track = {lab: j for j, lab in enumerate(imported.labels)}
    tracks = []
    for j, lab in enumerate(imported.labels):
        base = baseline.tracks[matched[j]] if baseline is not None and matched[j] is not None else None
        cell = (cells or {}).get(lab)
        if cell is None:
            kind, kind_src = (base.cell_type, base.type_source) if base else (None, None)
            death, death_src = (base.death_frame, base.death_source) if base else (None, None)
        else:
            kind = cell.cell_type
            kind_src = (base.type_source if base is not None and base.cell_type == kind
                        else (new if kind is not None else None))
            death = cell.death_frame
            base_death = (base.death_source is not None, base.death_frame) if base is not None else (False, None)
            if base is not None and base_death == (cell.death_labelled, death):
                death_src = base.death_source
            else:
                death_src = new if cell.death_labelled else None
        parent = imported.parents[j]
        if cell is not None and cell.parent is not None:
            parent = label_of_track[cell.parent]
        tracks.append(TrackLabel(j, kind, kind_src, death, death_src, parent))
    return WellAnnotation(chip_id, field_id, row, col, tuple(well_box), masks, mask_source, tuple(sources),
                          tuple(tracks)).canonical()


@dataclass(frozen=True)
class ImportedWell:
    """One well an import brings: its record, folder, and what took the import's source."""

    folder: Path
    record: WellAnnotation
    new_masks: int
    new_types: int
    new_deaths: int


def well_folders(path: Path, fmt: Format) -> list[Path]:
    """``path`` if it is one well's folder, else its sub-folders named like wells."""
    marker = ctc.TRA if fmt == "ctc" else napari.LABELS_TIF
    if (path / marker).exists():
        return [path]
    found = sorted(p for p in path.iterdir() if p.is_dir() and _FOLDER.match(p.name)) if path.is_dir() else []
    if not found:
        raise AnnotationError(path, f"no {fmt} well folders here (a folder named <field_id>_r<row>c<col> holding "
                                    f"{marker})")
    return found


def read_well_folder(chip: ChipStore, folder: Path, fmt: Format, new: LabelSource,
                     geometry: dict[str, tuple[int, int, tuple[float, float, float, float]]]) -> ImportedWell:
    """Read, check and merge one exported (and edited) well folder."""
    m = _FOLDER.match(folder.name)
    if m is None:
        raise AnnotationError(folder, "the folder name must be <field_id>_r<row>c<col> (the well), e.g. f000_r0c1")
    field_id, row, col = m["field_id"], int(m["row"]), int(m["col"])
    well = well_name(field_id, row, col)
    if well not in geometry:
        raise AnnotationError(folder, f"chip {chip.chip_id} has no cropped well {well} in its store")
    n_frames, size, box = geometry[well]
    baseline = None
    export_json = folder / SIDECAR / EXPORT_JSON
    if export_json.is_file():
        try:
            meta = json.loads(export_json.read_text())
        except ValueError as e:
            raise AnnotationError(export_json, f"not readable JSON ({e})") from None
        if (meta.get("chip_id"), meta.get("well")) != (chip.chip_id, well):
            raise AnnotationError(export_json, f"exported from {meta.get('chip_id')}:{meta.get('well')}, "
                                               f"not {chip.chip_id}:{well}")
        baseline = read_record(folder / SIDECAR / BASELINE)
        if baseline.masks.shape[0] != n_frames or baseline.masks.shape[2:] != (size, size):
            raise AnnotationError(folder / SIDECAR / BASELINE, f"exported from a {list(baseline.masks.shape)} crop, "
                                                               f"the well is now {n_frames} x {size} x {size}: export again")
    if fmt == "ctc":
        labels, files = ctc.read_ctc_labels(folder, n_frames=n_frames, size=size)
        rows = ctc.read_man_track(folder / ctc.TRA / ctc.MAN_TRACK)
        imported = tracks_from_labels(labels, rows, source=folder / ctc.TRA / ctc.MAN_TRACK, images=files)
    else:
        labels = napari.read_napari_labels(folder, n_frames=n_frames, size=size)
        imported = tracks_from_labels(labels, None, source=folder / napari.LABELS_TIF)
    cells = None
    if (folder / CELLS_CSV).is_file():
        cells = read_cells_csv(folder / CELLS_CSV, n_frames=n_frames, labels=imported.labels,
                               with_parent=fmt == "napari")
    record = merge_import(imported, cells, baseline, new, chip_id=chip.chip_id, field_id=field_id, row=row, col=col,
                          well_box=box)
    return ImportedWell(folder, record, *new_label_counts(record, new))


def new_label_counts(record: WellAnnotation, new: LabelSource) -> tuple[int, int, int]:
    """How many labels of ``record`` come from ``new``: masks (track-frames), cell types, deaths."""
    is_new = [s == new for s in record.sources]
    masks = int(sum((record.mask_source == i).sum() for i, flag in enumerate(is_new) if flag))
    return masks, sum(t.type_source == new for t in record.tracks), sum(t.death_source == new for t in record.tracks)


def import_wells(chip: ChipStore, path: Path | str, fmt: Format, provenance: str) -> tuple[WriteResult, list[ImportedWell]]:
    """Import every well folder under ``path`` (or the one well folder ``path``) into the chip's
    annotations store, labels new or changed attributed to ``provenance``. All or nothing:
    any refused well (AnnotationError) leaves the store unchanged."""
    path = Path(path)
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r} is not one of {list(FORMATS)}")
    try:
        new = LabelSource.now(provenance)
    except ValueError as e:
        raise AnnotationError("--source", str(e)) from None
    if not path.exists():
        raise AnnotationError(path, "no such file or folder")
    geometry = well_geometry(chip)
    wells = [read_well_folder(chip, folder, fmt, new, geometry) for folder in well_folders(path, fmt)]
    result = write_wells(chip, [w.record for w in wells], sources=[w.folder for w in wells])
    return result, wells


__all__ = ["CELLS_CSV", "FORMATS", "CellRow", "Format", "ImportedWell", "cells_rows", "check_cells_rows",
           "export_wells", "import_wells", "merge_import", "new_label_counts", "read_cells_csv", "read_well_folder",
           "well_folder_name", "well_folders"]
