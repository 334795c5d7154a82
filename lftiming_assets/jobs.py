"""Jobs: the per-chip pipeline (every chip-partitioned asset)."""

import dagster as dg

from lftiming_assets.raw.assets import raw_chip

CHIP_ASSETS = [raw_chip]

chip_pipeline = dg.define_asset_job(
    "chip_pipeline",
    selection=dg.AssetSelection.assets(*CHIP_ASSETS),
    description="Materialize every asset of one chip, from the raw folder on.",
)
