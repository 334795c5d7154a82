"""``celltype_classifier`` / ``apoptosis_classifier`` (CNN-LSTMs trained on simulated chips
with labels from fluorescence, registered in MLflow) and the per-chip ``cell_types`` and
``cell_deaths`` tables (phase channel + tracks only)."""

import time

import dagster as dg
import numpy as np

from lftiming_assets.annotations.assets import annotations
from lftiming_assets.config import params_metadata
from lftiming_assets.metadata import model_text
from lftiming_assets.models.config import TrainModelConfig
from lftiming_assets.models.results import registered_model_result
from lftiming_assets.partitions import chips
from lftiming_assets.resources import ChipTables, FieldWorkers, LftimingStorage, MLflowTracking, ModelRegistry, ZarrStore
from lftiming_assets.runs import step_label
from lftiming_ml.classification.config import CLASSIFICATION_CORPUS, ClassifierTask, train_config
from lftiming_ml.classification.serving import MODEL_NAMES, chip_cell_deaths, chip_cell_types
from lftiming_ml.classification.training import train_and_register


def _train(context: dg.AssetExecutionContext, task: ClassifierTask, config: TrainModelConfig,
           storage: LftimingStorage, mlflow: MLflowTracking) -> dg.MaterializeResult:
    """Recipe ``lftiming_ml.classification.config.ClassifierTrainConfig`` of ``config.profile``
    (the backbone is ``overrides: {profile: {backbone: resnet34}}``); ``cv_folds`` applies."""
    recipe, overrides = config.recipe(train_config(config.profile, task=task), cross_validates=True)
    corpus = config.corpus(CLASSIFICATION_CORPUS)
    labels = config.annotation_corpus()
    mlflow.configure(MODEL_NAMES[(task, "cnn_lstm")])
    info, history, seconds = train_and_register(
        task=task, corpus=corpus, corpus_root=storage.training_dir("classification") / "chips",
        tracking_uri=mlflow.tracking_uri, artifact_location=mlflow.artifact_location(), profile=config.profile,
        alias=config.alias, overrides=overrides, cv_folds=config.cv_folds, init=config.init, annotations=labels,
        layout=storage.layout,
        log_fn=lambda epoch, row: context.log.info(f"epoch {epoch}: loss {row.get('loss', float('nan')):.4f}, "
                                                   f"val AUROC {row.get('val_auroc', float('nan')):.3f}"))
    return registered_model_result(info, history, seconds, profile=config.profile, n_chips=corpus.n_chips,
                                   params=params_metadata(recipe), **config.finetune_metadata(labels))


@dg.asset(group_name="models", kinds={"pytorch", "mlflow"}, deps=[annotations])
def celltype_classifier(context: dg.AssetExecutionContext, config: TrainModelConfig, storage: LftimingStorage,
                        mlflow: MLflowTracking) -> dg.MaterializeResult:
    """CNN-LSTM effector vs target per track, registered as ``celltype_classifier``."""
    return _train(context, "celltype", config, storage, mlflow)


@dg.asset(group_name="models", kinds={"pytorch", "mlflow"}, deps=[annotations])
def apoptosis_classifier(context: dg.AssetExecutionContext, config: TrainModelConfig, storage: LftimingStorage,
                         mlflow: MLflowTracking) -> dg.MaterializeResult:
    """CNN-LSTM apoptotic probability per frame (monotonicity-penalised), registered as ``apoptosis_classifier``."""
    return _train(context, "apoptosis", config, storage, mlflow)


TRACK_COLUMNS = ["field_id", "row", "col", "track_id", "frame", "y", "x", "start_reason", "parent"]


@dg.asset(partitions_def=chips, group_name="classification", deps=["cell_tracks", celltype_classifier],
          kinds={"pytorch"}, check_specs=[dg.AssetCheckSpec("every_track_typed", asset="cell_types", partitions_def=chips, description=(
              "Every track of cell_tracks has exactly one type and a probability in [0, 1]."))])
