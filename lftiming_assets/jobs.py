"""Jobs: the per-chip pipeline (every chip-partitioned asset)."""

import dagster as dg

from lftiming_assets.models.assets import well_detector
from lftiming_assets.raw.assets import raw_chip
from lftiming_assets.wells.assets import well_grid, well_movies

CHIP_ASSETS = [raw_chip, well_grid, well_movies]
MODEL_ASSETS = [well_detector]

chip_pipeline = dg.define_asset_job(
    "chip_pipeline",
    selection=dg.AssetSelection.assets(*CHIP_ASSETS),
    description="Materialize every asset of one chip, from the raw folder on.",
)

train_models = dg.define_asset_job(
    "train_models",
    selection=dg.AssetSelection.assets(*MODEL_ASSETS),
    description="Train the models on simulated chips and register them in MLflow (alias champion).",
)
