"""``annotations``: what a chip's curated labels hold now (``lftiming_ml.annotations``).

The labels themselves are written outside Dagster (``lftiming annotate`` seeds them from the
simulator's truth or the pipeline's outputs, ``lftiming import`` brings corrections back from
napari, Fiji or TrackMate); this asset reads the chip's annotations store and shows its
version (the hash a training run names), the wells annotated and the labels per provenance,
and writes the ``annotations`` table (one row per well and provenance) for SQL.
"""

import dagster as dg

from lftiming_assets.partitions import chips
from lftiming_assets.resources import ChipTables, LftimingStorage
from lftiming_ml.annotations.store import list_versions, read_manifest
from lftiming_ml.annotations.summary import annotation_rows, damaged_records

CHECKS = [dg.AssetCheckSpec("records_match_hashes", asset="annotations", partitions_def=chips, description=(
    "Every well record of the current version reads back and hashes to the name it is stored under."))]


def _provenance_markdown(labels: dict[str, dict[str, int]]) -> str:
    lines = ["| provenance | masks (track-frames) | cell types | deaths |", "|---|---|---|---|"]
    lines += [f"| {p} | {c['masks']} | {c['cell_type']} | {c['death']} |" for p, c in labels.items()]
    return "\n".join(lines)


@dg.asset(partitions_def=chips, group_name="annotations", kinds={"json", "parquet"}, check_specs=CHECKS)
def annotations(context: dg.AssetExecutionContext, storage: LftimingStorage, tables: ChipTables):
    """Curated per-well labels of the chip (masks, tracks, cell types, deaths), each with its
    provenance (``human:<name>``, ``fluorescence``, ``model:<name>@<version>``, ``simulator``);
    versioned by content hash. Table ``annotations``."""
    chip = storage.layout.chip(context.partition_key)
    manifest = read_manifest(chip)
    tables.write(chip.chip_id, {"annotations": annotation_rows(manifest)})
    labels = manifest.labels_by_provenance()
    humans = sorted(p for p in labels if p.startswith("human:"))
    yield dg.MaterializeResult(metadata={
        "version": manifest.version if not manifest.empty else "(no annotations)",
        "previous_version": manifest.previous or "",
        "versions_kept": len(list_versions(chip)),
        "wells_annotated": len(manifest.wells),
        "fields_with_grid_labels": len(manifest.fields),
        "wells_with_human_labels": sum(any(p.startswith("human:") for p in s["labels"]) for s in manifest.summary.values()),
        "annotators": ", ".join(humans) or "none",
        "labels_by_provenance": dg.MetadataValue.md(_provenance_markdown(labels)),
        "store": dg.MetadataValue.path(str(chip.annotations_dir)),
    })
    problems = damaged_records(chip, manifest)
    yield dg.AssetCheckResult(check_name="records_match_hashes", passed=not problems,
                              metadata={"damaged": "; ".join(problems) or "none"})
