"""Raw-chip contract (``manifest``), strict reader (``reader``) and writer (``writer``)."""

from lftiming_ml.chip.manifest import MANIFEST_NAME, Channel, ChannelRole, ChipManifest, FieldOfView, WellLayout
from lftiming_ml.chip.reader import ChipValidationError, read_manifest, read_stack, validate_chip

__all__ = [
    "MANIFEST_NAME",
    "Channel",
    "ChannelRole",
    "ChipManifest",
    "ChipValidationError",
    "FieldOfView",
    "WellLayout",
    "read_manifest",
    "read_stack",
    "validate_chip",
]
