"""Annotation selections of a training corpus resolved against the annotations store.

``resolve_selection`` fixes a ``corpus.AnnotationSelection`` to one stored version of the
chip's annotations (the current one when none is named; a unique prefix of >= 8 hex
digits names one too) and refuses, naming the chip and the versions it has, a version the
chip never had. ``ResolvedSelection.records`` reads exactly the records of that version
(each checked against its hash), with the labels the provenance filter does not keep
removed (``select_labels``); ``describe`` is what the training run's manifest records:
chip, version, filter, the record hash of every well, the labels kept by provenance.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from lftiming_ml.annotations.grid import FieldGridLabel
from lftiming_ml.annotations.schema import TrackLabel, WellAnnotation
from lftiming_ml.annotations.store import AnnotationManifest, list_versions, read_grid, read_manifest, read_well
from lftiming_ml.annotations.validate import AnnotationError
from lftiming_ml.corpus import AnnotationSelection
from lftiming_ml.store.layout import ChipStore, DataLayout


def select_labels(record: WellAnnotation, selection: AnnotationSelection) -> tuple[WellAnnotation, np.ndarray]:
    """``record`` with only the labels ``selection.matches`` keeps (other masks emptied,
    other types and deaths unlabelled), and ``complete (bool[T])``: frames where every mask
    of the record was kept, so the filtered frame still shows all its cells."""
    keep_source = np.array([selection.matches(s.provenance) for s in record.sources] + [False])
    has_mask = record.mask_source >= 0
    kept = has_mask & keep_source[record.mask_source]
    complete = ~(has_mask & ~kept).any(axis=1)
    masks = record.masks & kept[:, :, None, None]
    tracks = []
    for t in record.tracks:
        type_ok = t.type_source is not None and selection.matches(t.type_source.provenance)
        death_ok = t.death_source is not None and selection.matches(t.death_source.provenance)
        tracks.append(TrackLabel(t.track_id, t.cell_type if type_ok else None, t.type_source if type_ok else None,
                                 t.death_frame if death_ok else None, t.death_source if death_ok else None, t.parent))
    return replace(record, masks=masks, mask_source=np.where(kept, record.mask_source, -1).astype(np.int32),
                   tracks=tuple(tracks)), complete


def _find_version(chip: ChipStore, version: str) -> AnnotationManifest:
    known = list_versions(chip)
    found = [m for m in known if m.version.startswith(version)]
    if len(found) == 1:
        return found[0]
    listed = ", ".join(m.version[:12] for m in known) or "none"
    problem = "matches several" if found else "is not one"
    raise AnnotationError(chip.annotations_dir, f"annotation selection {chip.chip_id}@{version}: {version} "
                                                f"{problem} of the chip's annotations versions ({listed})")


@dataclass(frozen=True)
class ResolvedSelection:
    """A selection fixed to one stored version (``manifest``) of ``chip``'s annotations."""

    selection: AnnotationSelection
    chip: ChipStore
    manifest: AnnotationManifest

    @property
    def version(self) -> str:
        return self.manifest.version

    def records(self) -> Iterator[tuple[WellAnnotation, np.ndarray]]:
        """``(filtered record, complete frames bool[T])`` of every well of the version, in well order."""
        for well in sorted(self.manifest.wells):
            yield select_labels(read_well(self.chip, well, version=self.version), self.selection)

    def grids(self) -> Iterator[FieldGridLabel]:
        """The well-grid label of every field of the version whose provenance the filter keeps."""
        for field_id in sorted(self.manifest.fields):
            label = read_grid(self.chip, field_id, version=self.version)
            if self.selection.matches(label.source.provenance):
                yield label

    def describe(self) -> dict:
        """The manifest entry: chip, version, filter, split, per well its record hash, and the
        labels kept by provenance (masks in track-frames, cell types and deaths in tracks);
        with grid labels, per field the label's hash."""
        labels: dict[str, dict[str, int]] = {}
        for summary in self.manifest.summary.values():
            for prov, counts in summary["labels"].items():
                if self.selection.matches(prov):
                    acc = labels.setdefault(prov, {"masks": 0, "cell_type": 0, "death": 0})
                    for k, v in counts.items():
                        acc[k] += int(v)
        return {"chip_id": self.chip.chip_id, "version": self.version, "split": self.selection.split,
                "provenances": list(self.selection.provenances) or "all", "n_wells": len(self.manifest.wells),
                "records": dict(sorted(self.manifest.wells.items())), "labels": dict(sorted(labels.items())),
                **({"grids": dict(sorted(self.manifest.fields.items()))} if self.manifest.fields else {})}


def resolve_selection(layout: DataLayout, selection: AnnotationSelection) -> ResolvedSelection:
    """Fix ``selection`` to a stored version; AnnotationError naming the chip when it has no
    annotations, or no (single) version matching the one named."""
    chip = layout.chip(selection.chip_id)
    if selection.version is None:
        manifest = read_manifest(chip)
        if manifest.empty:
            raise AnnotationError(chip.annotations_dir, f"annotation selection {chip.chip_id}: the chip has no "
                                                        "annotations (lftiming annotate / import first)")
    else:
        manifest = _find_version(chip, selection.version)
    return ResolvedSelection(selection.model_copy(update={"version": manifest.version}), chip, manifest)


__all__ = ["ResolvedSelection", "resolve_selection", "select_labels"]
