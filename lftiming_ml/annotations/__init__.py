"""Curated per-well labels and their exchange with other tools (no Dagster, no ground truth).

- ``schema``: ``WellAnnotation`` (masks per track and frame, cell type, death frame, parent),
  each label's ``LabelSource`` (provenance ``human:<name>`` | ``fluorescence`` |
  ``model:<name>@<version>`` | ``simulator``, and time); content hash.
- ``grid``: a field's well grid given by hand (``FieldGridLabel``: three corner wells ->
  every well box), its checks; the store keeps it per field beside the well records.
- ``validate``: every check of incoming labels; ``AnnotationError`` names the file and problem.
- ``records``: a record on disk; ``store``: the chip's versioned store (content-addressed
  records, a manifest per version, ``current.json``, a lock for writers).
- ``labels``: overlapping masks <-> flat label images (the flattening rule, CTC segments).
- ``ctc``, ``napari``: the two exchange layouts; ``exchange``: export and import of wells
  (what keeps its provenance on import).
- ``sources``: records from the pipeline's outputs. The simulator's truth as records is
  ``lftiming_ml.truth.annotations``.
"""

from lftiming_ml.annotations.schema import LabelSource, TrackLabel, WellAnnotation
from lftiming_ml.annotations.store import AnnotationManifest, WriteResult, read_manifest, read_well, write_wells
from lftiming_ml.annotations.validate import AnnotationError

__all__ = ["AnnotationError", "AnnotationManifest", "LabelSource", "TrackLabel", "WellAnnotation", "WriteResult",
           "read_manifest", "read_well", "write_wells"]
