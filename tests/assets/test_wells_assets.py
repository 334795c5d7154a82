"""well_grid and well_movies assets end to end on a small simulated chip (the detector is
replaced by the truth's boxes through a fake registry; the detector itself is tested in
tests/wells)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from lftiming_assets.models.assets import well_detector
from lftiming_assets.partitions import chips
from lftiming_assets.raw.assets import raw_chip
from lftiming_assets.resources import build_resources
from lftiming_assets.wells.assets import well_grid, well_movies
from lftiming_ml.evaluation.chip import evaluate_chip
from lftiming_ml.sim.chip import simulate_chip
from lftiming_ml.wells.config import WellGridParams
from lftiming_ml.store.movies import list_well_movies
from tests.assets.fakes import FakeRegistry
from tests.conftest import small_sim_config
from lftiming_ml.store.layout import DataLayout


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    cfg = small_sim_config(seed=21, n_frames=5)
    simulate_chip(tmp_path / "raw" / "wl-s21", cfg)
    return tmp_path


def test_wells_pipeline_materializes_and_scores(data_dir: Path) -> None:
    chip = data_dir / "raw" / "wl-s21"
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(chips.name, ["wl-s21"])
        defs = dg.Definitions(assets=[raw_chip, well_grid, well_movies, well_detector],
                              resources={**build_resources(str(data_dir)), "registry": FakeRegistry(chip_dir=str(chip))},
                              jobs=[dg.define_asset_job("wells", selection=["raw_chip", "well_grid", "well_movies"])])
        result = defs.resolve_job_def("wells").execute_in_process(partition_key="wl-s21", instance=instance)
    assert result.success
    for asset in ("well_grid", "well_movies"):  # the effective params, here the library's defaults
        params = result.asset_materializations_for_node(asset)[0].metadata["params"].value
        assert WellGridParams.model_validate(params) == WellGridParams()
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"frames_stable": True, "full_lattice": True, "drift_bounded": True, "no_nan": True,
                      "occupied_wells": True}
    with duckdb.connect(str(data_dir / "lftiming.duckdb"), read_only=True) as con:
        n, version = con.sql("SELECT count(*), max(detector_version) FROM well_grid WHERE frame = 0").fetchall()[0]
    assert (n, version) == (9, 1)
    assert len(list_well_movies(data_dir / "zarr" / "wl-s21.zarr")) == 9
    report = evaluate_chip(DataLayout(data_dir).chip("wl-s21"))
    assert report["wells"]["recall"] == 1.0 and report["wells"]["mean_centre_error"] < 0.5
