"""Partitions: one per chip, added when a chip folder appears under ``data/raw/``."""

import warnings

import dagster as dg

chips = dg.DynamicPartitionsDefinition(name="chips")

# The chip assets' checks carry ``partitions_def=chips`` so that each evaluation belongs to its
# chip; Dagster 1.13 marks that preview and would warn once per check whenever the code loads.
# Only that warning is silenced.
warnings.filterwarnings("ignore", message="Specifying a partitions_def on an AssetCheckSpec",
                        category=dg.PreviewWarning)
