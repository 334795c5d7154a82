"""The ``annotations`` asset by direct call: what a lab user sees (version, wells, labels by
provenance), the ``annotations`` table, and the check that records match their hashes."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from lftiming_assets.annotations.assets import annotations
from lftiming_assets.resources import build_resources
from lftiming_ml.annotations.store import read_manifest, record_dir, write_wells
from lftiming_ml.annotations.summary import ANNOTATION_COLUMNS
from lftiming_ml.store.layout import ChipStore
from lftiming_ml.store.tables import read_chip_table
from lftiming_ml.truth.annotations import simulator_records
from tests.annotations.conftest import CHIP_ID
from tests.test_sql_queries import documented_columns


def _run(data_root: Path) -> tuple[dg.MaterializeResult, dg.AssetCheckResult]:
    resources = build_resources(str(data_root))
    context = dg.build_asset_context(partition_key=CHIP_ID)
    result, check = list(annotations(context, storage=resources["storage"], tables=resources["tables"]))
    return result, check


def test_annotations_asset_reports_the_store(chip: ChipStore, data_root: Path) -> None:
    result, check = _run(data_root)  # nothing annotated yet: an empty table, no version
    assert result.metadata["wells_annotated"] == 0 and result.metadata["version"] == "(no annotations)"
    assert check.passed and read_chip_table(chip.tables_dir, "annotations", CHIP_ID).empty

    version = write_wells(chip, simulator_records(chip)).version
    result, check = _run(data_root)
    assert result.metadata["version"] == version and result.metadata["wells_annotated"] == 8
    assert result.metadata["annotators"] == "none" and result.metadata["versions_kept"] == 1
    assert "| simulator |" in result.metadata["labels_by_provenance"].value
    table = read_chip_table(chip.tables_dir, "annotations", CHIP_ID)
    assert len(table) == 8 and (table["annotations_version"] == version).all() and check.passed
    assert list(table.columns) == list(ANNOTATION_COLUMNS) and set(table.columns) == documented_columns()["annotations"]

    manifest = read_manifest(chip)
    (record_dir(chip, manifest.wells["f000/r0c1"]) / "masks.npz").write_bytes(b"damaged")
    _, check = _run(data_root)
    assert not check.passed and "f000/r0c1" in check.metadata["damaged"].value


def test_definitions_hold_the_annotations_asset_and_job() -> None:
    from lftiming_assets.definitions import defs
    from lftiming_assets.jobs import CHIP_ASSETS

    assert defs.resolve_job_def("summarize_annotations") is not None
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert "annotations" in keys
    assert annotations not in CHIP_ASSETS  # read on demand, not part of every pipeline run
