"""Key columns shared by the per-chip tables (one definition for writers, joins and metrics)."""

WELL_KEYS = ["chip_id", "field_id", "row", "col"]
"""A well of a chip."""
PAIR_KEYS = [*WELL_KEYS, "effector_id", "target_id"]
"""An effector-target pair of a well (track ids)."""
TRACK_KEYS = [*WELL_KEYS, "track_id"]
"""A track of a well."""

__all__ = ["PAIR_KEYS", "TRACK_KEYS", "WELL_KEYS"]
