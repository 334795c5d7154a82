"""raw_chip asset, its check, the folder sensor, and that the definitions load."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pytest
import tifffile

from lftiming_assets.definitions import defs
from lftiming_assets.partitions import chips
from lftiming_assets.raw.assets import raw_chip
from lftiming_assets.raw.sensors import new_chip_folders
from lftiming_assets.resources import build_resources
from lftiming_ml.chip import ChipValidationError


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    (tmp_path / "raw").mkdir()
    return tmp_path


def test_definitions_load() -> None:
    assert defs.resolve_job_def("chip_pipeline") is not None
    assert defs.resolve_sensor_def("new_chip_folders") is not None
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert "raw_chip" in keys


def _materialize(data_dir: Path, chip_id: str) -> dg.MaterializeResult:
    resources = build_resources(str(data_dir))
    context = dg.build_asset_context(partition_key=chip_id)
    return raw_chip(context, storage=resources["storage"], tables=resources["tables"])


def test_raw_chip_records_metadata_and_one_row_per_chip(data_dir: Path, tiny_chip) -> None:
    tiny_chip("chip-a", root=data_dir / "raw")
    tiny_chip("chip-b", root=data_dir / "raw", condition="donor 7")
    for chip_id in ("chip-a", "chip-b", "chip-a"):  # chip-a twice: replaced, not duplicated
        result = _materialize(data_dir, chip_id)
    assert result.metadata["frames"] == 3 and result.metadata["fields"] == 1
    assert "data:image/png;base64," in result.metadata["preview"].md_str
    assert (data_dir / "reports" / "chip-a" / "raw_preview.png").stat().st_size > 100
    assert result.check_results[0].passed
    with duckdb.connect(str(data_dir / "lftiming.duckdb"), read_only=True) as con:
        rows = con.sql("SELECT chip_id, condition FROM chips ORDER BY chip_id").fetchall()
    assert rows == [("chip-a", None), ("chip-b", "donor 7")]


def test_blank_frame_fails_the_check(data_dir: Path, tiny_chip) -> None:
    chip = tiny_chip("chip-a", root=data_dir / "raw")
    stack = tifffile.imread(chip / "f000/phase.tif")
    stack[1] = 0
    tifffile.imwrite(chip / "f000/phase.tif", stack, imagej=True)
    check = _materialize(data_dir, "chip-a").check_results[0]
    assert not check.passed
    assert check.metadata["unstable_frames"].data[0]["frame"] == 1


def test_invalid_chip_raises_naming_the_file(data_dir: Path, tiny_chip) -> None:
    chip = tiny_chip("chip-a", root=data_dir / "raw")
    tifffile.imwrite(chip / "f000/pkh67.tif", np.zeros((2, 24, 32), np.uint16), imagej=True)
    with pytest.raises(ChipValidationError, match="pkh67.tif: missing frames"):
        _materialize(data_dir, "chip-a")
    assert not (data_dir / "tables" / "chips" / "chip-a.parquet").exists()


def test_sensor_registers_new_chip_folders_once(data_dir: Path, tiny_chip) -> None:
    tiny_chip("chip-a", root=data_dir / "raw")
    tiny_chip("chip-b", root=data_dir / "raw")
    (data_dir / "raw" / "copying-in-progress").mkdir()  # no chip.json yet: ignored
    resources = build_resources(str(data_dir))
    with dg.instance_for_test() as instance:
        result = new_chip_folders(dg.build_sensor_context(instance=instance, resources={"storage": resources["storage"]}))
        assert [r.partition_key for r in result.run_requests] == ["chip-a", "chip-b"]
        assert result.dynamic_partitions_requests[0].partition_keys == ["chip-a", "chip-b"]
        instance.add_dynamic_partitions(chips.name, ["chip-a", "chip-b"])
        again = new_chip_folders(dg.build_sensor_context(instance=instance, resources={"storage": resources["storage"]}))
        assert again.run_requests == [] and again.dynamic_partitions_requests == []


def test_chip_pipeline_runs_end_to_end(data_dir: Path, tiny_chip) -> None:
    tiny_chip("chip-a", root=data_dir / "raw")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(chips.name, ["chip-a"])
        test_defs = dg.Definitions(assets=[raw_chip], resources=build_resources(str(data_dir)),
                                   jobs=[dg.define_asset_job("chip_pipeline")])
        result = test_defs.resolve_job_def("chip_pipeline").execute_in_process(partition_key="chip-a", instance=instance)
        assert result.success
        evals = result.get_asset_check_evaluations()
        assert [e.check_name for e in evals] == ["frames_stable"] and evals[0].passed
        assert instance.get_latest_materialization_event(dg.AssetKey("raw_chip")) is not None
