"""contacts -> well_outcomes -> killing_kinetics on a small simulated chip whose tracks, types,
deaths and track masks are the truth in the pipeline's layout (tests/interactions/pipeline_chip.py)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd

from lftiming_assets.interactions.assets import contacts, killing_kinetics, well_outcomes
from lftiming_assets.partitions import chips
from lftiming_assets.resources import build_resources
from lftiming_ml.interactions.config import SEGMENTED_MASK_TOLERANCE_UM
from lftiming_ml.interactions.outcomes import CONTACT_TABLES, KILLING_TABLES, VERSION_COLUMNS, WELL_TABLES
from lftiming_ml.store.tables import chip_table_path
from tests.interactions.pipeline_chip import OUTCOME_VERSIONS, build_pipeline_chip

OUTCOME_TABLES = [*CONTACT_TABLES, *WELL_TABLES, *KILLING_TABLES]


def test_interaction_assets_write_tables_checks_and_plots(tmp_path: Path) -> None:
    chip = build_pipeline_chip(tmp_path)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(chips.name, [chip.chip_id])
        defs = dg.Definitions(assets=[contacts, well_outcomes, killing_kinetics],
                              resources=build_resources(str(tmp_path)),
                              jobs=[dg.define_asset_job("outcomes", selection=["contacts", "well_outcomes",
                                                                                "killing_kinetics"])])
        job = defs.resolve_job_def("outcomes")
        first = job.execute_in_process(partition_key=chip.chip_id, instance=instance)
        assert first.success
        tables = {t: pd.read_parquet(chip_table_path(chip.tables_dir, t, chip.chip_id)) for t in OUTCOME_TABLES}
        again = job.execute_in_process(partition_key=chip.chip_id, instance=instance)
        assert again.success

    assert OUTCOME_VERSIONS["reid_version"] == 6  # cell_tracks.reid_version of the chip
    for name, df in tables.items():
        assert len(df) > 0, name
        assert (df["chip_id"] == chip.chip_id).all(), name
        for column, version in OUTCOME_VERSIONS.items():
            assert (df[column] == version).all() and df[column].dtype == "int64", (name, column)

    evaluations = again.get_asset_check_evaluations()
    assert {e.check_name for e in evaluations} == {
        "no_negative_durations", "one_row_per_pair_frame", "one_row_per_well", "t_death_only_for_killed",
        "one_row_per_interaction"}
    assert len(evaluations) == 7 and all(e.passed for e in evaluations)

    contact_md = next(m for m in again.get_asset_materialization_events()
                      if m.asset_key == dg.AssetKey("contacts")).materialization.metadata
    assert contact_md["tolerance_um"].value == SEGMENTED_MASK_TOLERANCE_UM  # the default for segmenter masks
    killing = next(m for m in again.get_asset_materialization_events()
                   if m.asset_key == dg.AssetKey("killing_kinetics")).materialization.metadata
    assert killing["killing_curves"].value.startswith("![killing curves by E:T group](data:image/png;base64,")
    for name in ("killing_curves.png", "kinetics_distributions.png"):
        png = tmp_path / "reports" / chip.chip_id / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert killing["interactions"].value == len(tables["killing_kinetics"])

    # Re-materializing replaced the chip's rows: the database holds each row once.
    rerun = {t: pd.read_parquet(chip_table_path(chip.tables_dir, t, chip.chip_id)) for t in OUTCOME_TABLES}
    with duckdb.connect(str(tmp_path / "lftiming.duckdb"), read_only=True) as con:
        for name, df in rerun.items():
            pd.testing.assert_frame_equal(df, tables[name])
            assert con.execute(f"SELECT count(*) FROM {name}").fetchone()[0] == len(df), name
        cols = [r[0] for r in con.execute("DESCRIBE killing_kinetics").fetchall()]
    assert cols[0] == "chip_id" and cols[-4:] == VERSION_COLUMNS
