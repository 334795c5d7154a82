"""The annotations store of one chip: curated well records, versioned by content.

Layout (``ChipStore.annotations_dir``, ``<data>/annotations/<chip_id>/``)::

    records/<sha256>/       one well's record (``records``), named by its content hash;
                            written once, never changed
    grids/<sha256>.json     one field's well-grid label (``grid.FieldGridLabel``), the same way
    versions/<sha256>.json  every manifest that was ever current, named by its version
    current.json            the current manifest (replaced atomically: temp file + rename)
    .lock                   taken (``fcntl.flock``) around each read-modify-write

A manifest maps each annotated well (``f000/r0c1``) to its record hash, and each field
with a grid label to that label's hash. The chip's annotation **version** is the sha256 of
the canonical JSON of ``{"chip_id", "wells"}`` (plus ``"fields"`` when a field has a grid
label, so versions without grids keep their hash), so it changes iff some label (or its
provenance or time) changes, and a training run
that names a version can re-read exactly those records (``read_well(..., version=...)``).
Beside the hashed part a manifest file carries ``previous`` (the version it replaced),
``created`` and a per-well ``summary`` (frames, tracks, labels by provenance).

Writes validate every record first (``validate.validate_well`` against the chip's well
movies) and touch nothing when one is refused. Writing a record whose labels and
provenances equal the stored one's (times aside) keeps the stored one, so re-running a
source does not make a new version. Two writers of different wells both survive: the
manifest is re-read under the lock. (Local filesystems; ``flock`` is advisory.)
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from lftiming_ml.annotations.grid import FieldGridLabel, check_grid_label, grid_label_from_json
from lftiming_ml.annotations.records import read_record, write_record
from lftiming_ml.annotations.schema import WellAnnotation, same_labels, utc_now
from lftiming_ml.annotations.validate import AnnotationError, validate_well
from lftiming_ml.chip.manifest import ChipManifest
from lftiming_ml.io import atomic_file
from lftiming_ml.store.layout import ChipStore
from lftiming_ml.store.movies import list_well_movies, well_movie_shape

CURRENT = "current.json"
LOCK = ".lock"


@dataclass(frozen=True)
class AnnotationManifest:
    """One version of a chip's annotations: ``wells`` (well -> record hash), ``summary``
    (well -> n_frames, n_tracks, labels by provenance), ``previous`` version, ``created``."""

    chip_id: str
    wells: dict[str, str] = field(default_factory=dict)
    summary: dict[str, dict] = field(default_factory=dict)
    previous: str | None = None
    created: str | None = None
    fields: dict[str, str] = field(default_factory=dict)  # field id -> grid label hash

    def _hashed(self) -> dict:
        body: dict = {"chip_id": self.chip_id, "wells": dict(sorted(self.wells.items()))}
        if self.fields:
            body["fields"] = dict(sorted(self.fields.items()))
        return body

    @property
    def version(self) -> str:
        """sha256 of the canonical ``{"chip_id", "wells"[, "fields"]}`` JSON."""
        body = json.dumps(self._hashed(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(body.encode()).hexdigest()

    @property
    def empty(self) -> bool:
        return not self.wells and not self.fields

    def to_json(self) -> str:
        return json.dumps({**self._hashed(), "version": self.version, "previous": self.previous,
                           "created": self.created, "summary": dict(sorted(self.summary.items()))},
                          indent=1, sort_keys=True)

    def labels_by_provenance(self) -> dict[str, dict[str, int]]:
        """Summed over wells: per provenance, masks (track-frames), cell_type and death labels."""
        out: dict[str, dict[str, int]] = {}
        for s in self.summary.values():
            for prov, counts in s["labels"].items():
                acc = out.setdefault(prov, {"masks": 0, "cell_type": 0, "death": 0})
                for k, v in counts.items():
                    acc[k] += v
        return dict(sorted(out.items()))


@dataclass(frozen=True)
class WriteResult:
    """What ``write_wells`` did: the version now current, wells whose record it wrote,
    wells left as they were (same labels)."""

    version: str
    written: list[str]
    unchanged: list[str]


def _parse_manifest(path: Path) -> AnnotationManifest:
    try:
        d = json.loads(path.read_text())
        m = AnnotationManifest(d["chip_id"], dict(d["wells"]), dict(d.get("summary", {})), d.get("previous"),
                               d.get("created"), dict(d.get("fields") or {}))
    except (OSError, KeyError, TypeError, ValueError) as e:
        raise AnnotationError(path, f"not a readable annotations manifest ({type(e).__name__}: {e})") from None
    if d.get("version") != m.version:
        raise AnnotationError(path, f"manifest says version {d.get('version')} but its content hashes to {m.version}")
    return m


def read_manifest(chip: ChipStore, version: str | None = None) -> AnnotationManifest:
    """The current manifest (an empty one when nothing is annotated), or that of ``version``
    (AnnotationError when the chip never had it)."""
    root = chip.annotations_dir
    if version is None:
        path = root / CURRENT
        return _parse_manifest(path) if path.is_file() else AnnotationManifest(chip.chip_id)
    path = root / "versions" / f"{version}.json"
    if not path.is_file():
        raise AnnotationError(path, f"chip {chip.chip_id} has no annotations version {version}")
    return _parse_manifest(path)


def list_versions(chip: ChipStore) -> list[AnnotationManifest]:
    """Every version the chip's annotations ever had, oldest first (by ``created``)."""
    found = [_parse_manifest(p) for p in sorted((chip.annotations_dir / "versions").glob("*.json"))]
    return sorted(found, key=lambda m: (m.created or "", m.version))


