"""Jobs: the per-chip pipeline, re-running what follows segmentation, model training, and the
annotations summary."""

import dagster as dg

from lftiming_assets.annotations.assets import annotations
from lftiming_assets.classification.assets import apoptosis_classifier, cell_deaths, cell_types, celltype_classifier
from lftiming_assets.interactions.assets import interactions
from lftiming_assets.models.assets import well_detector
from lftiming_assets.qa.assets import qa_report
from lftiming_assets.raw.assets import raw_chip
from lftiming_assets.review.assets import review_queue
from lftiming_assets.segmentation.assets import cell_masks, locsnet, mask_rcnn_baseline
from lftiming_assets.tracking.assets import cell_tracks, reid_embedding
from lftiming_assets.wells.assets import well_grid, well_movies

WELL_ASSETS = [raw_chip, well_grid, well_movies]
# Need champion models (`lftiming train <model>`; the demo trains them on its first run).
CELL_ASSETS = [cell_masks, cell_tracks, cell_types, cell_deaths, interactions,  # interactions: contacts, well_outcomes, killing_kinetics
               review_queue, qa_report]  # qa_report: the chip's HTML report, after the outcomes
CHIP_ASSETS = [*WELL_ASSETS, *CELL_ASSETS]
ANNOTATION_ASSETS = [annotations]  # read the annotations store; written by `lftiming annotate` / `import`
MODEL_ASSETS = [well_detector, locsnet, mask_rcnn_baseline, reid_embedding, celltype_classifier, apoptosis_classifier]

JOB_MODELS: dict[str, list[str]] = {
    "chip_pipeline": ["well_detector", "locsnet", "reid_embedding", "celltype_classifier", "apoptosis_classifier"],
    "segment_chips": ["locsnet", "reid_embedding", "celltype_classifier", "apoptosis_classifier"],
}
"""Registered models (alias ``champion``) each per-chip job loads; ``lftiming run`` checks
them all before it starts and names every missing one."""

# A chip's steps run one after the other in the run's own process, as ``lftiming run`` runs them.
# Dagster's default (multiprocess) executor starts a Python process for every step, and each
# imports torch, MLflow and this code location again: a launched run of a 1-field, 6-frame chip
# took 132-153 s, of which its steps ran about 40 (benchmarks/dagster_backfill.py). Chips run
# side by side as separate runs instead (dagster.yaml, max_concurrent_runs).
CHIP_EXECUTOR = dg.in_process_executor

chip_pipeline = dg.define_asset_job(
    "chip_pipeline",
    executor_def=CHIP_EXECUTOR,
    selection=dg.AssetSelection.assets(*CHIP_ASSETS),
    description="Materialize every asset of one chip, from the raw folder to the review queue (needs champion models).",
)

segment_chips = dg.define_asset_job(
    "segment_chips",
    executor_def=CHIP_EXECUTOR,
    selection=dg.AssetSelection.assets(*CELL_ASSETS),
    description="Cell masks (champion LOCSNET) and everything downstream of them, for chips whose well "
                "movies exist: backfill it after registering a new LOCSNET version.",
)

train_models = dg.define_asset_job(
    "train_models",
    executor_def=dg.multiprocess_executor,  # models train side by side; a start-up is nothing beside minutes
    selection=dg.AssetSelection.assets(*MODEL_ASSETS),
    description="Train the models on simulated chips and register them in MLflow (alias champion).",
)

summarize_annotations = dg.define_asset_job(
    "summarize_annotations",
    selection=dg.AssetSelection.assets(*ANNOTATION_ASSETS),
    description="Read each chip's annotations store (after `lftiming annotate` or `lftiming import`): its "
                "version, wells annotated, labels by provenance, and the annotations table.",
)
