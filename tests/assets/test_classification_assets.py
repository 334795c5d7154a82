"""cell_types / cell_deaths end to end on a small simulated chip (a fake registry: wells from
the truth's boxes, untrained classifiers through the real Classifier path; one disk-shaped
cell per well as the tracker's input), and train_and_register -> load_classifier in a
temporary MLflow store."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest

from lftiming_assets.classification.assets import apoptosis_classifier, cell_deaths, cell_types, celltype_classifier
from lftiming_assets.models.assets import well_detector
from lftiming_assets.partitions import chips
from lftiming_assets.raw.assets import raw_chip
from lftiming_assets.resources import build_resources
from lftiming_assets.wells.assets import well_grid, well_movies
from lftiming_ml.classification.config import CLASSIFICATION_CORPUS
from lftiming_ml.corpus import corpus_chips
from lftiming_ml.models.registry import load_by_alias
from lftiming_ml.evaluation.classification import evaluate_classification
from lftiming_ml.classification.serving import CELL_DEATH_COLUMNS, CELL_TYPE_COLUMNS, load_classifier
from lftiming_ml.classification.training import train_and_register
from lftiming_ml.sim.chip import simulate_chip
from lftiming_ml.store.tables import chip_table_path, write_chip_table
from lftiming_ml.tracking.chip import chip_cell_tracks
from lftiming_ml.store.masks import write_well_masks
from lftiming_ml.store.movies import list_well_movies
from tests.assets.fakes import TINY_CLASSIFIER as TINY
from tests.assets.fakes import FakeRegistry
from tests.conftest import small_sim_config

CHIP = "cls-s23"
N_FRAMES = 4


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    cfg = small_sim_config(seed=23, n_frames=N_FRAMES)
    simulate_chip(tmp_path / "raw" / CHIP, cfg)
    return tmp_path


def one_cell_per_well(store: Path) -> pd.DataFrame:
    """Masks with one disk per frame at each well's centre, tracked: the cell_tracks table."""
    for info in (i for i in list_well_movies(store) if i.cropped):
        y0, x0, y1, x1 = info.well_box_px
        size = int(np.ceil(max(y1, x1))) + 2
        yy, xx = np.mgrid[:size, :size]
        disk = (yy - (y0 + y1) / 2) ** 2 + (xx - (x0 + x1) / 2) ** 2 <= 36
        masks = np.broadcast_to(disk, (info.n_frames, 1, size, size)).copy()
        write_well_masks(store, info, masks, np.ones((info.n_frames, 1), np.float32))
    table, _ = chip_cell_tracks(store)
    return table


def test_cell_types_and_deaths(data_dir: Path) -> None:
    registry = FakeRegistry(chip_dir=str(data_dir / "raw" / CHIP),
                            versions={"celltype_classifier": 7, "apoptosis_classifier": 7})
    tables = data_dir / "tables"
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(chips.name, [CHIP])
        defs = dg.Definitions(
            assets=[raw_chip, well_grid, well_movies, well_detector, celltype_classifier, apoptosis_classifier,
                    cell_types, cell_deaths],
            resources={**build_resources(str(data_dir)), "registry": registry},
            jobs=[dg.define_asset_job("wells", selection=["raw_chip", "well_grid", "well_movies"]),
                  dg.define_asset_job("classify", selection=["cell_types", "cell_deaths"])])
        assert defs.resolve_job_def("wells").execute_in_process(partition_key=CHIP, instance=instance).success
        tracks = one_cell_per_well(data_dir / "zarr" / f"{CHIP}.zarr")
        tracks["chip_id"] = CHIP
        write_chip_table(tables, "cell_tracks", CHIP, tracks)
        result = defs.resolve_job_def("classify").execute_in_process(partition_key=CHIP, instance=instance)
        assert result.success

    types = pd.read_parquet(chip_table_path(tables, "cell_types", CHIP))
    deaths = pd.read_parquet(chip_table_path(tables, "cell_deaths", CHIP))
    n_tracks = tracks.groupby(["field_id", "row", "col", "track_id"]).ngroups
    assert n_tracks > 0 and len(types) == n_tracks
    assert {k: str(v) for k, v in types.dtypes.items()} == CELL_TYPE_COLUMNS
    assert {k: str(v) for k, v in deaths.dtypes.items()} == CELL_DEATH_COLUMNS
    assert len(deaths) == len(tracks) and (types.model_version == 7).all() and (deaths.model_version == 7).all()
    assert types.cell_type.isin(["effector", "target"]).all() and types.p_effector.between(0, 1).all()
    assert (types.n_frames == N_FRAMES).all()
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"every_track_typed": True, "deaths_irreversible": True}
    with duckdb.connect(str(data_dir / "lftiming.duckdb"), read_only=True) as con:
        assert con.sql("SELECT count(*) FROM cell_types").fetchall()[0][0] == n_tracks

    report = evaluate_classification(data_dir / "raw" / CHIP, tables, data_dir / "zarr" / f"{CHIP}.zarr")
    assert report["tracks"] == n_tracks and 0 < report["tracks_matched"] <= n_tracks
    overall = report["celltype"]["overall"]
    assert overall["n"] == report["tracks_matched"] and 0 <= overall["accuracy"] <= 1
    assert report["apoptosis"]["overall"]["death"]["n_tracks"] == report["tracks_matched"]
    assert report["celltype_model_version"] == 7 == report["apoptosis_model_version"]
    assert evaluate_classification(data_dir / "raw" / CHIP, data_dir / "nothing", data_dir / "zarr") is None


def test_train_and_register_then_load(tmp_path: Path) -> None:
    corpus = CLASSIFICATION_CORPUS.replace(presets=("standard",), n_chips=2, n_frames=4, target_mitosis_prob=None)
    for chip_id, preset, seed in corpus_chips(corpus):  # small fields, cached where train_and_register looks
        simulate_chip(tmp_path / "corpus" / chip_id, small_sim_config(preset, seed=seed, n_frames=4))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    info, history, _ = train_and_register(
        task="apoptosis", corpus=corpus, corpus_root=tmp_path / "corpus", tracking_uri=uri,
        artifact_location=(tmp_path / "artifacts").as_uri(),
        overrides={"profile": TINY, "epochs": 1, "batch_size": 64, "warmup_steps": 0, "device": "cpu"}, cv_folds=2)
    assert (info.name, info.version, info.alias) == ("apoptosis_classifier", 1, "champion")
    assert history[-1]["steps"] >= 1 and "val_accuracy" in history[-1]
    from mlflow import MlflowClient

    metrics = MlflowClient(tracking_uri=uri).get_run(info.run_id).data.metrics
    assert {"cv_fold0_val_accuracy", "cv_fold1_val_accuracy", "cv_val_accuracy_mean", "label_type_error"} <= set(metrics)
    classifier, loaded = load_classifier(tracking_uri=uri, model_name="apoptosis_classifier")
    assert loaded.run_id == info.run_id and classifier.task == "apoptosis" and classifier.profile == TINY
    # the death threshold is calibrated where the labels allow it, and the registered config carries it
    params = MlflowClient(tracking_uri=uri).get_run(info.run_id).data.params
    assert params["death_threshold_calibrated_on"] in {"none", "simulated-validation"}
    _, config, _ = load_by_alias(tracking_uri=uri, model_name="apoptosis_classifier")
    assert config["death_threshold"] == pytest.approx(metrics.get("death_threshold", 0.5))
    assert ("death_threshold" in metrics) == (params["death_threshold_calibrated_on"] != "none")