def record_dir(chip: ChipStore, record_hash: str) -> Path:
    return chip.annotations_dir / "records" / record_hash


def read_well(chip: ChipStore, well: str, *, version: str | None = None) -> WellAnnotation:
    """A well's record in the current (or a named) version; KeyError-like AnnotationError
    when that version does not annotate the well. The record is checked against its hash."""
    manifest = read_manifest(chip, version)
    if well not in manifest.wells:
        raise AnnotationError(chip.annotations_dir, f"well {well} is not annotated in version {manifest.version}")
    h = manifest.wells[well]
    record = read_record(record_dir(chip, h))
    if record.content_hash() != h:
        raise AnnotationError(record_dir(chip, h), "record content does not match its hash (the store is damaged)")
    return record


def well_geometry(chip: ChipStore) -> dict[str, tuple[int, int, tuple[float, float, float, float]]]:
    """Per cropped well of the chip store: ``(n_frames, crop size, well box)``."""
    out = {}
    for info in list_well_movies(chip.zarr_path):
        if info.cropped:
            size = int(well_movie_shape(chip.zarr_path, info)[-1])
            out[f"{info.field_id}/r{info.row}c{info.col}"] = (info.n_frames, size, tuple(info.well_box_px))
    return out


def validate_against_store(chip: ChipStore, records: Sequence[WellAnnotation],
                           sources: Sequence[str | Path | None] | None = None) -> None:
    """Each record belongs to this chip, to one of its cropped wells, fits its movie and box."""
    geometry = well_geometry(chip)
    for record, src in zip(records, sources or [None] * len(records)):
        where = src or f"{record.chip_id}:{record.well}"
        if record.chip_id != chip.chip_id:
            raise AnnotationError(where, f"labels of chip {record.chip_id!r} cannot go into chip {chip.chip_id!r}")
        if record.well not in geometry:
            raise AnnotationError(where, f"chip {chip.chip_id} has no cropped well {record.well} in its store "
                                         f"{chip.zarr_path} (wells: {', '.join(sorted(geometry)) or 'none'})")
        n_frames, size, box = geometry[record.well]
        if tuple(float(v) for v in record.well_box) != tuple(float(v) for v in box):
            raise AnnotationError(where, f"well box {record.well_box} is not the store's {box}")
        validate_well(record, n_frames=n_frames, size=size, source=where)