def cell_types(context: dg.AssetExecutionContext, zarr_store: ZarrStore, registry: ModelRegistry,
               tables: ChipTables, workers: FieldWorkers) -> dg.MaterializeResult:
    """Effector or target per track (champion ``celltype_classifier``, phase channel only)."""
    chip_id = context.partition_key
    tracks = tables.read("cell_tracks", chip_id, columns=TRACK_COLUMNS)
    classifier, info = registry.classifier("celltype")
    start = time.perf_counter()
    with tables.commit(chip_id, what=step_label(context, "cell_types")):
        table = chip_cell_types(zarr_store.chip_store_path(chip_id), tracks, classifier, model_version=info.version,
                                pool=workers.pool())
        seconds = time.perf_counter() - start
        tables.write(chip_id, {"cell_types": table})
    n_tracks = tracks.groupby(["field_id", "row", "col", "track_id"]).ngroups
    keys = table[["field_id", "row", "col", "track_id"]]
    typed = len(table) == n_tracks and not keys.duplicated().any() and table["p_effector"].between(0, 1).all()
    return dg.MaterializeResult(
        metadata={"work_units": workers.pool().last_run, "tracks": len(table),
                  "effectors": int((table["cell_type"] == "effector").sum()),
                  "targets": int((table["cell_type"] == "target").sum()), "seconds": round(seconds, 1),
                  "model": model_text(info.name, info.version, info.alias)},
        check_results=[dg.AssetCheckResult(check_name="every_track_typed", passed=bool(typed), metadata={
            "tracks_in_cell_tracks": n_tracks, "typed_rows": len(table)})])


@dg.asset(partitions_def=chips, group_name="classification", deps=["cell_tracks", apoptosis_classifier],
          kinds={"pytorch"}, check_specs=[dg.AssetCheckSpec("deaths_irreversible", asset="cell_deaths", partitions_def=chips, description=(
              "Per track: p_apoptotic never decreases, death_frame is constant and apoptotic == frame >= death_frame."))])
def cell_deaths(context: dg.AssetExecutionContext, zarr_store: ZarrStore, registry: ModelRegistry,
                tables: ChipTables, workers: FieldWorkers) -> dg.MaterializeResult:
    """Per track and frame: monotone apoptotic probability and the death frame (champion
    ``apoptosis_classifier``, phase channel only)."""
    chip_id = context.partition_key
    tracks = tables.read("cell_tracks", chip_id, columns=TRACK_COLUMNS)
    classifier, info = registry.classifier("apoptosis")
    start = time.perf_counter()
    with tables.commit(chip_id, what=step_label(context, "cell_deaths")):
        table = chip_cell_deaths(zarr_store.chip_store_path(chip_id), tracks, classifier, model_version=info.version,
                                 pool=workers.pool())
        seconds = time.perf_counter() - start
        tables.write(chip_id, {"cell_deaths": table})
    per_track = table.sort_values("frame").groupby(["field_id", "row", "col", "track_id"])
    bad = [key for key, g in per_track if (np.diff(g["p_apoptotic"].to_numpy()) < -1e-9).any()
           or g["death_frame"].nunique(dropna=False) > 1
           or not (g["apoptotic"] == (g["frame"] >= g["death_frame"].fillna(np.iinfo(np.int64).max))).all()]
    deaths = table.drop_duplicates(["field_id", "row", "col", "track_id"])["death_frame"]
    return dg.MaterializeResult(
        metadata={"work_units": workers.pool().last_run, "tracks": int(per_track.ngroups), "track_frames": len(table),
                  "deaths": int(deaths.notna().sum()), "seconds": round(seconds, 1), "model": model_text(info.name, info.version, info.alias)},
        check_results=[dg.AssetCheckResult(check_name="deaths_irreversible", passed=not bad, metadata={
            "inconsistent_tracks": len(bad), "first": str(bad[:3])})])
