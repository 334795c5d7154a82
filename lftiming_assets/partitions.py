"""Partitions: one per chip, added when a chip folder appears under ``data/raw/``."""

import dagster as dg

chips = dg.DynamicPartitionsDefinition(name="chips")
