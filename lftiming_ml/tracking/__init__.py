"""Containment-constrained cell tracking for one nanowell movie (paper section 2.3).

The three steps of the paper, one module each, and the entry point that chains them:

- ``costs``: the Eq. 7 frame-to-frame link cost (pure functions).
- ``linking``: step 1, best-N Hungarian linking (run forward and backward) and count
  changes (mitosis, fragments); ``reconcile``: agreement and reconciliation of the passes.
- ``gaps``: step 2, minimum-velocity filling of missed detections.
- ``refine``: step 3, the Eq. 8 smoothness + fidelity refinement (CVXPY/OSQP) with the
  well walls as box constraints.
- ``tracker``: ``track_well``, detections of one well in, ``WellTracks`` out.
- ``appearance``: re-identification embeddings of the detections (Eq. 7's appearance term).
- ``chip``: every segmented well of a chip's store -> tracks, track masks and the table.

Detections and truth of a simulated well from its ground truth are
``lftiming_ml.evaluation.tracker_inputs``; scoring is ``lftiming_ml.evaluation.tracking``.

Coordinates are (y, x) in px of the well crop throughout; frames are integer indices.
"""

from lftiming_ml.tracking.config import TrackerParams
from lftiming_ml.tracking.tracker import track_well
from lftiming_ml.tracking.types import SOURCE_NAMES, WellFrameDetections, WellTracks

__all__ = ["SOURCE_NAMES", "TrackerParams", "WellFrameDetections", "WellTracks", "track_well"]
