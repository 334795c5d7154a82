"""The re-identification term of Eq. 7: embeddings keep two look-alike runners apart."""

from __future__ import annotations

import numpy as np
import pytest

from lftiming_ml.metrics import mota
from lftiming_ml.tracking import TrackerParams, WellFrameDetections, track_well
from synthetic_wells import CROSSING_BOX as BOX, crossing_runners


@pytest.mark.parametrize("steps", ["linker", "all"])
def test_appearance_keeps_identities_where_motion_swaps_them(steps: str) -> None:
    params = TrackerParams(reconcile=False, refine=False) if steps == "linker" else TrackerParams()
    without, truth = crossing_runners(with_embeddings=False)
    with_emb, _ = crossing_runners(with_embeddings=True)
    assert mota(truth, track_well(without, BOX, params).positions, 3.0).n_id_switches > 0  # the test bites
    assert mota(truth, track_well(with_emb, BOX, params).positions, 3.0).n_id_switches == 0
    off = params.model_copy(update={"w_appearance": 0.0})
    assert mota(truth, track_well(with_emb, BOX, off).positions, 3.0).n_id_switches > 0


def test_embeddings_must_match_detections() -> None:
    with pytest.raises(ValueError, match="2 centroids but 3 embeddings"):
        WellFrameDetections(centroids=np.zeros((2, 2)), areas=np.ones(2), embeddings=np.zeros((3, 4)))
