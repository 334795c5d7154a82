"""cell_masks end to end on a small simulated chip (a fake registry: well detector = the
truth's boxes, segmenter = an untrained cpu-profile LOCSNET through the real SegmentFn path), and
train_and_register -> load_segmenter on a tiny corpus in a temporary MLflow store."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest
import zarr

from lftiming_assets.models.assets import well_detector
from lftiming_assets.partitions import chips
from lftiming_assets.raw.assets import raw_chip
from lftiming_assets.resources import build_resources
from lftiming_assets.segmentation.assets import cell_masks, locsnet
from lftiming_assets.wells.assets import well_grid, well_movies
from lftiming_ml.segmentation.config import SEGMENTATION_CORPUS, CorpusSampling, segmenter_profile
from lftiming_ml.segmentation.serving import CELL_COLUMNS, load_segmenter
from lftiming_ml.segmentation.training import train_and_register
from lftiming_ml.store.masks import open_well_masks
from lftiming_ml.sim.chip import simulate_chip
from lftiming_ml.store.tables import chip_table_path
from lftiming_ml.store.movies import list_well_movies
from tests.assets.fakes import FakeRegistry
from tests.conftest import small_sim_config

CHIP = "sg-s21"
N_FRAMES = 3


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    cfg = small_sim_config(seed=21, n_frames=N_FRAMES)
    simulate_chip(tmp_path / "raw" / CHIP, cfg)
    return tmp_path


def test_cell_masks_writes_masks_and_table(data_dir: Path) -> None:
    tables = data_dir / "tables"
    registry = FakeRegistry(chip_dir=str(data_dir / "raw" / CHIP), versions={"locsnet": 3})
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(chips.name, [CHIP])
        defs = dg.Definitions(
            assets=[raw_chip, well_grid, well_movies, well_detector, locsnet, cell_masks],
            resources={**build_resources(str(data_dir)), "registry": registry},
            jobs=[dg.define_asset_job("all", selection=["raw_chip", "well_grid", "well_movies", "cell_masks"]),
                  dg.define_asset_job("masks", selection=["cell_masks"])])
        first = defs.resolve_job_def("all").execute_in_process(partition_key=CHIP, instance=instance)
        assert first.success
        cells = pd.read_parquet(chip_table_path(tables, "cell_masks", CHIP))
        again = defs.resolve_job_def("masks").execute_in_process(partition_key=CHIP, instance=instance)
        assert again.success

    assert {k: str(v) for k, v in cells.dtypes.items()} == {**CELL_COLUMNS, "model_version": "int64"}
    assert len(cells) > 0 and (cells.model_version == 3).all() and (cells.chip_id == CHIP).all()
    assert cells.groupby(["field_id", "row", "col", "frame"]).instance.max().le(3).all()
    assert ((cells.bbox_y0 <= cells.y) & (cells.y < cells.bbox_y1) & (cells.area > 0)).all()

    store = data_dir / "zarr" / f"{CHIP}.zarr"
    cropped = [i for i in list_well_movies(store) if i.cropped]
    assert cropped
    for info in cropped:
        masks, scores = open_well_masks(store, info.field_id, info.row, info.col)
        well = cells[(cells.field_id == info.field_id) & (cells.row == info.row) & (cells.col == info.col)]
        k = int(well.instance.max() + 1) if len(well) else 0
        assert masks.dtype == bool and masks.shape == (N_FRAMES, k, 96, 96)
        stored = zarr.open_array(str(store / info.group_path / "masks" / "instances"), mode="r")
        assert stored.chunks == (N_FRAMES, max(k, 1), 96, 96)  # one chunk per well: readers take it whole
        assert scores.dtype == np.float32 and scores.shape == (N_FRAMES, k)
        assert masks.sum(axis=(2, 3)).sum() == well.area.sum()
        assert np.isfinite(scores).sum() == len(well)

    check = next(e for e in again.get_asset_check_evaluations() if e.check_name == "no_empty_occupied_wells")
    assert check.metadata["well_frames"].value == N_FRAMES * len(cropped)
    rerun = pd.read_parquet(chip_table_path(tables, "cell_masks", CHIP))
    pd.testing.assert_frame_equal(rerun, cells)
    with duckdb.connect(str(data_dir / "lftiming.duckdb"), read_only=True) as con:
        n = con.sql("SELECT count(*) FROM cell_masks").fetchall()[0][0]
    assert n == len(cells)


def test_train_and_register_then_load(tmp_path: Path) -> None:
    corpus = SEGMENTATION_CORPUS.replace(presets=("standard",), n_chips=2, n_frames=2)
    light = segmenter_profile("cpu").model_copy(update={"max_detections": 4})
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    info, history, _ = train_and_register(
        kind="locsnet", corpus=corpus, sampling=CorpusSampling(keep_empty=0.0), corpus_root=tmp_path / "corpus",
        tracking_uri=uri, artifact_location=(tmp_path / "artifacts").as_uri(),
        overrides={"profile": light, "epochs": 1, "batch_size": 4, "warmup_steps": 0, "time_budget_min": 0.02,
                   "eval_batch_size": 16})
    assert (info.name, info.version, info.alias) == ("locsnet", 1, "champion")
    assert "val_miou" in history[-1] and history[-1]["steps"] >= 1
    segment, loaded = load_segmenter(tracking_uri=uri, model_name="locsnet")
    assert loaded.version == 1 and loaded.run_id == info.run_id
    found = segment(np.full((2, 96, 96), 1000, np.uint16))
    assert len(found) == 2 and all(f.masks.shape[1:] == (96, 96) for f in found)
