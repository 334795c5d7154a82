"""contacts -> well_outcomes -> killing_kinetics (the ``interactions`` multi-asset) on a small
simulated chip whose tracks, types, deaths and track masks are the truth in the pipeline's
layout (tests/interactions/pipeline_chip.py): tables, checks, plots, inputs built once,
views refreshed once per asset, params from run config recorded, subsets."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pydantic
import pytest

import lftiming_assets.interactions.assets as interaction_assets
from lftiming_assets.interactions.assets import interactions
from lftiming_assets.partitions import chips
from lftiming_assets.resources import build_resources
from lftiming_ml.interactions.config import SEGMENTED_MASK_TOLERANCE_UM, ContactParams, KineticsParams
from lftiming_ml.interactions.outcomes import CONTACT_TABLES, KILLING_TABLES, VERSION_COLUMNS, WELL_TABLES
from lftiming_ml.interactions.pipeline_inputs import PipelineInputs, pipeline_inputs
from lftiming_ml.store.tables import chip_table_path
from tests.assets.fakes import CountingChipTables
from tests.interactions.pipeline_chip import OUTCOME_VERSIONS, PipelineChip, build_pipeline_chip

OUTCOME_TABLES = [*CONTACT_TABLES, *WELL_TABLES, *KILLING_TABLES]
ASSETS = ["contacts", "well_outcomes", "killing_kinetics"]


@pytest.fixture(scope="module")
def chip(tmp_path_factory: pytest.TempPathFactory) -> PipelineChip:
    return build_pipeline_chip(tmp_path_factory.mktemp("interactions"))


def _metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    return next(m for m in result.get_asset_materialization_events()
                if m.asset_key == dg.AssetKey(asset)).materialization.metadata


def test_interaction_assets_write_tables_checks_and_plots(chip: PipelineChip, monkeypatch: pytest.MonkeyPatch) -> None:
    tmp_path = chip.tables_dir.parent
    built = []  # a spy on the library's inputs builder: the chip of each call

    def spy(chip_dir: Path, *args: object) -> PipelineInputs:
        built.append(Path(chip_dir).name)
        return pipeline_inputs(chip_dir, *args)

    monkeypatch.setattr(interaction_assets, "pipeline_inputs", spy)
    CountingChipTables.refreshes.clear()
    resources = build_resources(str(tmp_path))
    counting = CountingChipTables(tables_dir=resources["tables"].tables_dir, duckdb=resources["duckdb"])
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(chips.name, [chip.chip_id])
        defs = dg.Definitions(assets=[interactions], resources={**resources, "tables": counting},
                              jobs=[dg.define_asset_job("outcomes", selection=ASSETS)])
        job = defs.resolve_job_def("outcomes")
        first = job.execute_in_process(partition_key=chip.chip_id, instance=instance)
        assert first.success
        tables = {t: pd.read_parquet(chip_table_path(chip.tables_dir, t, chip.chip_id)) for t in OUTCOME_TABLES}
        again = job.execute_in_process(partition_key=chip.chip_id, instance=instance)
        assert again.success

    # once per chip run: the inputs built once, the views refreshed once per asset (not per table)
    assert built == [chip.chip_id, chip.chip_id]
    per_asset = [list(CONTACT_TABLES), list(WELL_TABLES), list(KILLING_TABLES)]
    assert CountingChipTables.refreshes == per_asset + per_asset

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

    contact_md = _metadata(again, "contacts")
    assert contact_md["tolerance_um"].value == SEGMENTED_MASK_TOLERANCE_UM  # the default for segmenter masks
    assert ContactParams.model_validate(contact_md["params"].value) == ContactParams(
        tolerance_um=SEGMENTED_MASK_TOLERANCE_UM)
    for asset in ("well_outcomes", "killing_kinetics"):
        assert KineticsParams.model_validate(_metadata(again, asset)["params"].value) == KineticsParams()
    killing = _metadata(again, "killing_kinetics")
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


def test_subset_reads_stored_tables_and_takes_run_config(chip: PipelineChip) -> None:
    """killing_kinetics alone, with other kinetics params: it reads the stored contact and
    well tables, rewrites only its own, records the params and runs only its checks."""
    tmp_path = chip.tables_dir.parent
    resources = build_resources(str(tmp_path))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(chips.name, [chip.chip_id])
        assert dg.materialize([interactions], partition_key=chip.chip_id, instance=instance,
                              resources=resources).success
        stored = {t: chip_table_path(chip.tables_dir, t, chip.chip_id).stat().st_mtime_ns
                  for t in OUTCOME_TABLES}
        before = pd.read_parquet(chip_table_path(chip.tables_dir, "killing_frequency", chip.chip_id))
        result = dg.materialize([interactions], partition_key=chip.chip_id, instance=instance, resources=resources,
                                selection=["killing_kinetics"],
                                run_config={"ops": {"interactions": {"config": {"kinetics": {"ci_level": 0.8}}}}})
        assert result.success

    assert [m.asset_key.to_user_string() for m in result.get_asset_materialization_events()] == ["killing_kinetics"]
    assert {e.asset_key.to_user_string() for e in result.get_asset_check_evaluations()} == {"killing_kinetics"}
    recorded = _metadata(result, "killing_kinetics")["params"].value
    assert KineticsParams.model_validate(recorded) == KineticsParams(ci_level=0.8)
    changed = {t for t, mtime in stored.items()
               if chip_table_path(chip.tables_dir, t, chip.chip_id).stat().st_mtime_ns != mtime}
    assert changed == set(KILLING_TABLES)
    after = pd.read_parquet(chip_table_path(chip.tables_dir, "killing_frequency", chip.chip_id))
    pd.testing.assert_frame_equal(after[["et_group", "n", "n_killed"]], before[["et_group", "n", "n_killed"]])
    assert ((after.ci_high - after.ci_low) <= (before.ci_high - before.ci_low) + 1e-12).all()  # 80% CIs: narrower
    assert ((after.ci_high - after.ci_low) < (before.ci_high - before.ci_low)).any()


def test_bad_interaction_params_fail_naming_the_field(chip: PipelineChip) -> None:
    resources = build_resources(str(chip.tables_dir.parent))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(chips.name, [chip.chip_id])
        with pytest.raises(dg.DagsterInvalidConfigError, match='unexpected config entry "tolerence_um"'):
            dg.materialize([interactions], partition_key=chip.chip_id, instance=instance, resources=resources,
                           run_config={"ops": {"interactions": {"config": {"contact": {"tolerence_um": 1.0}}}}})
        with pytest.raises(pydantic.ValidationError, match=r"ci_level\n.*less than 1"):
            dg.materialize([interactions], partition_key=chip.chip_id, instance=instance, resources=resources,
                           run_config={"ops": {"interactions": {"config": {"kinetics": {"ci_level": 1.5}}}}})
