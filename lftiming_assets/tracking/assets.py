"""``reid_embedding`` (the re-identification model, trained on simulated chips and
registered in MLflow) and ``cell_tracks``: containment-constrained tracks of every segmented
well of a chip."""

import time

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from lftiming_assets.models.results import registered_model_result
from lftiming_assets.partitions import chips
from lftiming_assets.resources import LftimingStorage, MLflowTracking, ZarrStore, refresh_views
from lftiming_assets.segmentation.assets import cell_masks
from lftiming_ml.classification.config import CLASSIFICATION_CORPUS
from lftiming_ml.reid.config import MODEL_NAME as REID_MODEL_NAME
from lftiming_ml.reid.serving import load_reid, train_and_register
from lftiming_ml.store.tables import chip_table_path, write_chip_table
from lftiming_ml.tracking.chip import chip_cell_tracks
from lftiming_ml.tracking.config import TrackerParams

TRACK_CHECKS = [
    dg.AssetCheckSpec("tracks_complete", asset="cell_tracks", description=(
        "Every track spans the movie from its start, or ends for a recorded reason (merged, lost, fragment).")),
    dg.AssetCheckSpec("centroids_inside_wells", asset="cell_tracks", description=(
        "No track centroid is NaN or lies outside its well.")),
]


class ReidConfig(dg.Config):
    """What to train; the recipe is ``lftiming_ml.reid.config.PROFILES``."""

    profile: str = "cpu"
    n_chips: int = 4  # the classifiers' simulated corpus (shared cache); the last quarter validates
    train_seconds: float | None = None  # default: the profile's budget
    alias: str = "champion"


@dg.asset(group_name="models", kinds={"pytorch", "mlflow"})
def reid_embedding(context: dg.AssetExecutionContext, config: ReidConfig, storage: LftimingStorage,
                   mlflow: MLflowTracking) -> dg.MaterializeResult:
    """Appearance embedding of a cell's phase patch (supervised contrastive, true cell ids of
    simulated chips), registered as ``reid_embedding``: the tracker's re-identification cue."""
    mlflow.configure(REID_MODEL_NAME)
    overrides = {"train_seconds": config.train_seconds} if config.train_seconds else {}
    info, history, seconds = train_and_register(
        corpus=CLASSIFICATION_CORPUS.replace(n_chips=config.n_chips),
        corpus_root=storage.root / "training" / "classification" / "chips", tracking_uri=mlflow.tracking_uri,
        artifact_location=mlflow.artifact_location(), profile=config.profile, alias=config.alias, overrides=overrides,
        log_fn=lambda step, row: context.log.info(f"step {step}: loss {row['loss']:.3f}") if step % 200 == 0 else None)
    return registered_model_result(info, history, seconds, profile=config.profile, n_chips=config.n_chips)


@dg.asset(partitions_def=chips, group_name="tracking", deps=[cell_masks, reid_embedding],
          kinds={"scipy", "cvxpy", "zarr", "pytorch"}, check_specs=TRACK_CHECKS)
def cell_tracks(context: dg.AssetExecutionContext, storage: LftimingStorage, zarr_store: ZarrStore,
                mlflow: MLflowTracking, duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Per well: N from the containment constraint, Eq. 7 Hungarian linking forward and
    backward with a beam of association hypotheses (and the champion ``reid_embedding``'s
    appearance term), minimum-velocity gap
    filling, CVXPY/OSQP refinement inside the well walls."""
    chip_id = context.partition_key
    masks = pd.read_parquet(chip_table_path(storage.tables_dir, "cell_masks", chip_id), columns=["model_version"])
    segmenter_version = int(masks["model_version"].iloc[0]) if len(masks) else -1
    reid, reid_info = load_reid(tracking_uri=mlflow.tracking_uri)
    params = TrackerParams()
    start = time.perf_counter()
    table, wells = chip_cell_tracks(zarr_store.chip_store_path(chip_id), params, reid=reid,
                                    attrs={"segmenter_version": segmenter_version, "reid_version": reid_info.version})
    seconds = time.perf_counter() - start
    table["model_version"] = segmenter_version
    table["reid_version"] = reid_info.version
    write_chip_table(storage.tables_dir, "cell_tracks", chip_id, table)
    refresh_views(duckdb, storage)
    steps = {k: round(sum(w.step_ms.get(k, 0.0) for w in wells) / max(len(wells), 1), 1) for k in ("link", "fill", "refine")}
    unexplained, outside, non_finite = (sum(getattr(w, a) for w in wells) for a in ("unexplained_ends", "outside", "non_finite"))
    per_source = table["source"].value_counts().to_dict()
    return dg.MaterializeResult(
        metadata={"wells": len(wells), "tracks": int(table.groupby(["field_id", "row", "col", "track_id"]).ngroups),
                  "track_frames": len(table), "interpolated_frames": int(per_source.get("interpolated", 0)),
                  "forward_backward_agreement": round(float(table["fb_agree"].mean()), 4) if len(table) else 1.0,
                  "seconds": round(seconds, 1), **{f"ms_per_well_{k}": v for k, v in steps.items()},
                  "segmenter_version": segmenter_version, "reid_version": reid_info.version,
                  "reid_model": f"{reid_info.name} v{reid_info.version} ({reid_info.alias})"},
        check_results=[
            dg.AssetCheckResult(check_name="tracks_complete", passed=unexplained == 0,
                                metadata={"tracks_ending_without_reason": unexplained}),
            dg.AssetCheckResult(check_name="centroids_inside_wells", passed=outside + non_finite == 0,
                                metadata={"outside": outside, "non_finite": non_finite}),
        ])
