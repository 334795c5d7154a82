"""What a chip's annotations hold, as a table and as checks (for the ``annotations`` asset).

``annotation_rows``: one row per annotated well and provenance (``ANNOTATION_COLUMNS``,
``docs/tables.md``), so SQL can ask which wells a person corrected, in which version.
``damaged_records``: wells (and fields' grid labels) whose stored record is missing or no
longer matches its hash.
"""

from __future__ import annotations

import pandas as pd

from lftiming_ml.annotations.schema import parse_well_name
from lftiming_ml.annotations.store import AnnotationManifest, read_grid, read_well
from lftiming_ml.annotations.validate import AnnotationError
from lftiming_ml.store.layout import ChipStore

ANNOTATION_COLUMNS = {
    "chip_id": "object", "field_id": "object", "row": "int64", "col": "int64", "annotations_version": "object",
    "record": "object", "n_frames": "int64", "n_tracks": "int64", "provenance": "object", "mask_labels": "int64",
    "type_labels": "int64", "death_labels": "int64",
}


def annotation_rows(manifest: AnnotationManifest) -> pd.DataFrame:
    """One row per (well, provenance) of ``manifest`` (``ANNOTATION_COLUMNS``)."""
    rows = []
    for well, record in sorted(manifest.wells.items()):
        field_id, row, col = parse_well_name(well)
        s = manifest.summary[well]
        for prov, counts in s["labels"].items():
            rows.append({"chip_id": manifest.chip_id, "field_id": field_id, "row": row, "col": col,
                         "annotations_version": manifest.version, "record": record, "n_frames": s["n_frames"],
                         "n_tracks": s["n_tracks"], "provenance": prov, "mask_labels": counts["masks"],
                         "type_labels": counts["cell_type"], "death_labels": counts["death"]})
    return pd.DataFrame(rows, columns=list(ANNOTATION_COLUMNS)).astype(ANNOTATION_COLUMNS)


def damaged_records(chip: ChipStore, manifest: AnnotationManifest) -> list[str]:
    """``well: problem`` for each record (and ``field: problem`` for each grid label) of
    ``manifest`` that cannot be read back as hashed."""
    problems = []
    for well in sorted(manifest.wells):
        try:
            read_well(chip, well, version=manifest.version)
        except AnnotationError as e:
            problems.append(f"{well}: {e}")
    for field_id in sorted(manifest.fields):
        try:
            read_grid(chip, field_id, version=manifest.version)
        except AnnotationError as e:
            problems.append(f"{field_id} grid: {e}")
    return problems


__all__ = ["ANNOTATION_COLUMNS", "annotation_rows", "damaged_records"]
