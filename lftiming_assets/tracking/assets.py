"""``reid_embedding`` (the re-identification model, trained on simulated chips and
registered in MLflow) and ``cell_tracks``: containment-constrained tracks of every segmented
well of a chip."""

import time

import dagster as dg

from lftiming_assets.annotations.assets import annotations
from lftiming_assets.config import params_config, params_metadata
from lftiming_assets.metadata import model_text, models_markdown
from lftiming_assets.models.config import TrainModelConfig
from lftiming_assets.models.results import registered_model_result
from lftiming_assets.partitions import chips
from lftiming_assets.runs import step_label
from lftiming_assets.resources import ChipTables, FieldWorkers, LftimingStorage, MLflowTracking, ModelRegistry, ZarrStore
from lftiming_assets.segmentation.assets import cell_masks
from lftiming_ml.classification.config import CLASSIFICATION_CORPUS
from lftiming_ml.tracking.chip import chip_cell_tracks
from lftiming_ml.tracking.config import TrackerParams
from lftiming_ml.reid.config import MODEL_NAME as REID_MODEL_NAME
from lftiming_ml.reid.config import reid_profile
from lftiming_ml.reid.training import train_and_register

TRACK_CHECKS = [
    dg.AssetCheckSpec("tracks_complete", asset="cell_tracks", partitions_def=chips, description=(
        "Every track spans the movie from its start, or ends for a recorded reason (merged, lost, fragment).")),
    dg.AssetCheckSpec("centroids_inside_wells", asset="cell_tracks", partitions_def=chips, description=(
        "No track centroid is NaN or lies outside its well.")),
]


TrackerConfig = params_config(TrackerParams)


@dg.asset(group_name="models", kinds={"pytorch", "mlflow"}, deps=[annotations])
def reid_embedding(context: dg.AssetExecutionContext, config: TrainModelConfig, storage: LftimingStorage,
                   mlflow: MLflowTracking) -> dg.MaterializeResult:
    """Appearance embedding of a cell's phase patch (supervised contrastive, true cell ids of
    simulated chips), registered as ``reid_embedding``: the tracker's re-identification cue.
    Recipe ``lftiming_ml.reid.config.ReidProfile``; trains for ``time_budget_min`` (its
    ``train_seconds``), not for epochs; the corpus is the classifiers' (shared cache)."""
    recipe, overrides = config.recipe(reid_profile(config.profile), epochs_field=None, budget_field="train_seconds",
                                      budget_per_min=60.0)
    corpus = config.corpus(CLASSIFICATION_CORPUS)
    labels = config.annotation_corpus()
    mlflow.configure(REID_MODEL_NAME)
    info, history, seconds = train_and_register(
        corpus=corpus, corpus_root=storage.training_dir("classification") / "chips",
        tracking_uri=mlflow.tracking_uri, artifact_location=mlflow.artifact_location(), profile=config.profile,
        alias=config.alias, overrides=overrides, init=config.init, annotations=labels, layout=storage.layout,
        log_fn=lambda step, row: context.log.info(f"step {step}: loss {row['loss']:.3f}") if step % 200 == 0 else None)
    return registered_model_result(info, history, seconds, profile=config.profile, n_chips=corpus.n_chips,
                                   params=params_metadata(recipe), **config.finetune_metadata(labels))


@dg.asset(partitions_def=chips, group_name="tracking", deps=[cell_masks, reid_embedding],
          kinds={"scipy", "cvxpy", "zarr", "pytorch"}, check_specs=TRACK_CHECKS)
def cell_tracks(context: dg.AssetExecutionContext, config: TrackerConfig, zarr_store: ZarrStore,
                registry: ModelRegistry, tables: ChipTables, workers: FieldWorkers) -> dg.MaterializeResult:
    """Per well: N from the containment constraint, Eq. 7 Hungarian linking forward and
    backward with a beam of association hypotheses (and the champion ``reid_embedding``'s
    appearance term; static debris kept out, its count in ``debris_objects``), minimum-velocity gap
    filling, CVXPY/OSQP refinement inside the well walls. Config: ``TrackerParams``."""
    chip_id = context.partition_key
    params = config.to_params()
    masks = tables.read("cell_masks", chip_id, columns=["model_version"])
    segmenter_version = int(masks["model_version"].iloc[0]) if len(masks) else -1
    reid, reid_info = registry.reid()
    start = time.perf_counter()
    with tables.commit(chip_id, what=step_label(context, "cell_tracks")):  # Zarr tracks and table at once
        table, wells = chip_cell_tracks(zarr_store.chip_store_path(chip_id), params, reid=reid, pool=workers.pool(),
                                        attrs={"segmenter_version": segmenter_version,
                                               "reid_version": reid_info.version})
        seconds = time.perf_counter() - start
        table["model_version"] = segmenter_version
        table["reid_version"] = reid_info.version
        tables.write(chip_id, {"cell_tracks": table})
    steps = {k: round(sum(w.step_ms.get(k, 0.0) for w in wells) / max(len(wells), 1), 1) for k in ("link", "fill", "refine")}
    unexplained, outside, non_finite = (sum(getattr(w, a) for w in wells) for a in ("unexplained_ends", "outside", "non_finite"))
    per_source = table["source"].value_counts().to_dict()
    return dg.MaterializeResult(
        metadata={"work_units": workers.pool().last_run, "wells": len(wells),
                  "tracks": int(table.groupby(["field_id", "row", "col", "track_id"]).ngroups),
                  "track_frames": len(table), "interpolated_frames": int(per_source.get("interpolated", 0)),
                  "debris_objects": sum(w.debris for w in wells),
                  "forward_backward_agreement": round(float(table["fb_agree"].mean()), 4) if len(table) else 1.0,
                  "seconds": round(seconds, 1), **{f"ms_per_well_{k}": v for k, v in steps.items()},
                  "models": models_markdown({"segmentation (the masks tracked)": ("locsnet", segmenter_version),
                                             "re-identification": (reid_info.name, reid_info.version)}),
                  "reid_model": model_text(reid_info.name, reid_info.version, reid_info.alias),
                  "params": params_metadata(params)},
        check_results=[
            dg.AssetCheckResult(check_name="tracks_complete", passed=unexplained == 0,
                                metadata={"tracks_ending_without_reason": unexplained}),
            dg.AssetCheckResult(check_name="centroids_inside_wells", passed=outside + non_finite == 0,
                                metadata={"outside": outside, "non_finite": non_finite}),
        ])