@contextmanager
def chip_lock(chip: ChipStore) -> Iterator[None]:
    """Exclusive lock on the chip's annotations (blocks until free)."""
    chip.annotations_dir.mkdir(parents=True, exist_ok=True)
    with open(chip.annotations_dir / LOCK, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def write_wells(chip: ChipStore, records: Sequence[WellAnnotation], *,
                sources: Sequence[str | Path | None] | None = None) -> WriteResult:
    """Validate ``records`` (AnnotationError naming ``sources[i]`` or the record, nothing
    written), then store each under its hash and make a new current version holding them
    beside the chip's other wells. Returns the version and what changed."""
    wells = [r.well for r in records]
    if len(set(wells)) != len(wells):
        raise AnnotationError(chip.annotations_dir, f"one record per well, got {sorted(wells)}")
    validate_against_store(chip, records, sources)
    records = [r.canonical() for r in records]
    with chip_lock(chip):
        current = read_manifest(chip)
        new_wells, summary = dict(current.wells), dict(current.summary)
        written, unchanged = [], []
        for record in records:
            old = current.wells.get(record.well)
            if old is not None and same_labels(read_record(record_dir(chip, old)), record):
                unchanged.append(record.well)
                continue
            h = record.content_hash()
            if not (record_dir(chip, h) / "record.json").is_file():
                write_record(record, record_dir(chip, h), overwrite=True)
            new_wells[record.well] = h
            summary[record.well] = {"n_frames": record.n_frames, "n_tracks": record.n_tracks,
                                    "labels": record.labels_by_provenance()}
            written.append(record.well)
        manifest = AnnotationManifest(chip.chip_id, new_wells, summary, previous=current.version, created=utc_now(),
                                      fields=dict(current.fields))
        _make_current(chip, manifest, current)
    return WriteResult(manifest.version, written, unchanged)


def _make_current(chip: ChipStore, manifest: AnnotationManifest, current: AnnotationManifest) -> None:
    """Store ``manifest`` as a version and make it current (nothing when it equals ``current``)."""
    if manifest.version == current.version:
        return
    version_file = chip.annotations_dir / "versions" / f"{manifest.version}.json"
    if not version_file.is_file():
        with atomic_file(version_file) as tmp:
            tmp.write_text(manifest.to_json())
    with atomic_file(chip.annotations_dir / CURRENT) as tmp:
        tmp.write_text(version_file.read_text())


def grid_path(chip: ChipStore, label_hash: str) -> Path:
    return chip.annotations_dir / "grids" / f"{label_hash}.json"


def read_grid(chip: ChipStore, field_id: str, *, version: str | None = None) -> FieldGridLabel:
    """A field's grid label in the current (or a named) version, checked against its hash."""
    manifest = read_manifest(chip, version)
    if field_id not in manifest.fields:
        raise AnnotationError(chip.annotations_dir, f"field {field_id} has no grid label in version {manifest.version}")
    path = grid_path(chip, manifest.fields[field_id])
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise AnnotationError(path, f"not a readable well-grid label ({type(e).__name__}: {e})") from None
    label = grid_label_from_json(data, source=path)
    if label.content_hash() != manifest.fields[field_id]:
        raise AnnotationError(path, "grid label content does not match its hash (the store is damaged)")
    return label


def write_grids(chip: ChipStore, labels: Sequence[FieldGridLabel], manifest: ChipManifest, *,
                sources: Sequence[str | Path | None] | None = None) -> WriteResult:
    """Check every field's grid label against the raw chip's ``manifest`` (AnnotationError
    naming ``sources[i]`` or the label; nothing written when one is refused), then store
    them beside the chip's other labels as a new current version. ``written``/``unchanged``
    name fields."""
    fields = [g.field_id for g in labels]
    if len(set(fields)) != len(fields):
        raise AnnotationError(chip.annotations_dir, f"one grid label per field, got {sorted(fields)}")
    for label, src in zip(labels, sources or [None] * len(labels)):
        check_grid_label(label, manifest, source=src)
    labels = [g.canonical() for g in labels]
    with chip_lock(chip):
        current = read_manifest(chip)
        new_fields = dict(current.fields)
        written, unchanged = [], []
        for label in labels:
            old = current.fields.get(label.field_id)
            if old is not None and read_grid(chip, label.field_id).same_label(label):
                unchanged.append(label.field_id)
                continue
            h = label.content_hash()
            if not grid_path(chip, h).is_file():
                with atomic_file(grid_path(chip, h)) as tmp:
                    tmp.write_text(json.dumps(label.meta(), indent=1, sort_keys=True))
            new_fields[label.field_id] = h
            written.append(label.field_id)
        new = AnnotationManifest(chip.chip_id, dict(current.wells), dict(current.summary), previous=current.version,
                                 created=utc_now(), fields=new_fields)
        _make_current(chip, new, current)
    return WriteResult(new.version, written, unchanged)


def restore_version(chip: ChipStore, version: str) -> AnnotationManifest:
    """Make an earlier ``version`` of the chip's annotations current again (undo the writes
    since: their records and versions stay in the store, so they can be restored in turn).
    AnnotationError when the chip never had ``version`` or one of its records is gone."""
    with chip_lock(chip):
        manifest = read_manifest(chip, version)
        lost = sorted([w for w, h in manifest.wells.items() if not (record_dir(chip, h) / "record.json").is_file()]
                      + [f for f, h in manifest.fields.items() if not grid_path(chip, h).is_file()])
        if lost:
            raise AnnotationError(chip.annotations_dir, f"version {version} cannot be restored: the records of "
                                                        f"{', '.join(lost)} are missing")
        version_file = chip.annotations_dir / "versions" / f"{version}.json"
        with atomic_file(chip.annotations_dir / CURRENT) as tmp:
            tmp.write_text(version_file.read_text())
    return manifest


__all__ = ["AnnotationManifest", "WriteResult", "chip_lock", "grid_path", "list_versions", "read_grid", "read_manifest",
           "read_well", "record_dir", "restore_version", "validate_against_store", "well_geometry", "write_grids",
           "write_wells"]
