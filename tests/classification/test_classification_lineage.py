"""Lineage-consistent cell types: parent links from both track sources, the union-find
lineages of a well, the pooled probability, and the ``cell_types`` table built from them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lftiming_ml.classification.config import ClassifierProfile
from lftiming_ml.classification.sequences import TrackSequence, well_track_sequences
from lftiming_ml.classification.engine import TrackPrediction
from lftiming_ml.classification.postprocess import LOGIT_CLIP, lineage_cell_types, lineage_ids, pool_lineages
from lftiming_ml.classification.serving import CELL_TYPE_COLUMNS, cell_types_table

WELL = {"chip_id": "c", "field_id": "f000", "row": 1, "col": 2}


def well_tracks(rows: list[tuple[int, int, float, int]], **well: object) -> pd.DataFrame:
    """Tracks of one well from (track_id, parent, p_effector, n_frames)."""
    return pd.DataFrame([{**WELL, **well, "track_id": t, "parent": p, "p_effector": s, "n_frames": n}
                         for t, p, s, n in rows])


def logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


def test_daughter_gets_the_mothers_type_and_unrelated_tracks_keep_theirs() -> None:
    # mother: a confident target over 60 frames; daughter (short, effector-sized) alone would be an effector
    tracks = well_tracks([(0, -1, 0.1, 60), (1, 0, 0.8, 10), (2, -1, 0.9, 40), (3, -1, 0.2, 40)])
    out = lineage_cell_types(tracks)
    expected = 1 / (1 + np.exp(-(60 * logit(0.1) + 10 * logit(0.8)) / 70))
    assert out["p_lineage"].iloc[:2].tolist() == pytest.approx([expected, expected])
    assert out["effector"].tolist() == [False, False, True, False]
    assert out["lineage_id"].tolist() == [0, 0, 2, 3]
    assert out["p_lineage"].iloc[2:].tolist() == [0.9, 0.2]  # alone: own probability, exactly
    assert (out.index == tracks.index).all()


def test_parent_minus_one_is_its_own_lineage_and_wells_do_not_mix() -> None:
    # track 1 of another well names parent 0, but track 0 of THIS well is not its mother
    tracks = pd.concat([well_tracks([(0, -1, 0.05, 50), (1, -1, 0.95, 50)]),
                        well_tracks([(1, 0, 0.95, 50)], col=3)], ignore_index=True)
    out = lineage_cell_types(tracks)
    assert out["lineage_id"].tolist() == [0, 1, 1]
    assert out["effector"].tolist() == [False, True, True]
    assert out["p_lineage"].tolist() == tracks["p_effector"].tolist()


def test_chain_and_siblings_join_one_lineage_in_any_row_order() -> None:
    # 0 -> 1 -> 2 (grand-daughter), 0 -> 3 (sibling of 1); listed daughters first
    tracks = well_tracks([(2, 1, 0.9, 5), (3, 0, 0.7, 20), (1, 0, 0.6, 10), (0, -1, 0.02, 30)])
    out = lineage_cell_types(tracks)
    assert out["lineage_id"].tolist() == [0, 0, 0, 0]
    weights, probs = np.array([5, 20, 10, 30]), np.array([0.9, 0.7, 0.6, 0.02])
    expected = 1 / (1 + np.exp(-(weights * np.log(probs / (1 - probs))).sum() / weights.sum()))
    assert out["p_lineage"].to_numpy() == pytest.approx(np.full(4, expected))
    assert not out["effector"].any()


def test_parent_not_in_the_well_does_not_crash() -> None:
    tracks = well_tracks([(0, 7, 0.3, 10), (1, 0, 0.9, 10)])
    out = lineage_cell_types(tracks)
    assert out["lineage_id"].tolist() == [0, 0]
    assert lineage_cell_types(tracks.iloc[:0]).empty


def test_a_track_listed_twice_is_an_error() -> None:
    with pytest.raises(ValueError, match="more than one row"):
        lineage_ids(well_tracks([(0, -1, 0.3, 10), (0, -1, 0.3, 10)]))


def test_pooling_clips_certain_probabilities_and_linear_pools_votes() -> None:
    groups = np.array([0, 0, 1])
    logit_pooled = pool_lineages(groups, np.array([1.0, 0.0, 1.0]), np.array([3, 1, 5]))
    clipped = 1 / (1 + np.exp(-(3 * logit(1 - LOGIT_CLIP) + logit(LOGIT_CLIP)) / 4))
    assert logit_pooled.tolist() == pytest.approx([clipped, clipped, 1.0])
    # vote shares: 2 of 10 frames + 9 of 10 frames -> 11 of 20 frames vote effector
    votes = pool_lineages(groups, np.array([0.2, 0.9, 0.0]), np.array([10, 10, 4]), pooling="linear")
    assert votes.tolist() == pytest.approx([0.55, 0.55, 0.0])
    with pytest.raises(ValueError, match="unknown pooling"):
        pool_lineages(groups, np.zeros(3), np.ones(3), pooling="median")  # type: ignore[arg-type]


def sequence(track_id: int, parent: int, n: int) -> TrackSequence:
    return TrackSequence(frames=np.arange(n), phase=np.zeros((n, 4, 4), np.float16), mask=np.zeros((n, 4, 4), bool),
                         motion=np.zeros((n, 5), np.float32), centroids=np.zeros((n, 2)),
                         meta={**WELL, "track_id": track_id, "parent": parent})


def test_cell_types_table_is_lineage_consistent_and_keeps_the_track_probability() -> None:
    seqs = [sequence(0, -1, 60), sequence(1, 0, 10), sequence(2, -1, 30)]
    preds = [TrackPrediction(np.zeros(len(s)), p, p >= 0.5) for s, p in zip(seqs, (0.1, 0.8, 0.7))]
    table = cell_types_table(seqs, preds, model_version=3)
    assert {k: str(v) for k, v in table.dtypes.items()} == CELL_TYPE_COLUMNS
    assert table["cell_type"].tolist() == ["target", "target", "effector"]
    assert table["p_effector_track"].tolist() == [0.1, 0.8, 0.7]
    assert table["lineage_id"].tolist() == [0, 0, 2] and table["p_effector"].iloc[2] == 0.7
    assert table["p_effector"].iloc[0] == table["p_effector"].iloc[1] < 0.5
    empty = cell_types_table([], [], model_version=3)
    assert empty.empty and {k: str(v) for k, v in empty.dtypes.items()} == CELL_TYPE_COLUMNS


def test_cell_types_table_pools_frame_cnn_votes_as_one_majority_vote() -> None:
    seqs = [sequence(0, -1, 10), sequence(1, 0, 30)]
    # mother: 4 of 10 frames vote effector, daughter 20 of 30: 24 of 40 frames -> effector
    preds = [TrackPrediction(np.zeros(10), 0.45, False, vote_share=0.4),
             TrackPrediction(np.zeros(30), 0.6, True, vote_share=20 / 30)]
    table = cell_types_table(seqs, preds, model_version=1)
    assert table["cell_type"].tolist() == ["effector", "effector"]
    assert table["p_effector"].tolist() == pytest.approx([0.6, 0.6])
    assert table["p_effector_track"].tolist() == [0.45, 0.6]
    with pytest.raises(ValueError, match="mix"):
        cell_types_table(seqs, [preds[0], TrackPrediction(np.zeros(30), 0.6, True)], model_version=1)


def test_pipeline_tracks_carry_the_parent_of_mitosis_and_fragment_starts_only() -> None:
    n, size = 4, 24
    phase = np.full((n, size, size), 1000, np.uint16)
    masks = np.zeros((n, 4, size, size), bool)
    masks[:, :, 8:14, 8:14] = True
    reasons = {0: ("movie_start", -1), 1: ("mitosis", 0), 2: ("fragment", 0), 3: ("appeared", 0)}
    rows = pd.DataFrame([{"track_id": k, "frame": t, "y": 11.0, "x": 11.0, "start_reason": r, "parent": p}
                         for k, (r, p) in reasons.items() for t in range(n)])
    profile = ClassifierProfile(patch_size=8, input_size=8)
    seqs = well_track_sequences(phase, masks, rows, profile=profile, um_per_px=0.65, frame_interval_min=5)
    assert [s.meta["parent"] for s in seqs] == [-1, 0, 0, -1]
    bare = well_track_sequences(phase, masks, rows.drop(columns=["start_reason", "parent"]), profile=profile,
                                um_per_px=0.65, frame_interval_min=5)
    assert [s.meta["parent"] for s in bare] == [-1, -1, -1, -1]
