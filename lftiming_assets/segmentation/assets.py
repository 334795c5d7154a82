"""``locsnet`` / ``mask_rcnn_baseline`` (trained on a simulated corpus, registered in MLflow)
and ``cell_masks`` (per well, per frame amodal instance masks + the per-cell table)."""

import time

import dagster as dg

from lftiming_assets.annotations.assets import annotations
from lftiming_assets.config import params_metadata
from lftiming_assets.metadata import model_text
from lftiming_assets.models.config import TrainModelConfig
from lftiming_assets.models.results import registered_model_result
from lftiming_assets.partitions import chips
from lftiming_assets.runs import step_label
from lftiming_assets.resources import ChipTables, FieldWorkers, LftimingStorage, MLflowTracking, ModelRegistry, ZarrStore
from lftiming_assets.wells.assets import well_movies
from lftiming_ml.segmentation.config import SEGMENTATION_CORPUS, SegmenterKind, train_config
from lftiming_ml.segmentation.serving import MODEL_NAMES, chip_cell_masks
from lftiming_ml.segmentation.training import train_and_register

MAX_EMPTY_FRACTION = 0.05


def _train(context: dg.AssetExecutionContext, kind: SegmenterKind, config: TrainModelConfig,
           storage: LftimingStorage, mlflow: MLflowTracking) -> dg.MaterializeResult:
    """Recipe ``lftiming_ml.segmentation.config.SegmenterTrainConfig`` of ``config.profile``."""
    recipe, overrides = config.recipe(train_config(config.profile, kind=kind))
    corpus = config.corpus(SEGMENTATION_CORPUS)
    labels = config.annotation_corpus()
    mlflow.configure(MODEL_NAMES[kind])
    info, history, seconds = train_and_register(
        kind=kind, corpus=corpus, corpus_root=storage.training_dir("segmentation") / "chips",
        tracking_uri=mlflow.tracking_uri, artifact_location=mlflow.artifact_location(), profile=config.profile,
        alias=config.alias, overrides=overrides, init=config.init, annotations=labels, layout=storage.layout,
        log_fn=lambda epoch, row: context.log.info(f"epoch {epoch}: loss {row.get('loss', float('nan')):.4f}, "
                                                   f"val mIoU {row.get('val_miou', float('nan')):.3f}"))
    return registered_model_result(info, history, seconds, profile=config.profile, n_chips=corpus.n_chips,
                                   params=params_metadata(recipe), **config.finetune_metadata(labels))


@dg.asset(group_name="models", kinds={"pytorch", "mlflow"}, deps=[annotations])
def locsnet(context: dg.AssetExecutionContext, config: TrainModelConfig, storage: LftimingStorage,
            mlflow: MLflowTracking) -> dg.MaterializeResult:
    """LOCSNET (Mask R-CNN + fused overlap/complement heads), registered as ``locsnet``."""
    return _train(context, "locsnet", config, storage, mlflow)


@dg.asset(group_name="models", kinds={"pytorch", "mlflow"}, deps=[annotations])
def mask_rcnn_baseline(context: dg.AssetExecutionContext, config: TrainModelConfig, storage: LftimingStorage,
                       mlflow: MLflowTracking) -> dg.MaterializeResult:
    """Plain Mask R-CNN from the same builder, registered as ``mask_rcnn_baseline``."""
    return _train(context, "mask_rcnn", config, storage, mlflow)


@dg.asset(partitions_def=chips, group_name="segmentation", deps=[well_movies, locsnet], kinds={"pytorch", "zarr"},
          check_specs=[dg.AssetCheckSpec("no_empty_occupied_wells", asset="cell_masks", partitions_def=chips, description=(
              f"Fewer than {MAX_EMPTY_FRACTION:.0%} of the occupied wells' frames have no cell instance."))])
def cell_masks(context: dg.AssetExecutionContext, zarr_store: ZarrStore, registry: ModelRegistry,
               tables: ChipTables, workers: FieldWorkers) -> dg.MaterializeResult:
    """Amodal instance masks per well and frame (champion ``locsnet``) and the per-cell table;
    one work unit per field, run by the ``workers`` pool."""
    chip_id = context.partition_key
    source, info = registry.segmenter("locsnet")
    start = time.perf_counter()
    with tables.commit(chip_id, what=step_label(context, "cell_masks")):  # Zarr masks and table at once
        cells, wells = chip_cell_masks(zarr_store.chip_store_path(chip_id), source, pool=workers.pool(),
                                       attrs={"model": f"{info.name} v{info.version} ({info.alias})"})
        seconds = time.perf_counter() - start
        cells["model_version"] = info.version
        tables.write(chip_id, {"cell_masks": cells})
    well_frames = sum(w.n_frames for w in wells)
    empty = sum(w.empty_frames for w in wells)
    empty_fraction = empty / well_frames if well_frames else 0.0
    return dg.MaterializeResult(
        metadata={"work_units": workers.pool().last_run, "cells": len(cells), "wells": len(wells),
                  "well_frames": well_frames,
                  "well_frames_per_s": round(well_frames / max(seconds, 1e-9), 2),
                  "model": model_text(info.name, info.version, info.alias)},
        check_results=[dg.AssetCheckResult(
            check_name="no_empty_occupied_wells", passed=empty_fraction < MAX_EMPTY_FRACTION,
            metadata={"empty_well_frames": empty, "well_frames": well_frames,
                      "empty_fraction": round(empty_fraction, 4),
                      "hint": "the champion locsnet misses cells in occupied wells: retrain it on a larger "
                              "corpus (n_chips) or longer, or check the well crops in napari"})],
    )
