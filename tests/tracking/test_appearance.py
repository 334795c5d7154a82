"""The re-identification term of Eq. 7: embeddings keep two look-alike runners apart."""

from __future__ import annotations

import numpy as np
import pytest

from lftiming_ml.metrics import mota
from lftiming_ml.tracking import TrackerParams, WellFrameDetections, track_well

BOX = (4.0, 4.0, 81.0, 81.0)


def crossing_runners(with_embeddings: bool) -> tuple[list[WellFrameDetections], np.ndarray]:
    """Two cells of one size run ~25 px per frame on y = 30 and y = 50; at frame 4 each lands
    2 px from where the other was: position and velocity both say 'swap'. Cell a looks like
    e_a, cell b like e_b (orthogonal unit vectors) in every frame."""
    a_x = [10.0, 35.0, 12.0, 38.0, 62.0, 40.0, 66.0]
    b_x = [70.0, 45.0, 68.0, 42.0, 14.0, 38.0, 12.0]
    a_y = [30.0, 32.0, 30.0, 33.0, 48.0, 30.0, 32.0]
    b_y = [50.0, 48.0, 50.0, 47.0, 32.0, 50.0, 48.0]
    truth = np.stack([np.stack([a_y, a_x], 1), np.stack([b_y, b_x], 1)], 1)  # [T, 2, 2]
    emb = np.eye(2, 8)
    dets = []
    for t in range(len(a_x)):
        order = [1, 0] if t % 2 else [0, 1]
        dets.append(WellFrameDetections(centroids=truth[t, order], areas=np.full(2, np.pi * 36.0),
                                        embeddings=emb[order] if with_embeddings else None))
    return dets, truth


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
